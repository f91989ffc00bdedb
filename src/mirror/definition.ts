// A `mirrors:` entry as its kind reads it:
//   { name, kind: goproxy | sumdb | npm | pypi | generic, path, origins, upstreams, via, fallback, intercept, check, sumdb-key }
import type { DefinitionReader, OutboundDef } from '../outbound/index.js';
import { GO_SUMDB_KEY, parseVerifierKey } from './sumdb/note.js';

export type MirrorKind = 'goproxy' | 'sumdb' | 'npm' | 'pypi' | 'generic';

export interface MirrorDef extends OutboundDef {
  type: MirrorKind;
  /** its endpoint on the HTTP listener (`/go`) */
  path: string;
  /** the origins' base URLs: the last resort, reached through `fallback` */
  origins: string[];
  /** the mirrors' base URLs, tried in order of health (reached through `via`) */
  upstreams: string[];
  /** the route to the upstreams (DIRECT, a proxy or a group) */
  via: string;
  /** the route to the origins, and for tunnels whose rule names this mirror (and that it does not intercept) */
  fallback: string;
  /** CONNECTs to the hosts of its https:// origins are served from the mirror, TLS terminated with the local CA */
  intercept: boolean;
  check: { intervalMs: number; timeoutMs: number; failures: number; maxLatencyMs: number; path: string };
  /** goproxy and sumdb: the checksum database's verifier key (GOSUMDB's NAME+HASH+KEY), or 'off' */
  sumdbKey: string;
}

const CHECK_DEFAULTS = { intervalMs: 30_000, timeoutMs: 5_000, failures: 3, maxLatencyMs: 500, path: '/' };
export const MIRROR_OPTIONS = ['path', 'origins', 'upstreams', 'via', 'fallback', 'intercept', 'check', 'sumdb-key'] as const;

export function parseMirror(entry: DefinitionReader, type: MirrorKind): MirrorDef | undefined {
  let ok = true;
  const problem = (key: string | undefined, message: string, index?: number) => {
    entry.problem(key, message, index);
    ok = false;
  };
  const path = entry.string('path') ?? `/${entry.name}`;
  if (!/^\/[A-Za-z0-9._~/-]*[A-Za-z0-9._~-]$/.test(path) || path.split('/').some((p) => p === '..' || p === '.')) {
    problem('path', `path: expected an endpoint such as /go (got "${path}")`);
  }
  let listed = false;
  const urls = (key: 'origins' | 'upstreams', seen = new Set<string>()) => (entry.strings(key) ?? []).filter((u, i) => {
    listed = true;
    let url: URL | undefined;
    try {
      url = new URL(u);
    } catch { /* reported below */ }
    if (url && (url.username || url.password)) {
      problem(key, `${key}: credentials in a mirror URL are not supported (they would be shown in proxyctl and logs)`, i);
      return false;
    }
    if (url && (url.protocol === 'http:' || url.protocol === 'https:') && !url.search && !url.hash) {
      // by the name proxyctl shows (host and path), which must tell them apart
      const name = url.host + url.pathname.replace(/\/$/, '');
      if (!seen.has(name)) return seen.add(name), true;
      problem(key, `${key}: ${u} is listed twice (as ${name})`, i);
      return false;
    }
    problem(key, `${key}: expected an http:// or https:// base URL (got "${u}")`, i);
    return false;
  });
  const origins = urls('origins');
  const upstreams = urls('upstreams');
  if (!listed) problem(undefined, 'a mirror needs upstreams: [URL, …] or origins: [URL, …]');
  const intercept = entry.boolean('intercept') === true;
  if (intercept && !origins.some((o) => o.startsWith('https://'))) {
    problem('intercept', 'intercept: true serves CONNECTs to the hosts of the https:// origins: list at least one in origins');
  }
  const check = { ...CHECK_DEFAULTS };
  const c = entry.section('check', ['interval', 'timeout', 'failures', 'max-latency', 'path']);
  if (c) {
    for (const [key, field] of [['interval', 'intervalMs'], ['timeout', 'timeoutMs'], ['max-latency', 'maxLatencyMs']] as const) {
      const ms = c.duration(key);
      if (ms !== undefined && ms <= 0) {
        c.problem(key, `${key}: must be more than 0`);
        ok = false;
      } else if (ms !== undefined) check[field] = ms;
    }
    const failures = c.count('failures');
    if (failures !== undefined && failures < 1) {
      c.problem('failures', 'failures: at least 1');
      ok = false;
    } else if (failures !== undefined) check.failures = failures;
    const p = c.string('path');
    if (p !== undefined && !p.startsWith('/')) {
      c.problem('path', `path: expected a path such as / (got "${p}")`);
      ok = false;
    } else if (p !== undefined) check.path = p;
  }
  const sumdbKey = entry.string('sumdb-key') ?? GO_SUMDB_KEY;
  if (entry.string('sumdb-key') !== undefined && type !== 'goproxy' && type !== 'sumdb') {
    problem('sumdb-key', `sumdb-key: only goproxy and sumdb mirrors check against a checksum database`);
  } else if (sumdbKey !== 'off') {
    try {
      parseVerifierKey(sumdbKey);
    } catch (err) {
      problem('sumdb-key', `sumdb-key: ${(err as Error).message}, or off`);
    }
  }
  if (!ok) return undefined;
  return { name: entry.name, type, path, origins, upstreams, via: entry.string('via') ?? 'DIRECT', fallback: entry.string('fallback') ?? 'DIRECT', intercept, check, sumdbKey };
}
