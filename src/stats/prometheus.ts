// The Prometheus text exposition (format 0.0.4) of the same figures the JSON reports show.
import type { Figures } from './figures.js';
import type { Histogram } from './histogram.js';
import type { RuleHits } from './stats.js';

/** `le` bounds of the latency histograms: powers of two from 128 µs to about 2 minutes, in µs */
const BOUNDS_US = Array.from({ length: 21 }, (_, i) => 2 ** (i + 7));

interface MetricsInput {
  version: string;
  uptimeS: number;
  listeners: Array<{ name: string; connections: number }>;
  routes: Figures[];
  upstreams: Figures[];
  rules: RuleHits[];
  /** the health-checked groups (proxy groups, mirrors) and the state of each member */
  health: Array<{ name: string; members: Array<{ name: string; status: 'unknown' | 'up' | 'down' }> }>;
}

export function renderMetrics(m: MetricsInput): string {
  const out: string[] = [];
  const family = (name: string, type: 'counter' | 'gauge' | 'histogram', help: string, samples: string[]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples);
  };
  family('proxyd_build_info', 'gauge', 'The running version.', [sample('proxyd_build_info', { version: m.version }, 1)]);
  family('proxyd_uptime_seconds', 'gauge', 'Seconds since the daemon started.', [sample('proxyd_uptime_seconds', {}, m.uptimeS)]);
  family('proxyd_listener_connections', 'gauge', 'Open connections per listener: its clients and the upstream connections made for them.',
    m.listeners.map((l) => sample('proxyd_listener_connections', { listener: l.name }, l.connections)));
  figures(family, 'route', m.routes);
  figures(family, 'upstream', m.upstreams);
  family('proxyd_rule_hits_total', 'counter', 'Connections and requests each rule matched.',
    m.rules.map((r) => sample('proxyd_rule_hits_total', { index: String(r.index), rule: r.rule, target: r.target }, r.hits)));
  const members = m.health.flatMap((g) => g.members.map((x) => ({ group: g.name, member: x.name, status: x.status })));
  family('proxyd_member_up', 'gauge', 'Health of each group member: 1 up, 0 down, -1 not checked yet.',
    members.map((x) => sample('proxyd_member_up', { group: x.group, member: x.member }, x.status === 'up' ? 1 : x.status === 'down' ? 0 : -1)));
  return `${out.join('\n')}\n`;
}

type Family = (name: string, type: 'counter' | 'gauge' | 'histogram', help: string, samples: string[]) => void;

function figures(family: Family, what: 'route' | 'upstream', list: Figures[]): void {
  const p = `proxyd_${what}`;
  const by = (f: Figures) => ({ [what]: f.name });
  const of = what === 'route' ? 'route (rule target)' : 'upstream (a proxy, or a group member)';
  family(`${p}_connections_total`, 'counter', `Connections and requests per ${of}.`, list.map((f) => sample(`${p}_connections_total`, by(f), f.connections)));
  family(`${p}_active_connections`, 'gauge', `Connections open now per ${of}.`, list.map((f) => sample(`${p}_active_connections`, by(f), f.active)));
  family(`${p}_errors_total`, 'counter', `Failed connections per ${of}, by error class.`,
    list.flatMap((f) => Object.entries(f.errors).map(([cls, n]) => sample(`${p}_errors_total`, { ...by(f), class: cls }, n))));
  family(`${p}_bytes_total`, 'counter', `Bytes carried per ${of}: up is client to upstream, down the other way.`,
    list.flatMap((f) => [sample(`${p}_bytes_total`, { ...by(f), direction: 'up' }, f.bytesUp), sample(`${p}_bytes_total`, { ...by(f), direction: 'down' }, f.bytesDown)]));
  family(`${p}_connect_seconds`, 'histogram', `Time to connect per ${of}.`, list.flatMap((f) => histogram(`${p}_connect_seconds`, by(f), f.connect.lifetime)));
  family(`${p}_ttfb_seconds`, 'histogram', `Time from the client's request to the first byte of the answer per ${of}.`,
    list.flatMap((f) => histogram(`${p}_ttfb_seconds`, by(f), f.ttfb.lifetime)));
}

function histogram(name: string, labels: Record<string, string>, h: Histogram): string[] {
  const counts = h.cumulative(BOUNDS_US);
  return [
    ...BOUNDS_US.map((b, i) => sample(`${name}_bucket`, { ...labels, le: String(b / 1e6) }, counts[i]!)),
    sample(`${name}_bucket`, { ...labels, le: '+Inf' }, h.count),
    sample(`${name}_sum`, labels, h.sumUs / 1e6),
    sample(`${name}_count`, labels, h.count),
  ];
}

function sample(name: string, labels: Record<string, string>, value: number): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return `${name}${pairs.length ? `{${pairs.join(',')}}` : ''} ${Number.isFinite(value) ? value : 'NaN'}`;
}
