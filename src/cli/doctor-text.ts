// How proxyctl shows doctor's report: each target's verdict line, then what was seen on the way
// (DNS, each route that connected: TLS, HTTP, a banner) and the fixes, then a summary.
import type { DoctorDns, DoctorReport, DoctorRoute, DoctorTarget } from '../control/api.js';
import { width, type Style } from './format.js';

export function doctorText(r: DoctorReport, style: Style): string {
  const blocks = r.targets.map((t) => targetText(t, style));
  const failing = r.targets.filter((t) => !t.ok).length;
  const summary = `${r.targets.length} target(s): ${r.targets.length - failing} ok, ${failing ? style.red(`${failing} without a working route today`) : '0 failing'}` +
    style.dim(`  (${(r.elapsedMs / 1000).toFixed(1)} s; each step ${r.timeoutMs / 1000} s at most)`);
  return [...blocks, summary].join('\n\n');
}

function targetText(t: DoctorTarget, style: Style): string {
  const head = t.verdict.startsWith(t.target) ? t.verdict.slice(t.target.length) : ` ${t.verdict}`;
  const lines = [`${t.ok ? style.green(style.bold(t.target)) : style.red(style.bold(t.target))}${head}`];
  const details: Array<[string, string]> = [];
  if (t.source !== 'default' && t.source !== 'given') details.push(['for', t.source]);
  if (t.dns) {
    details.push(['dns', dnsText(t.dns)]);
    for (const note of t.dns.notes) details.push(['dns', style.yellow(note)]);
  }
  // that an upstream resolved the name matters when the local lookup went wrong
  const localDnsWrong = t.dns !== undefined && (!t.dns.system.addresses.length || t.dns.notes.length > 0);
  for (const route of t.routes) {
    const seen = routeText(route, localDnsWrong);
    if (seen) details.push([route.kind === 'direct' ? 'DIRECT' : route.route, seen]);
  }
  for (const fix of t.fixes) details.push(['fix', style.bold(fix)]);
  const labelWidth = Math.max(...details.map(([label]) => width(label)));
  for (const [label, text] of details) lines.push(`    ${label.padEnd(labelWidth)}  ${text}`);
  return lines.join('\n');
}

function dnsText(d: DoctorDns): string {
  const parts: string[] = [];
  if (d.override !== undefined) parts.push(`hosts: ${d.override}`);
  const sys = d.system.addresses.length ? `${d.system.addresses.join(', ')} (system, ${d.system.ms} ms)` : `system resolver fails: ${d.system.failure?.reason}`;
  parts.push(sys);
  const same = d.server.addresses.length && d.server.addresses.every((a) => d.system.addresses.includes(a)) && d.system.addresses.every((a) => d.server.addresses.includes(a));
  if (same) parts.push('the DNS server agrees');
  else parts.push(d.server.addresses.length ? `the DNS server: ${d.server.addresses.join(', ')}` : `the DNS server: ${d.server.failure?.outcome ?? 'no address'}`);
  return parts.join(' · ');
}

/** what a route that connected showed: its address, a banner, TLS, HTTP; empty for one that did not connect */
function routeText(r: DoctorRoute, remoteDnsMatters: boolean): string {
  const parts: string[] = [];
  if (r.address) parts.push(`connected to ${r.address}`);
  if (r.upstream) parts.push(`from ${r.upstream}`);
  if (r.remoteDns && remoteDnsMatters) parts.push('the upstream resolved the name');
  if (r.banner) parts.push(`says "${r.banner}"`);
  if (r.tls) parts.push(r.tls.state === 'ok' ? `TLS ok (${r.tls.names.slice(0, 2).join(', ')}; issued by ${r.tls.issuer})` : `TLS ${r.tls.state}: ${r.tls.reason}`);
  if (r.http) parts.push(r.http.status !== undefined ? `HTTP ${r.http.status}, first byte in ${r.http.ttfbMs} ms` : `HTTP: ${r.http.error}`);
  // the states that the summary does not already say in full
  if (r.error && ['failed', 'blocked', 'rejected'].includes(r.state)) parts.push(r.error.reason);
  return parts.join(' · ');
}
