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

export function relay(client: Socket, upstream: Socket, idleTimeoutMs: number): Promise<RelayResult> {
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
    const onClose = () => {
      if (--open > 0) return;
      const result: RelayResult = { up: upstream.bytesWritten - upStart, down: client.bytesWritten - downStart };
      if (error) result.error = error;
      resolve(result);
    };
    for (const s of [client, upstream]) {
      s.on('error', (err) => abort(classify(err)));
      s.once('close', onClose);
      s.setTimeout(idleTimeoutMs, () => abort(new ProxyError('timeout', `idle for ${idleTimeoutMs} ms`)));
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
}
