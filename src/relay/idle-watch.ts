// One timer for the idle timeouts of every relay.
import type { Socket } from 'node:net';

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
