// One proxy setting judged: does it name one of proxyd's listeners, in a scheme that keeps host
// names for the rules, and is anything listening where it points?
import { connect } from 'node:net';
import { isIP } from 'node:net';
import { cidrContains, isLoopback, parseCidr } from '../address/index.js';
import { masked } from '../setup/apply.js';
import { hostPort, type DaemonView, type Endpoint } from '../setup/daemon-view.js';
import type { AuditFinding } from './report.js';

const LISTEN_PROBE_MS = 1_500;

export interface AuditContext {
  view: DaemonView;
  /** is anything accepting connections there */
  listening(at: Endpoint): Promise<boolean>;
  /** the route and rule the daemon picks for host:443 */
  routeOf(host: string): Promise<{ route: string; rule: string }>;
}

export type Judged = Pick<AuditFinding, 'status' | 'why' | 'fix'>;

interface ProxyUrl extends Endpoint {
  scheme: string;
  hasCredentials: boolean;
}

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443, socks: 1080, socks4: 1080, socks4a: 1080, socks5: 1080, socks5h: 1080 };

/** a proxy setting's URL; a bare HOST:PORT is http:// (as git and curl take it) */
export function parseProxyUrl(value: string): ProxyUrl | undefined {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    return undefined;
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port ? Number(url.port) : DEFAULT_PORTS[scheme];
  if (!host || port === undefined) return undefined;
  return { scheme, host, port, hasCredentials: url.username !== '' };
}

/** one of proxyd's listeners (a loopback name for a loopback bind counts) */
export function isProxyd(view: DaemonView, at: Endpoint): boolean {
  const same = (l: Endpoint | undefined) => !!l && l.port === at.port && (l.host === at.host || (isLoopback(l.host) && isLoopback(at.host)));
  return same(view.http) || same(view.socks);
}

function listenersText(view: DaemonView): string {
  return [view.http && `http://${hostPort(view.http)}`, view.socks && `socks5h://${hostPort(view.socks)}`].filter(Boolean).join(' and ');
}

/** A set proxy URL: through proxyd and fit for the rules, or why not. */
export async function judgeProxyUrl(ctx: AuditContext, value: string, fix: string): Promise<Judged> {
  const url = parseProxyUrl(value);
  if (!url) return { status: 'conflicting', why: `"${masked(value)}" is not a proxy URL`, fix };
  const at = hostPort(url);
  if (!isProxyd(ctx.view, url)) {
    if (!(await ctx.listening(url))) return { status: 'conflicting', why: `nothing listens on ${at}: every connection through it fails`, fix };
    return { status: 'conflicting', why: `${at} is another proxy, not proxyd (${listenersText(ctx.view)}): proxyd's rules are not used`, fix };
  }
  if (url.scheme === 'socks5' || url.scheme === 'socks4' || url.scheme === 'socks' || url.scheme === 'socks4a') {
    return {
      status: 'conflicting',
      why: `${url.scheme}:// resolves names on this machine and sends proxyd bare addresses: domain rules cannot match them (and DNS poisoning reaches the tool)`,
      fix: `use socks5h://${at}`,
    };
  }
  if (url.scheme === 'https') return { status: 'conflicting', why: 'https:// speaks TLS to the proxy; proxyd\'s listeners take plain HTTP and SOCKS5', fix: `use http://${at}` };
  if (ctx.view.auth && !url.hasCredentials) return { status: 'conflicting', why: 'proxyd asks for a user name and password, and this URL has none', fix };
  return { status: 'ok', why: `proxyd's listener${url.scheme === 'socks5h' ? ', names resolved by proxyd' : ''}` };
}

/** Does a NO_PROXY list exempt `host` for some tool (curl's reading, the widest: `.a.example` takes a.example too)? Returns the entry that does. */
export function noProxyMatch(entries: readonly string[], host: string): string | undefined {
  const h = host.toLowerCase();
  for (const raw of entries) {
    const e = raw.trim().toLowerCase();
    if (!e) continue;
    if (e === '*') return raw;
    if (e.includes('/') || isIP(e)) {
      const c = parseCidr(e);
      if (c && isIP(h) && cidrContains(c, h)) return raw;
      continue;
    }
    const name = e.replace(/^\*?\./, '').replace(/:\d+$/, '');
    if (h === name || h.endsWith(`.${name}`)) return raw;
  }
  return undefined;
}

export function splitList(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/** a TCP connect, closed at once: anything listening? */
export function probeListening(at: Endpoint, timeoutMs = LISTEN_PROBE_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: at.host, port: at.port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => done(true));
    socket.on('error', () => done(false));
  });
}
