// The two-way pipe between a client and an upstream: backpressure (a slow reader stops the fast
// writer, nothing piles up in memory), half-close passed on (FIN one way keeps the other way
// open), an idle timeout, and the byte counts for stats and logs.
//
// upstream → client, the way downloads go, reads into the upstream socket's own buffer when
// proxyd opened it with a ReadSlot (read-slot.ts); client → upstream, and any other upstream,
// go through pipe(). Node offers `onread` only on sockets it connects, not on accepted ones.
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
    for (const s of [client, upstream]) {
      s.on('error', (err) => abort(classify(err)));
      if (s.closed) onClose(); // it closed before the relay began: its 'close' will not come again
      else s.once('close', onClose);
    }
    client.pipe(upstream);
    const slot = ReadSlot.of(upstream);
    if (slot) {
      if (upstream.readableEnded) client.end();
      else upstream.once('end', () => client.end());
      slot.claim(firstByte ? { to: client, firstByte } : { to: client });
    } else {
      if (firstByte) upstream.once('data', firstByte);
      upstream.pipe(client);
    }
  });
}
