// One health check through a group member: the check URL fetched through it (TLS validated for
// https://; the status must be one expected), timed to the first response byte; or, without a
// URL, what the member can tell of itself (a connection to an upstream proxy's server, a group
// with a member not down) and nothing more.
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { normalizeHost } from '../../address/index.js';
import { Deadline } from '../../deadline.js';
import { ProxyError } from '../../errors.js';
import type { Resolver } from '../../resolver.js';
import { tlsOver } from '../../tls-client.js';
import type { Dialer } from '../types.js';

export interface CheckSettings {
  url: URL | undefined;
  timeoutMs: number;
  /** statuses that pass; empty: any 2xx or 3xx */
  expect: readonly number[];
}

/** A member that can be checked without a check URL: an upstream proxy (its server), a group (one of its members not down). */
interface Reachable {
  reach(ctx: { resolver: Resolver; cancel: Deadline }): Promise<void>;
}

/** Resolves with the check's latency in ms (undefined when there was nothing to time), or rejects with a ProxyError. */
export async function checkThrough(member: Dialer, settings: CheckSettings, resolver: Resolver): Promise<number | undefined> {
  const url = settings.url;
  const shown = url && shownUrl(url.href);
  const deadline = new Deadline(settings.timeoutMs, `health check of ${member.name}${url ? ` (${shown})` : ''}`);
  const t0 = performance.now();
  let socket: Socket | undefined;
  try {
    if (!url) {
      const reachable = member as Partial<Reachable>;
      if (!reachable.reach) return undefined; // DIRECT: nothing to probe without a URL
      await deadline.race(reachable.reach({ resolver, cancel: deadline }));
      return performance.now() - t0;
    }
    const https = url.protocol === 'https:';
    const target = { host: normalizeHost(url.hostname) ?? url.hostname, port: Number(url.port) || (https ? 443 : 80) };
    socket = (await member.dial(target, { resolver, cancel: deadline })).socket;
    if (https) socket = await deadline.race(tlsOver(socket, target.host, deadline));
    socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUser-Agent: proxyd-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n`);
    const first = await deadline.race(firstChunk(socket));
    const latency = performance.now() - t0;
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(first.toString('latin1', 0, 32))?.[1] ?? NaN);
    if (Number.isNaN(status)) throw new ProxyError('protocol', `${shown} did not answer HTTP`, 'EPROTO', 'origin');
    const ok = settings.expect.length ? settings.expect.includes(status) : status >= 200 && status < 400;
    if (!ok) throw new ProxyError('protocol', `${shown} answered ${status}`, 'ESTATUS', 'origin');
    return latency;
  } finally {
    deadline.done();
    socket?.destroy();
  }
}

/** A URL as messages show it: user info as `…@`, the query and fragment as `?…` and `#…` (a token is often there). */
export function shownUrl(text: string): string {
  return text.replace(/\/\/[^/?#]*@/, '//…@').replace(/([?#]).*$/s, '$1…');
}

function firstChunk(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    socket.once('data', resolve);
    socket.once('error', reject);
    socket.once('end', () => reject(new ProxyError('reset', 'closed before answering', 'ECONNRESET', 'origin')));
    socket.resume();
  });
}
