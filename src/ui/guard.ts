// What every request to the dashboard must pass before anything else, and the headers every
// answer carries. The dashboard is on loopback, but a browser is a client of every site it has
// open: a page of another site can send it requests (CSRF), or rebind its own name to 127.0.0.1
// and read the answers as same-origin (DNS rebinding). So:
//
//   Host     a loopback name or address (localhost, *.localhost, 127.0.0.0/8, [::1]), or 403
//   Origin   on every request that changes something: exactly this page's own origin, or 403
//   answers  a strict Content-Security-Policy (only the page's own scripts, styles and
//            connections), never framed, never cached, never sniffed, no Referer
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { isLoopback } from '../address/index.js';

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

/** the host of a Host header (`[::1]:9090` → `::1`), lower case; undefined when it is not host[:port] */
function hostOf(header: string): string | undefined {
  const m = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9.-]+))(?::\d{1,5})?$/i.exec(header);
  return (m?.[1] ?? m?.[2])?.toLowerCase();
}

/** A Host header that names this machine's loopback: a name another site could rebind is refused. */
export function loopbackHost(header: string | undefined): boolean {
  const host = header === undefined ? undefined : hostOf(header);
  if (!host) return false;
  if (isIP(host)) return isLoopback(host);
  return host === 'localhost' || host.endsWith('.localhost');
}

/** does the request change something (and so needs its Origin checked)? */
export function changesState(method: string | undefined): boolean {
  return method !== 'GET' && method !== 'HEAD';
}

/** The request's Origin is the page's own: http:// and the Host it was sent to (itself checked). */
export function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  return origin !== undefined && req.headers.host !== undefined && origin.toLowerCase() === `http://${req.headers.host.toLowerCase()}`;
}
