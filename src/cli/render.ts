// How proxyctl shows each report to a person. Pure functions: report in, text out.
import { isIP } from 'node:net';
import type { CacheVerify, CaReport, Connections, Figures, HealthGroup, Reload, RouteExplanation, Stats, Status } from '../control/api.js';
import { duration } from '../durations.js';
import { bytes, errorCounts, ms, table, type Style } from './format.js';

const NUMBERS = new Set([1, 2, 4, 5, 6, 7, 8, 9, 10, 11]);

/** one row per route or upstream: counts, errors, connect and time-to-first-byte percentiles, bytes */
function figuresTable(title: string, list: Figures[], style: Style, window: 'lifetime' | 'recent' = 'lifetime'): string {
  if (!list.length) return `${style.bold(title)}  ${style.dim('(no connections yet)')}`;
  const header = [title, 'CONN', 'ACTIVE', 'ERRORS', 'CONNECT p50', 'p90', 'p99', 'TTFB p50', 'p90', 'p99', 'UP', 'DOWN'];
  const rows = list.map((f) => {
    const c = f.connectMs[window];
    const t = f.ttfbMs[window];
    const errors = errorCounts(f.errors);
    return [f.name, String(f.connections), String(f.active), errors === '-' ? errors : style.red(errors),
      ms(c.p50), ms(c.p90), ms(c.p99), ms(t.p50), ms(t.p90), ms(t.p99), bytes(f.bytesUp), bytes(f.bytesDown)];
  });
  return `${table(header, rows, new Set([...NUMBERS].filter((i) => i !== 3)), style)}\n${style.dim(`latencies in ms, ${window === 'lifetime' ? 'since start' : 'last 5 minutes'}`)}`;
}

export function healthText(title: string, groups: HealthGroup[], style: Style, now = Date.now()): string {
  if (!groups.length) return `${style.bold(title)}  ${style.dim('(none configured)')}`;
  const parts = [style.bold(title)];
  for (const g of groups) {
    parts.push(`${g.name} (${g.type})  using ${g.current ?? '-'}: ${g.why}`);
    const rows = g.members.map((m) => {
      const status = m.status === 'up' ? style.green(m.slow ? 'up, slow' : 'up') : m.status === 'down' ? style.red('down') : style.yellow('unknown');
      const check = m.lastCheck
        ? `${m.lastCheck.ok ? 'ok' : 'failed'} ${duration((now - m.lastCheck.at) / 1000)} ago${m.lastCheck.error ? `: ${m.lastCheck.error}` : ''}`
        : 'not checked yet';
      const c = m.counters;
      const traffic = c ? [`${c.hits ?? 0}/${c.misses ?? 0}`, bytes(c.bytes ?? 0), String(c.behind ?? 0), String(c.bad ?? 0)] : [];
      return [`  ${m.name}`, status, m.recentLatencyMs === null ? '-' : `${m.recentLatencyMs} ms`, errorCounts(m.errors), ...traffic, check];
    });
    // a mirror's upstreams also count what they served: hits/misses, bytes, times behind the origin, bad artifacts
    const counted = g.members.some((m) => m.counters);
    const header = ['  MEMBER', 'STATUS', 'CHECK', 'ERRORS', ...(counted ? ['HIT/MISS', 'BYTES', 'BEHIND', 'BAD'] : []), 'LAST CHECK'];
    parts.push(table(header, rows, new Set(counted ? [2, 4, 5, 6, 7] : [2]), style));
  }
  return parts.join('\n');
}

export function statusText(s: Status, style: Style): string {
  const listeners = s.listeners.map((l) => `${l.name} ${l.address} (${l.connections} open)`).join('   ') || 'none';
  return [
    `${style.bold(`proxyd ${s.version}`)}  up ${duration(s.uptimeS)}  pid ${s.pid}`,
    `config   ${s.configFile} (${s.rules} rules)`,
    `control  ${s.control}`,
    `listen   ${listeners}`,
    ...(s.ui ? [`ui       ${s.ui} (proxyctl ui opens it)`] : []),
    ...(s.ca ? [caLine(s.ca, style)] : []),
    '',
    figuresTable('ROUTE', s.routes, style),
    '',
    healthText('UPSTREAM GROUPS', s.upstreams, style),
    '',
    healthText('MIRRORS', s.mirrors, style),
  ].join('\n');
}

/** the local CA in one line, and the one a user must still trust */
function caLine(ca: CaReport, style: Style): string {
  const fresh = ca.cas.find((c) => c.mustTrust);
  const until = ca.cas.map((c) => c.notAfter.slice(0, 10)).sort()[0];
  const line = `ca       ${ca.cas.length} in use${until ? `, until ${until}` : ''} (${ca.bundle})`;
  return fresh ? `${line}\n         ${style.yellow(`new CA for ${fresh.serves.join(', ') || fresh.names.join(', ')} since ${fresh.notBefore.slice(0, 10)}: trust it too (proxyctl ca trust-info)`)}` : line;
}

export function statsText(s: Stats, style: Style): string {
  const hit = s.rules.filter((r) => r.hits > 0);
  const rules = hit.length
    ? table(['#', 'RULE', 'HITS'], hit.map((r) => [String(r.index + 1), r.rule, String(r.hits)]), new Set([0, 2]), style)
    : style.dim('no rule has matched yet');
  return [
    figuresTable('ROUTE', s.routes, style, 'recent'),
    '',
    figuresTable('UPSTREAM', s.upstreams, style, 'recent'),
    '',
    style.bold('RULE HITS'),
    rules,
  ].join('\n');
}

export function routeText(r: RouteExplanation, style: Style): string {
  const lines = [`${r.target} → ${style.bold(r.route)} (${r.kind})`];
  lines.push(r.index >= 0 ? `  matched rule ${r.index + 1}: ${r.rule}${r.detail ? ` (${r.detail})` : ''}` : `  ${r.rule}: the default route`);
  if (r.tried.length || r.omitted) {
    lines.push(`  rules before it that did not match:`);
    if (r.omitted) lines.push(style.dim(`    … ${r.omitted} earlier rule(s) not shown`));
    lines.push(table(['    #', 'RULE', 'WHY NOT'], r.tried.map((t) => [`    ${t.index + 1}`, t.rule, t.reason]), new Set([0]), style));
  }
  if (r.resolved) lines.push(`  addresses: ${r.resolved.length ? r.resolved.join(', ') : r.lookup ? `none, lookup failed (${r.lookup.outcome}): ${r.lookup.reason}` : 'the name did not resolve'}`);
  if (r.addresses) lines.push(`  dialled: ${r.addresses.length ? r.addresses.join(', ') : 'none (no address the rule allows)'}`);
  if (!r.resolved && !isIP(r.target.replace(/^\[|\]?:\d+$/g, ''))) lines.push(style.dim('  no lookup needed to choose the route; the route resolves the name when it connects'));
  return lines.join('\n');
}

export function connectionsText(c: Connections, style: Style): string {
  if (!c.connections.length) return style.dim('no open connections');
  const rows = c.connections.map((x) => [String(x.id), x.client, x.target, x.route, x.mode, duration(x.ageMs / 1000), bytes(x.up), bytes(x.down)]);
  return table(['ID', 'CLIENT', 'TARGET', 'ROUTE', 'MODE', 'AGE', 'UP', 'DOWN'], rows, new Set([0, 5, 6, 7]), style);
}

export function reloadText(r: Reload, style: Style): string {
  if (!r.ok) return [...r.errors.map((e) => e.text), `reload refused: ${r.errors.length} error(s) in ${r.file}; the running config stays`].join('\n');
  const head = r.dryRun ? `${r.file}: valid; a reload would change:` : `reloaded ${r.file}:`;
  if (!r.changes.length) return `${r.dryRun ? `${r.file}: valid; a reload would change nothing` : `reloaded ${r.file}: nothing changed`}`;
  return [style.bold(head), ...r.changes.map((c) => `  ${c}`)].join('\n');
}

export function cacheVerifyText(r: CacheVerify, st: Style): string {
  const head = `${r.checked} cached artifact${r.checked === 1 ? '' : 's'} (${bytes(r.bytes)}) in ${r.dir} hashed in ${r.seconds} s`;
  if (!r.bad.length) return `${head}: every one as stored`;
  const lines = r.bad.map((b) => `  ${st.red(b.problem)}  ${b.key}`);
  return `${head}: ${r.bad.length} not as stored, moved to quarantine/ (the next request fetches them again)\n${lines.join('\n')}`;
}
