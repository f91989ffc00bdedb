// What doctor probes: the targets given (HOST[:PORT] or an http(s):// URL), or by default the
// hosts a clone, a module download or an ssh push needs, every configured mirror upstream and
// every proxy's server.
import { isIP } from 'node:net';
import { formatTarget, normalizeHost, parseHostPort, type Target } from '../address/index.js';
import type { MirrorDef } from '../mirror/definition.js';
import { joinUrl } from '../mirror/protocol.js';
import type { OutboundDef } from '../outbound/index.js';
import type { UpstreamDef } from '../outbound/upstream.js';

const DEFAULT_TARGETS = [
  'github.com:443', 'github.com:22', 'ssh.github.com:443', 'proxy.golang.org:443', 'sum.golang.org:443', 'registry.npmjs.org:443', 'pypi.org:443',
] as const;

/** hosts whose port 443 is SSH, for networks that filter port 22 (probed for a banner, not TLS) */
const SSH_OVER_443 = new Set(['ssh.github.com', 'altssh.gitlab.com', 'altssh.bitbucket.org']);

/** One target and how it is probed. */
export interface PlannedTarget {
  /** as shown: HOST:PORT, or a mirror upstream's URL */
  text: string;
  target: Target;
  /** TLS with SNI, then an HTTP request (port 443 but for SSH over 443, or an https:// URL) */
  https: boolean;
  /** the HTTP request's path */
  path: string;
  /** the Host header */
  authority: string;
  /** default, given, mirror NAME, proxy NAME */
  source: string;
  /** the route the daemon reaches it by when no rule decides: a mirror's upstream by the mirror's via, a proxy's server by the proxy's */
  reachedBy?: { by: 'mirror' | 'proxy'; name: string; route: string };
}

/** The targets as given; a RangeError names the first that is neither HOST[:PORT] nor an http(s) URL. */
export function givenTargets(texts: readonly string[]): PlannedTarget[] {
  return dedupe(texts.map((text) => {
    const planned = text.includes('://') ? fromUrl(text, 'given') : fromHostPort(text, 'given');
    if (!planned) throw new RangeError(`doctor: "${text}" is not HOST[:PORT] or an http:// or https:// URL`);
    return planned;
  }));
}

/** The default targets, then each mirror's upstreams and each proxy's server. */
export function defaultTargets(defs: readonly OutboundDef[], sectionOf: (def: OutboundDef) => string | undefined): PlannedTarget[] {
  const planned: PlannedTarget[] = DEFAULT_TARGETS.map((t) => fromHostPort(t, 'default')!);
  for (const m of defs.filter((d) => sectionOf(d) === 'mirrors') as MirrorDef[]) {
    for (const url of m.upstreams) {
      const t = fromUrl(joinUrl(new URL(url), m.check.path).href, `mirror ${m.name}`, url);
      if (t) planned.push({ ...t, reachedBy: { by: 'mirror', name: m.name, route: m.via } });
    }
  }
  for (const p of defs.filter((d) => sectionOf(d) === 'proxies') as UpstreamDef[]) {
    const t = fromHostPort(p.server, `proxy ${p.name}`);
    if (t) planned.push({ ...t, https: false, reachedBy: { by: 'proxy', name: p.name, route: p.via ?? 'DIRECT' } });
  }
  return dedupe(planned);
}

function fromHostPort(text: string, source: string): PlannedTarget | undefined {
  const target = parseHostPort(text, 443);
  if (!target) return undefined;
  const https = target.port === 443 && !SSH_OVER_443.has(target.host);
  return { text: formatTarget(target), target, https, path: '/', authority: authorityOf(target, https), source };
}

/** `shown`: the URL to show (a mirror upstream's base, without the check path) */
function fromUrl(text: string, source: string, shown = text): PlannedTarget | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password) return undefined;
  const host = normalizeHost(url.hostname);
  if (!host) return undefined;
  const https = url.protocol === 'https:';
  const target = { host, port: Number(url.port) || (https ? 443 : 80) };
  return { text: shown.replace(/([?#]).*$/s, '$1…'), target, https, path: `${url.pathname}${url.search}`, authority: url.host, source };
}

function authorityOf(t: Target, https: boolean): string {
  const host = isIP(t.host) === 6 ? `[${t.host}]` : t.host;
  return t.port === (https ? 443 : 80) ? host : `${host}:${t.port}`;
}

function dedupe(list: PlannedTarget[]): PlannedTarget[] {
  const seen = new Set<string>();
  return list.filter((t) => !seen.has(t.text) && seen.add(t.text));
}
