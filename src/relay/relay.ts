// The two-way pipe between a client and an upstream: backpressure (a slow reader stops the fast
// writer, nothing piles up in memory), half-close passed on (FIN one way keeps the other way
// open), an idle timeout, and the byte counts for stats and logs.
//
// upstream → client, the way downloads go, reads into the upstream socket's own buffer when
// proxyd opened it with a ReadSlot (read-slot.ts); client → upstream, and any other upstream,
// go by 'data' events (forward). Node offers `onread` only on sockets it connects, not on
// accepted ones.
import type { Socket } from 'node:net';
import { classify, ProxyError } from '../errors.js';
import type { IdleWatch } from './idle-watch.js';
import { ReadSlot } from './read-slot.js';

export interface RelayResult {
  /** bytes client → upstream */
  up: number;
  /** bytes upstream → client */
  down: number;
  error?: ProxyError;
}

/** `firstByte` is called at the first byte from the upstream (time to first byte). */
export function relay(client: Socket, upstream: Socket, idle: IdleWatch, firstByte?: () => void): Promise<RelayResult> {
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
    const onError = (err: Error) => abort(classify(err));
    for (const s of [client, upstream]) {
      s.on('error', onError);
      if (s.closed) onClose(); // it closed before the relay began: its 'close' will not come again
      else s.on('close', onClose); // 'close' and 'end' come once: `on` spares once()'s wrapper for the tunnel's life
    }
    forward(client, upstream);
    const slot = ReadSlot.of(upstream);
    if (slot) {
      passEnd(upstream, client);
      slot.claim(firstByte ? { to: client, firstByte } : { to: client });
    } else {
      if (firstByte) upstream.once('data', firstByte);
      forward(upstream, client);
    }
  });
}

/**
 * from → to with backpressure and half-close: what pipe() does for a socket pair, with three
 * listeners instead of pipe's nine (an idle tunnel keeps them all).
 */
function forward(from: Socket, to: Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  passEnd(from, to);
  from.resume(); // a handshake may have paused it; a 'data' listener alone does not undo that
}

/** Half-close: `from`'s FIN ends `to` once what was written to it has gone out. */
function passEnd(from: Socket, to: Socket): void {
  if (from.readableEnded) to.end();
  else from.on('end', () => to.end());
}
