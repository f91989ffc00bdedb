// The dashboard's sections as HTML, from the control socket's own reports: the first page and
// every live update are made here, by the server, so what a page shows is what proxyctl shows
// (the same figures and the same words), with scripts on or off.
import { adviceFor } from '../../cli/advice.js';
import { bytes, errorCounts, ms } from '../../cli/format.js';
import type { Connections, HealthGroup, RecentErrors, Stats, Status } from '../../control/api.js';
import { duration } from '../../durations.js';
import { WINDOW_MS, type History } from '../history.js';
import { latencyChart, rateChart } from './chart.js';
import { html, type Html } from './html.js';

/** what one render is made from: the reports at one moment, and the history */
export interface DashboardData {
  now: number;
  status: Status;
  stats: Stats;
  errors: RecentErrors;
  connections: Connections;
  history: History;
}

/** which connections a page lists: the nth page of those whose client, target, route or rule holds `filter` */
export interface ConnectionView {
  page: number;
  filter: string;
}

const PAGE_SIZE = 50;

/** the live sections, by element id (the page's script replaces each one's contents) */
const LIVE_SECTIONS = ['summary', 'routes', 'upstreams', 'groups', 'mirrors', 'rules', 'errors', 'connections'] as const;
export type LiveSection = (typeof LIVE_SECTIONS)[number];

export function renderSections(d: DashboardData, view: ConnectionView): Record<LiveSection, Html> {
  return {
    summary: summary(d),
    routes: figures(d, 'route'),
    upstreams: figures(d, 'upstream'),
    groups: health(d.status.upstreams, d.now, 'no upstream groups configured'),
    mirrors: health(d.status.mirrors, d.now, 'no mirrors configured'),
    rules: rules(d.stats),
    errors: errors(d.errors, d.now),
    connections: connections(d.connections, view),
  };
}

function summary(d: DashboardData): Html {
  const s = d.status;
  const open = s.listeners.reduce((n, l) => n + l.connections, 0);
  return html`<dl class="summary">
<div><dt>proxyd</dt><dd>${s.version}, up ${duration(s.uptimeS)}, pid ${s.pid}</dd></div>
<div><dt>config</dt><dd>${s.configFile} (${s.rules} rules)</dd></div>
<div><dt>listen</dt><dd>${s.listeners.map((l) => `${l.name} ${l.address} (${l.connections} open)`).join('   ') || 'none'}</dd></div>
<div><dt>open</dt><dd>${open} connection(s)</dd></div>
</dl>`;
}

/** one row per route (or upstream) over the last 5 minutes, each with its latency charts; routes with their rates */
function figures(d: DashboardData, kind: 'route' | 'upstream'): Html {
  const list = kind === 'route' ? d.stats.routes : d.stats.upstreams;
  if (!list.length) return html`<p class="none">no connections yet</p>`;
  const rows = list.map((f) => {
    const c = f.connectMs.recent;
    const t = f.ttfbMs.recent;
    const rates = kind === 'route' ? d.history.rates(f.name) : undefined;
    const errs = errorCounts(f.errors);
    return html`<tr data-name="${f.name}"><th scope="row">${f.name}</th><td class="n">${f.connections}</td><td class="n">${f.active}</td>
<td class="${errs === '-' ? '' : 'bad'}">${errs}</td><td class="n">${ms(c.p50)}</td><td class="n">${ms(c.p99)}</td><td class="n">${ms(t.p50)}</td><td class="n">${ms(t.p99)}</td>
${rates ? html`<td class="n">${bytes(Math.round(rates.now.down))}/s</td><td class="n">${bytes(Math.round(rates.now.up))}/s</td>` : ''}<td class="n">${bytes(f.bytesDown)}</td><td class="n">${bytes(f.bytesUp)}</td></tr>`;
  });
  // the last 5 minutes, or as long as the daemon has run
  const span = { from: Math.max(d.now - WINDOW_MS, Date.parse(d.status.startedAt) || 0), to: d.now };
  const charts = list.map((f) => {
    const h = d.history.latency(kind, f.name, d.now);
    const rates = kind === 'route' ? d.history.rates(f.name) : undefined;
    return html`<figure data-name="${f.name}"><figcaption>${f.name}${rates ? html` ${rateChart(rates.points, span)}` : ''}</figcaption>
<div class="pair"><div><span class="what">connect</span>${latencyChart(h.connect, span, `${f.name} connect`)}</div><div><span class="what">first byte</span>${latencyChart(h.ttfb, span, `${f.name} first byte`)}</div></div></figure>`;
  });
  const head = kind === 'route' ? 'ROUTE' : 'UPSTREAM';
  return html`<table class="figures"><thead><tr><th>${head}</th><th>CONN</th><th>ACTIVE</th><th>ERRORS</th><th>CONNECT p50</th><th>p99</th><th>TTFB p50</th><th>p99</th>
${kind === 'route' ? html`<th>DOWN/s</th><th>UP/s</th>` : ''}<th>DOWN</th><th>UP</th></tr></thead><tbody>${rows}</tbody></table>
<p class="note">latencies in ms, last 5 minutes; the charts: <span class="key p50">p50</span> and <span class="key p99">p99</span> every 5 s (every minute before the first page opened)</p>
<div class="charts">${charts}</div>`;
}

function memberStatus(m: HealthGroup['members'][number]): Html {
  const word = m.status === 'up' ? (m.slow ? 'up, slow' : 'up') : m.status;
  return html`<span class="status ${m.status}${m.slow ? ' slow' : ''}">${word}</span>`;
}

function lastCheck(m: HealthGroup['members'][number], now: number): string {
  if (!m.lastCheck) return 'not checked yet';
  return `${m.lastCheck.ok ? 'ok' : 'failed'} ${duration((now - m.lastCheck.at) / 1000)} ago${m.lastCheck.error ? `: ${m.lastCheck.error}` : ''}`;
}

/** groups (or mirrors): the current choice and why, each member's health; a mirror's upstreams with what they served */
function health(groups: HealthGroup[], now: number, none: string): Html {
  if (!groups.length) return html`<p class="none">${none}</p>`;
  return html`${groups.map((g) => {
    const counted = g.members.some((m) => m.counters);
    const rows = g.members.map((m) => {
      const c = m.counters;
      const served = c ? (c.hits ?? 0) + (c.misses ?? 0) : 0;
      const traffic = c ? html`<td class="n">${served ? `${Math.round(((c.hits ?? 0) / served) * 100)}%` : '-'}</td><td class="n">${c.hits ?? 0}/${c.misses ?? 0}</td><td class="n">${bytes(c.bytes ?? 0)}</td><td class="n">${c.behind ?? 0}</td><td class="n">${c.bad ?? 0}</td>` : '';
      return html`<tr class="${m.name === g.current ? 'current' : ''}"><th scope="row">${m.name}${m.name === g.current ? html` <span class="chosen">in use</span>` : ''}</th><td>${memberStatus(m)}</td>
<td class="n">${m.recentLatencyMs === null ? '-' : `${m.recentLatencyMs} ms`}</td><td>${errorCounts(m.errors)}</td>${traffic}<td>${lastCheck(m, now)}</td></tr>`;
    });
    return html`<article class="group" data-group="${g.name}"><header><h3>${g.name} <span class="type">(${g.type})</span></h3>
<p>using <strong class="using">${g.current ?? '-'}</strong>: <span class="why">${g.why}</span></p><button type="button" data-check="${g.name}">check now</button></header>
<table><thead><tr><th>MEMBER</th><th>STATUS</th><th>CHECK</th><th>ERRORS</th>${counted ? html`<th>HIT RATE</th><th>HIT/MISS</th><th>BYTES</th><th>BEHIND</th><th>BAD</th>` : ''}<th>LAST CHECK</th></tr></thead>
<tbody>${rows}</tbody></table></article>`;
  })}`;
}

function rules(s: Stats): Html {
  const hit = s.rules.filter((r) => r.hits > 0);
  if (!hit.length) return html`<p class="none">no rule has matched yet</p>`;
  return html`<table><thead><tr><th>#</th><th>RULE</th><th>HITS</th></tr></thead><tbody>${hit.map((r) =>
    html`<tr><td class="n">${r.index + 1}</td><td><code>${r.rule}</code></td><td class="n">${r.hits}</td></tr>`)}</tbody></table>`;
}

/** the last failures by class: how many, the latest, and what to do; then each of them */
function errors(e: RecentErrors, now: number): Html {
  if (!e.errors.length) return html`<p class="none">no failures since proxyd started</p>`;
  const byClass = new Map<string, RecentErrors['errors']>();
  for (const x of e.errors) byClass.set(x.class, [...(byClass.get(x.class) ?? []), x]);
  const ago = (at: string) => `${duration((now - Date.parse(at)) / 1000)} ago`;
  const classes = [...byClass].map(([cls, list]) => {
    const last = list[0]!;
    return html`<tr data-class="${cls}"><th scope="row">${cls}</th><td class="n">${list.length}</td><td>${ago(last.at)}</td><td>${last.route}</td><td>${last.target}</td>
<td class="reason">${last.reason}</td><td class="advice">${adviceFor(cls, last.hop)}</td></tr>`;
  });
  const each = e.errors.map((x) => html`<tr><td>${ago(x.at)}</td><td>${x.class}${x.hop ? ` at ${x.hop}` : ''}</td><td>${x.route}</td><td>${x.target}</td><td>${x.client}</td><td class="reason">${x.reason}</td></tr>`);
  return html`<table class="classes"><thead><tr><th>CLASS</th><th>LAST ${e.errors.length}</th><th>LATEST</th><th>ROUTE</th><th>TARGET</th><th>REASON</th><th>WHAT TO DO</th></tr></thead><tbody>${classes}</tbody></table>
<details><summary>each of the last ${e.errors.length} failures</summary><table><thead><tr><th>WHEN</th><th>CLASS</th><th>ROUTE</th><th>TARGET</th><th>CLIENT</th><th>REASON</th></tr></thead><tbody>${each}</tbody></table></details>`;
}

/** the open connections, newest first, a page at a time, with a button that closes one */
function connections(c: Connections, view: ConnectionView): Html {
  const needle = view.filter.toLowerCase();
  const newest = [...c.connections].sort((a, b) => b.id - a.id);
  const matching = needle ? newest.filter((x) => [x.client, x.target, x.route, x.rule].some((f) => f.toLowerCase().includes(needle))) : newest;
  const pages = Math.max(1, Math.ceil(matching.length / PAGE_SIZE));
  const page = Math.min(Math.max(1, view.page), pages);
  const shown = matching.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
  const link = (p: number, text: string) => {
    const q = new URLSearchParams({ ...(view.filter ? { filter: view.filter } : {}), page: String(p) });
    return html`<a href="?${q.toString()}" data-page="${p}">${text}</a>`;
  };
  const count = `${matching.length} open${needle ? ` matching "${view.filter}" of ${c.connections.length}` : ''}`;
  const pager = pages > 1 ? html`<nav class="pager">${page > 1 ? link(page - 1, '← newer') : ''} page ${page} of ${pages} ${page < pages ? link(page + 1, 'older →') : ''}</nav>` : '';
  if (!shown.length) return html`<p class="count">${count}</p>`;
  const rows = shown.map((x) => html`<tr data-id="${x.id}"><td class="n">${x.id}</td><td>${x.client}</td><td>${x.target}</td><td>${x.route}</td><td><code>${x.rule}</code></td><td>${x.mode}</td>
<td class="n">${duration(x.ageMs / 1000)}</td><td class="n">${bytes(x.up)}</td><td class="n">${bytes(x.down)}</td><td><button type="button" data-close="${x.id}" aria-label="close connection ${x.id}">close</button></td></tr>`);
  return html`<p class="count">${count}</p>${pager}<table><thead><tr><th>ID</th><th>CLIENT</th><th>TARGET</th><th>ROUTE</th><th>RULE</th><th>MODE</th><th>AGE</th><th>UP</th><th>DOWN</th><th></th></tr></thead>
<tbody>${rows}</tbody></table>${pager}`;
}
