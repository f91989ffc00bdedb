// The audit of the module tools: GOPROXY, GOSUMDB, GOPRIVATE and friends, GOFLAGS; npm's registry
// and proxies; pip's index and proxy. A setting that names one of proxyd's mirrors must name one
// that exists and is up; one that does not, while proxyd has a mirror for it, is missing.
import { masked } from '../setup/apply.js';
import { hostPort, mirrorOf, type MirrorView } from '../setup/daemon-view.js';
import { privatePatterns } from '../setup/plans.js';
import type { UserSettings } from './gather.js';
import { envProxyIsProxyd, envVar } from './network-checks.js';
import { isProxyd, judgeProxyUrl, noProxyMatch, parseProxyUrl, splitList, type AuditContext, type Judged } from './proxy-setting.js';
import type { AuditFinding } from './report.js';

/** A URL on proxyd's listener must be one of its mirrors of this kind, and that mirror up; elsewhere on loopback, something must listen. */
async function judgeIndex(ctx: AuditContext, url: string, kind: string, fix: string): Promise<Judged | undefined> {
  const at = parseProxyUrl(url);
  if (!at || !/^https?$/.test(at.scheme)) return undefined;
  if (!isProxyd(ctx.view, at)) {
    if (['127.0.0.1', '::1', 'localhost'].includes(at.host) && !(await ctx.listening(at))) return { status: 'conflicting', why: `nothing listens on ${hostPort(at)}`, fix };
    return undefined;
  }
  const path = new URL(url).pathname;
  const mirror = ctx.view.mirrors.find((m) => m.kind === kind && (path === m.path || path.startsWith(`${m.path}/`)));
  if (!mirror) {
    const paths = ctx.view.mirrors.filter((m) => m.kind === kind).map((m) => m.path);
    return { status: 'conflicting', why: `proxyd has no ${kind} mirror at ${path}${paths.length ? ` (its ${kind} mirror${paths.length > 1 ? 's are' : ' is'} at ${paths.join(', ')})` : ''}`, fix };
  }
  return mirrorVerdict(mirror);
}

function mirrorVerdict(mirror: MirrorView): Judged {
  if (mirror.down) return { status: 'conflicting', why: `proxyd's mirror "${mirror.name}" is down: every upstream failed its checks, only the origin is left (${mirror.why})`, fix: `proxyctl mirrors; proxyctl check ${mirror.name}` };
  return { status: 'ok', why: `proxyd's mirror "${mirror.name}"` };
}

export async function goFindings(ctx: AuditContext, s: UserSettings, goEnv: Record<string, string>): Promise<AuditFinding[]> {
  const fix = 'proxyctl setup go';
  const base = (setting: string) => ({ area: 'go' as const, setting, value: goEnv[setting] ? masked(goEnv[setting]!) : null, source: 'go env' });
  const findings: AuditFinding[] = [];
  const mirror = mirrorOf(ctx.view, 'goproxy');

  const proxies = (goEnv.GOPROXY ?? '').split(/[,|]/).filter(Boolean);
  let judged: Judged | undefined;
  if (proxies.includes('off')) judged = { status: 'conflicting', why: 'GOPROXY=off: go downloads no module that is not in its cache', fix };
  for (const p of proxies) judged ??= await judgeIndex(ctx, p, 'goproxy', fix);
  judged ??= mirror
    ? { status: 'missing', why: `proxyd's Go mirror "${mirror.name}" (${mirror.path}) is not in it`, fix }
    : { status: 'ok', why: envProxyIsProxyd(ctx, s.env) ? 'go reaches it through HTTPS_PROXY, which is proxyd' : 'proxyd has no Go mirror' };
  findings.push({ ...base('GOPROXY'), ...judged });

  const sumdb = goEnv.GOSUMDB ?? '';
  const sumdbUrl = sumdb.split(/\s+/)[1];
  const sumdbJudged = sumdb === 'off'
    ? { status: 'conflicting' as const, why: 'GOSUMDB=off: downloaded modules are not checked against the checksum database', fix }
    : (sumdbUrl && (await judgeIndex(ctx, sumdbUrl, 'goproxy', fix))) || { status: 'ok' as const, why: 'checked against the checksum database' };
  findings.push({ ...base('GOSUMDB'), ...sumdbJudged });

  // the DIRECT names must be private: else go asks public proxies and the checksum database about them
  // go env shows GONOPROXY and GONOSUMDB as GOPRIVATE when they are not set themselves
  const own = (name: string) => !!goEnv[name] && goEnv[name] !== goEnv.GOPRIVATE;
  const noProxyVar = own('GONOPROXY') ? 'GONOPROXY' : 'GOPRIVATE';
  const patterns = splitList(goEnv[noProxyVar]);
  const internal = privatePatterns(ctx.view);
  const uncovered = internal.filter((name) => !patterns.some((p) => goPatternMatches(p, name.replace(/^\*\./, 'x.'))));
  findings.push(uncovered.length
    ? { ...base('GOPRIVATE'), status: 'missing', why: `${uncovered.join(', ')} ${uncovered.length > 1 ? 'are' : 'is'} DIRECT in the rules but not in ${noProxyVar}: go asks public proxies and the checksum database for ${uncovered.length > 1 ? 'them' : 'it'}`, fix }
    : { ...base('GOPRIVATE'), status: 'ok', why: internal.length ? `covers the DIRECT names of the rules${noProxyVar === 'GONOPROXY' ? ' (through GONOPROXY)' : ''}` : 'the rules send no names DIRECT' });
  for (const name of ['GONOPROXY', 'GONOSUMDB']) if (own(name)) findings.push({ ...base(name), status: 'ok', why: 'overrides GOPRIVATE for its part' });

  if (goEnv.GOFLAGS) {
    const insecure = /(^|\s)-insecure\b/.test(goEnv.GOFLAGS);
    findings.push({ ...base('GOFLAGS'), status: insecure ? 'conflicting' : 'ok', why: insecure ? '-insecure fetches modules over plain HTTP without checks' : 'no flag that changes where modules come from' });
  }
  return findings;
}

/** go's GOPRIVATE patterns: path.Match globs on a module path's leading elements */
function goPatternMatches(pattern: string, host: string): boolean {
  const elements = pattern.split('/').length;
  const prefix = host.split('/').slice(0, elements).join('/');
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
  return re.test(prefix);
}

export async function npmFindings(ctx: AuditContext, s: UserSettings, npm: Record<string, unknown>): Promise<AuditFinding[]> {
  const fix = 'proxyctl setup npm';
  const get = (key: string) => (typeof npm[key] === 'string' && npm[key] !== '' ? (npm[key] as string) : undefined);
  const base = (setting: string) => ({ area: 'npm' as const, setting, value: get(setting) ? masked(get(setting)!) : null, source: 'npm config' });
  const findings: AuditFinding[] = [];
  const mirror = mirrorOf(ctx.view, 'npm');
  const registry = get('registry') ?? 'https://registry.npmjs.org/';
  findings.push({
    ...base('registry'),
    ...((await judgeIndex(ctx, registry, 'npm', fix)) ?? (mirror
      ? { status: 'missing', why: `proxyd's npm mirror "${mirror.name}" (${mirror.path}) is not used`, fix }
      : { status: 'ok', why: 'proxyd has no npm mirror' })),
  });
  for (const key of ['proxy', 'https-proxy']) {
    const value = get(key);
    if (value) findings.push({ ...base(key), ...(await judgeProxyUrl(ctx, value, fix)) });
    else if (envProxyIsProxyd(ctx, s.env)) findings.push({ ...base(key), status: 'ok', why: 'unset: npm takes the proxy variables, which are proxyd' });
    else findings.push({ ...base(key), status: 'missing', why: 'unset: npm connects directly', fix });
  }
  // the mirror answers on loopback: through the proxy, that request would come back into proxyd
  const registryAt = parseProxyUrl(registry);
  const proxied = get('https-proxy') ?? get('proxy');
  const noproxy = splitList(get('noproxy') ?? envVar(s.env, 'NO_PROXY').value);
  if (registryAt && isProxyd(ctx.view, registryAt) && proxied && !noProxyMatch(noproxy, registryAt.host)) {
    findings.push({ ...base('noproxy'), status: 'conflicting', why: `the registry is proxyd's own endpoint, and ${registryAt.host} is not in noproxy: npm would send it through the proxy into proxyd (HTTP 508)`, fix });
  }
  return findings;
}

export async function pipFindings(ctx: AuditContext, s: UserSettings, pip: Map<string, string>): Promise<AuditFinding[]> {
  const fix = 'proxyctl setup pip';
  // the PIP_ variables over the install section over the global one
  const get = (key: string) => {
    for (const section of [':env:', 'install', 'global']) {
      const value = pip.get(`${section}.${key}`);
      if (value !== undefined) return { value, setting: section === ':env:' ? `PIP_${key.toUpperCase().replace(/-/g, '_')}` : `${section}.${key}` };
    }
    return undefined;
  };
  const findings: AuditFinding[] = [];
  const mirror = mirrorOf(ctx.view, 'pypi');
  const index = get('index-url');
  const onMirror = index ? await judgeIndex(ctx, index.value, 'pypi', fix) : undefined;
  findings.push({
    area: 'pip', setting: index?.setting ?? 'global.index-url', value: index ? masked(index.value) : null, source: 'pip config',
    ...(onMirror ?? (mirror ? { status: 'missing' as const, why: `proxyd's PyPI mirror "${mirror.name}" (${mirror.path}) is not used`, fix } : { status: 'ok' as const, why: 'proxyd has no PyPI mirror' })),
  });
  const proxy = get('proxy');
  const base = { area: 'pip' as const, setting: proxy?.setting ?? 'global.proxy', value: proxy ? masked(proxy.value) : null, source: 'pip config' };
  const indexAt = index ? parseProxyUrl(index.value) : undefined;
  const indexIsProxyd = !!indexAt && isProxyd(ctx.view, indexAt);
  // pip's own proxy is used for every URL: NO_PROXY exempts only the environment's
  if (proxy && indexIsProxyd) {
    findings.push({ ...base, status: 'conflicting', why: 'the index is proxyd\'s own endpoint: through this proxy the request comes back into proxyd (HTTP 508); the mirror needs no proxy', fix: `pip config --user unset ${base.setting}` });
  } else if (proxy) findings.push({ ...base, ...(await judgeProxyUrl(ctx, proxy.value, fix)) });
  else if (indexIsProxyd) findings.push({ ...base, status: 'ok', why: 'not needed: the mirror serves every download' });
  else if (envProxyIsProxyd(ctx, s.env)) findings.push({ ...base, status: 'ok', why: 'unset: pip takes the proxy variables, which are proxyd' });
  else findings.push({ ...base, status: 'missing', why: 'unset: pip connects directly', fix });
  return findings;
}
