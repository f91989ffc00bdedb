// The two-way pipe between a client and an upstream: backpressure through pipe() (a slow reader
// pauses the fast writer, nothing piles up in memory), half-close passed on (FIN one way keeps the
// other way open), an idle timeout, and the byte counts for stats and logs.
import type { Socket } from 'node:net';
import { classify, ProxyError } from './errors.js';

export interface RelayResult {
  /** bytes client → upstream */
  up: number;
  /** bytes upstream → client */
  down: number;
  error?: ProxyError;
}

export function relay(client: Socket, upstream: Socket, idle: IdleWatch): Promise<RelayResult> {
  const upStart = upstream.bytesWritten;
  const downStart = client.bytesWritten;
  return new Promise((resolve) => {
    let error: ProxyError | undefined;
    let open = 2;
    const abort = (err: ProxyError) => {
      error ??= err;
      client.destroy();
      upstream.destroy();
    };
    const unwatch = idle.watch(client, upstream, () => abort(new ProxyError('timeout', `idle for ${idle.ms} ms`)));
    const onClose = () => {
      if (--open > 0) return;
      unwatch();
      const result: RelayResult = { up: upstream.bytesWritten - upStart, down: client.bytesWritten - downStart };
      if (error) result.error = error;
      resolve(result);
    };
    for (const s of [client, upstream]) {
      s.on('error', (err) => abort(classify(err)));
      if (s.closed) onClose(); // it closed before the relay began: its 'close' will not come again
      else s.once('close', onClose);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
}

interface Watched {
  a: Socket;
  b: Socket;
  /** bytes read on both sockets at the last sweep */
  bytes: number;
  quietSince: number;
  onIdle(): void;
}

/**
 * Idle timeouts for every open relay with one timer: each sweep compares the byte counters the
 * sockets keep anyway, so a busy tunnel costs nothing per chunk (socket.setTimeout would re-arm
 * a timer on every read and write, and keep two timers per tunnel).
 */
export class IdleWatch {
  readonly ms: number;
  readonly #watched = new Set<Watched>();
  readonly #periodMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(idleTimeoutMs: number) {
    this.ms = idleTimeoutMs;
    this.#periodMs = Math.min(5_000, Math.max(100, Math.floor(idleTimeoutMs / 4)));
  }

  /** Calls onIdle once no byte moved either way for the idle timeout; returns the unwatch function. */
  watch(a: Socket, b: Socket, onIdle: () => void): () => void {
    const w: Watched = { a, b, bytes: a.bytesRead + b.bytesRead, quietSince: Date.now(), onIdle };
    this.#watched.add(w);
    this.#timer ??= setInterval(() => this.#sweep(), this.#periodMs).unref();
    return () => {
      this.#watched.delete(w);
      if (this.#watched.size === 0 && this.#timer) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  #sweep(): void {
    const now = Date.now();
    for (const w of this.#watched) {
      const bytes = w.a.bytesRead + w.b.bytesRead;
      if (bytes !== w.bytes) {
        w.bytes = bytes;
        w.quietSince = now;
      } else if (now - w.quietSince >= this.ms) {
        this.#watched.delete(w);
        w.onIdle();
      }
    }
  }
}
