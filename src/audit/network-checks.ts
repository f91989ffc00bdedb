// The audit of the settings every tool shares or that carry git and ssh: the proxy variables,
// NO_PROXY against the rules, git's proxies and exceptions, core.sshCommand, ssh to github.com.
import { masked } from '../setup/apply.js';
import { hostPort } from '../setup/daemon-view.js';
import type { GitValue, UserSettings } from './gather.js';
import { isProxyd, judgeProxyUrl, noProxyMatch, parseProxyUrl, splitList, type AuditContext } from './proxy-setting.js';
import type { AuditFinding } from './report.js';

/** hosts whose route matters to every developer here; NO_PROXY must not hide them from the rules */
const WELL_KNOWN_HOSTS = ['github.com', 'proxy.golang.org', 'sum.golang.org', 'registry.npmjs.org', 'pypi.org', 'files.pythonhosted.org'];
/** NO_PROXY entries asked about, at most */
const NO_PROXY_CHECKED = 32;

const ENV_FIX = 'eval "$(proxyctl env)"';

/** a variable read in either case: its value, and whether the two cases disagree */
export function envVar(env: NodeJS.ProcessEnv, name: string): { value?: string; split?: string } {
  const upper = env[name] || undefined;
  const lower = env[name.toLowerCase()] || undefined;
  if (upper !== undefined && lower !== undefined && upper !== lower) return { value: lower, split: `${name}=${masked(upper)} but ${name.toLowerCase()}=${masked(lower)}` };
  return { value: lower ?? upper };
}

/** the proxy the environment gives https:// URLs, when it is proxyd's */
export function envProxyIsProxyd(ctx: AuditContext, env: NodeJS.ProcessEnv): boolean {
  const url = parseProxyUrl(envVar(env, 'HTTPS_PROXY').value ?? envVar(env, 'ALL_PROXY').value ?? '');
  return !!url && isProxyd(ctx.view, url);
}

export async function envFindings(ctx: AuditContext, s: UserSettings): Promise<AuditFinding[]> {
  const findings: AuditFinding[] = [];
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY']) {
    const { value, split } = envVar(s.env, name);
    const base = { area: 'env' as const, setting: `${name} / ${name.toLowerCase()}`, value: value === undefined ? null : masked(value), source: 'environment' };
    if (split) findings.push({ ...base, status: 'conflicting', why: `${split}: tools read one or the other (curl the lower case)`, fix: ENV_FIX });
    else if (value === undefined) findings.push({ ...base, status: 'missing', why: 'not set: tools that read it connect directly', fix: ENV_FIX });
    else findings.push({ ...base, ...(await judgeProxyUrl(ctx, value, ENV_FIX)) });
  }
  findings.push(await noProxyFinding(ctx, s.env));
  return findings;
}

async function noProxyFinding(ctx: AuditContext, env: NodeJS.ProcessEnv): Promise<AuditFinding> {
  const { value, split } = envVar(env, 'NO_PROXY');
  const base = { area: 'env' as const, setting: 'NO_PROXY / no_proxy', value: value ?? null, source: 'environment' };
  if (split) return { ...base, status: 'conflicting', why: `${split}: tools read one or the other`, fix: ENV_FIX };
  const entries = splitList(value);
  if (!entries.length) {
    if (!envVar(env, 'HTTP_PROXY').value && !envVar(env, 'HTTPS_PROXY').value) return { ...base, status: 'ok', why: 'no proxy variable to make exceptions to' };
    return { ...base, status: 'missing', why: 'loopback (proxyd\'s mirror endpoints) and the internal hosts the rules send DIRECT go through the proxy variables too', fix: ENV_FIX };
  }
  const hidden = await hiddenFromRules(ctx, entries);
  if (hidden.length) {
    return { ...base, status: 'conflicting', why: hidden.map((h) => `${h.entry} sends ${h.host} around proxyd, but ${h.rule} sends it to ${h.route}`).join('; '), fix: ENV_FIX };
  }
  const at = ctx.view.http ?? ctx.view.socks;
  if (at && !noProxyMatch(entries, at.host)) {
    return { ...base, status: 'conflicting', why: `${at.host} is not in it: a request to proxyd's mirror endpoints (${hostPort(at)}) would go through the proxy into proxyd itself (HTTP 508)`, fix: ENV_FIX };
  }
  return { ...base, status: 'ok', why: 'hides no host that the rules send upstream' };
}

/** NO_PROXY entries that exempt a host which the rules do not send DIRECT */
async function hiddenFromRules(ctx: AuditContext, entries: string[]): Promise<Array<{ entry: string; host: string; route: string; rule: string }>> {
  const named = entries.slice(0, NO_PROXY_CHECKED).map((e) => e.replace(/^\*?\./, '').replace(/:\d+$/, '')).filter((e) => /[a-z]/i.test(e) && !e.includes('/') && e !== 'localhost' && e !== '*');
  const hosts = [...new Set([...WELL_KNOWN_HOSTS, ...ctx.view.mirrors.flatMap((m) => m.origins.map(hostOf)), ...named])];
  const hidden = [];
  for (const host of hosts) {
    const entry = noProxyMatch(entries, host);
    if (!entry) continue;
    const { route, rule } = await ctx.routeOf(host);
    if (route !== 'DIRECT') hidden.push({ entry, host, route, rule });
  }
  return hidden;
}

export async function gitFindings(ctx: AuditContext, s: UserSettings, values: GitValue[]): Promise<AuditFinding[]> {
  const findings: AuditFinding[] = [];
  const fix = 'proxyctl setup git';
  const at = (v: GitValue) => ({ area: 'git' as const, setting: v.key, value: masked(v.value), source: v.origin });
  const proxy = values.filter((v) => v.key === 'http.proxy').at(-1);
  if (proxy) findings.push({ ...at(proxy), ...(await judgeProxyUrl(ctx, proxy.value, fix)) });
  else if (envProxyIsProxyd(ctx, s.env)) findings.push({ area: 'git', setting: 'http.proxy', value: null, status: 'ok', why: 'unset: git takes https_proxy from the environment, which is proxyd' });
  else findings.push({ area: 'git', setting: 'http.proxy', value: null, status: 'missing', why: 'unset: git reaches every remote directly', fix });
  for (const v of values) {
    if (v.key === 'https.proxy') {
      findings.push({ ...at(v), status: 'conflicting', why: 'git has no https.proxy (it is ignored): http.proxy carries https:// remotes as well', fix: `git config --global --unset https.proxy; ${fix}` });
    } else if (v.key !== 'http.proxy' && v.key.startsWith('http.') && v.key.endsWith('.proxy')) {
      findings.push({ ...at(v), ...(await gitUrlProxy(ctx, v, fix)) });
    } else if (v.key === 'core.sshcommand') {
      findings.push({ ...at(v), ...sshCommandVerdict(v.value) });
    }
  }
  return findings;
}

/** `http.<url>.proxy`: "" sends that host straight, which must agree with the rules */
async function gitUrlProxy(ctx: AuditContext, v: GitValue, fix: string): Promise<Pick<AuditFinding, 'status' | 'why' | 'fix'>> {
  if (v.value !== '') return judgeProxyUrl(ctx, v.value, fix);
  const host = hostOf(v.key.slice('http.'.length, -'.proxy'.length)).replace(/^\*\./, '');
  if (!host) return { status: 'ok', why: 'no proxy for these URLs' };
  const { route, rule } = await ctx.routeOf(host);
  if (route === 'DIRECT') return { status: 'ok', why: `git reaches ${host} directly, as ${rule} does` };
  return { status: 'conflicting', why: `git reaches ${host} directly, but ${rule} sends it to ${route}`, fix: `git config --global --unset '${v.key}'` };
}

function sshCommandVerdict(command: string): Pick<AuditFinding, 'status' | 'why' | 'fix'> {
  if (/(^|\s)-F\s/.test(command)) return { status: 'conflicting', why: 'it names another ssh config file (-F): the block of proxyctl setup ssh in ~/.ssh/config is not read', fix: 'add the github.com block to that file, or drop -F' };
  if (/ProxyCommand/i.test(command) && !/proxyctl\b.*\bconnect\b/.test(command)) return { status: 'conflicting', why: 'it sets a ProxyCommand of its own, over ~/.ssh/config\'s', fix: 'git config --global --unset core.sshCommand' };
  return { status: 'ok', why: 'leaves ~/.ssh/config in charge' };
}

export function sshFinding(ctx: AuditContext, ssh: NonNullable<UserSettings['ssh']>): AuditFinding {
  const base = { area: 'ssh' as const, setting: 'github.com ProxyCommand', value: ssh.proxyCommand ?? ssh.proxyJump ?? null, source: ssh.file };
  const via = ssh.hostname !== 'github.com' || ssh.port !== 22 ? ` to ${ssh.hostname}:${ssh.port}` : '';
  if (ssh.proxyCommand && /proxyctl\b.*\bconnect\b/.test(ssh.proxyCommand)) return { ...base, status: 'ok', why: `ssh to github.com goes through proxyd${via}` };
  if (ssh.proxyCommand) {
    const names = [ctx.view.http, ctx.view.socks].filter((l) => !!l).map((l) => hostPort(l!));
    if (names.some((n) => ssh.proxyCommand!.includes(n))) return { ...base, status: 'ok', why: `its ProxyCommand names proxyd's listener${via}` };
    return { ...base, status: 'conflicting', why: 'its ProxyCommand does not go through proxyd', fix: 'proxyctl setup ssh' };
  }
  if (ssh.proxyJump) return { ...base, status: 'conflicting', why: `it jumps through ${ssh.proxyJump}, not proxyd`, fix: 'proxyctl setup ssh' };
  return { ...base, status: 'missing', why: `ssh to github.com:${ssh.port} goes directly, around the rules (and port 22 is often filtered)`, fix: 'proxyctl setup ssh' };
}

export function hostOf(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    return '';
  }
}
