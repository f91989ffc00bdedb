// A target's diagnosis in words: the one-line verdict (each route's state, then the route taken
// today and whether it works), the better route when there is one, and what to change.
import { isIP } from 'node:net';
import type { DoctorDns, DoctorRoute, DoctorToday } from '../control/api.js';
import { BLOCKED_ADVICE } from '../errors.js';
import type { PlannedTarget } from './targets.js';
import { millis } from './words.js';

/** A route's time to carry an answer: connect, TLS handshake and time to first byte. */
function cost(r: DoctorRoute): number {
  return (r.connectMs ?? 0) + (r.tls?.ms ?? 0) + (r.http?.ttfbMs ?? 0);
}

/** A working route when today's fails; or one that answers in at most half the time, and 100 ms sooner. */
export function betterRoute(routes: DoctorRoute[], today: DoctorToday, current: string | undefined): { route: string; why: string } | undefined {
  const working = routes.filter((r) => r.works);
  if (!working.length) return undefined;
  const best = working.reduce((a, b) => (cost(b) < cost(a) ? b : a));
  if (!today.works) return { route: best.route, why: `it works (${millis(cost(best))}) where ${today.route} fails` };
  const now = routes.find((r) => r.route === current);
  if (!now || best.route === now.route) return undefined;
  if (cost(best) * 2 > cost(now) || cost(now) - cost(best) < 100) return undefined;
  return { route: best.route, why: `${millis(cost(best))} against ${millis(cost(now))} through ${now.route}` };
}

export function verdictLine(t: PlannedTarget, routes: DoctorRoute[], today: DoctorToday, mirrors: ReadonlySet<string>): string {
  const parts = routes.map((r) => `${r.kind === 'direct' ? 'DIRECT' : mirrors.has(r.route) ? `mirror ${r.route}` : `via ${r.route}`} ${r.summary}`);
  return `${t.text}  ${[...parts, todayWords(today)].join(' · ')}`;
}

function todayWords(today: DoctorToday): string {
  const to = `${today.carrier ?? today.route} (${today.note})`;
  switch (today.by) {
    case 'rule': return `${today.index !== undefined && today.index >= 0 ? `rule ${ruleShown(today.rule ?? '')}` : 'no rule'} → ${to}`;
    case 'intercept': return `mirror ${today.route} intercepts it → ${to}`;
    case 'mirror': return `its mirror reaches it via ${to}`;
    case 'proxy': return `the proxy reaches its server ${today.route === 'DIRECT' && !today.carrier ? `DIRECT (${today.note})` : `via ${to}`}`;
  }
}

/** a rule line without its target: `DOMAIN-SUFFIX,github.com`, `MATCH` */
export function ruleShown(rule: string): string {
  const fields = rule.split(',').map((f) => f.trim());
  if (fields[fields.length - 1] === 'no-resolve') fields.pop();
  return fields.slice(0, -1).join(',') || fields[0]!;
}

interface FixInput {
  t: PlannedTarget;
  today: DoctorToday;
  routes: DoctorRoute[];
  dns: DoctorDns | undefined;
  better: { route: string; why: string } | undefined;
  /** the name a rule should send it to for `better.route`: a working group that has it as a member, or itself */
  suggested: string | undefined;
  /** the routes that are mirrors */
  mirrors: ReadonlySet<string>;
  /** the dialled routes today's route is made of */
  todayLeaves: ReadonlySet<string>;
}

export function fixesFor(f: FixInput): string[] {
  const { t, today, routes, dns, better, suggested } = f;
  const fixes: string[] = [];
  if (better && suggested) {
    const faster = today.works ? ` (faster: ${better.why})` : '';
    if (f.mirrors.has(better.route)) fixes.push(`intercept: true on mirror ${better.route}, so that it answers for ${t.target.host} from its upstreams${faster}`);
    else if (today.by === 'rule') fixes.push(`add the rule ${ruleFor(t, suggested)} ${today.index !== undefined && today.index >= 0 ? `before rule ${today.index + 1} (${today.rule})` : 'to rules:'}${faster}`);
    else if (today.by === 'intercept') fixes.push(`set via: ${suggested} on mirror ${today.route}${faster}`);
    else fixes.push(`set via: ${suggested} on ${today.by} ${t.reachedBy?.name}${faster}`);
  }
  if (today.works) return fixes;
  for (const r of routes) {
    if (r.state === 'failed' && r.error?.hop === 'upstream' && f.todayLeaves.has(r.route)) fixes.push(`proxy ${r.route} itself fails: ${r.error.reason}`);
  }
  if (better) return fixes;
  const all = (...states: string[]) => routes.length > 0 && routes.every((r) => states.includes(r.state));
  if (dns?.bogons.length) {
    fixes.push(`the local DNS answer for ${t.target.host} (${dns.bogons.map((b) => b.address).join(', ')}) looks poisoned: route it through an upstream proxy, which resolves names itself, or set hosts: { ${t.target.host}: ADDRESS }`);
  } else if (dns && !dns.system.addresses.length && dns.override === undefined) {
    fixes.push(`${t.target.host} does not resolve: ${dns.system.failure?.reason}; check the DNS servers in /etc/resolv.conf, or set hosts: { ${t.target.host}: ADDRESS }`);
  }
  if (routes.some((r) => r.state === 'blocked')) fixes.push(`a local firewall or sandbox refuses proxyd's connect: ${BLOCKED_ADVICE}`);
  const untrusted = routes.filter((r) => r.tls?.state === 'untrusted');
  if (untrusted.length && untrusted.length === routes.length) {
    fixes.push(`every route's TLS for ${t.target.host} is answered by ${untrusted[0]!.tls!.issuer}: a middlebox intercepts it; use a proxy outside it, or trust that CA if it is your organisation's`);
  }
  if (t.target.port === 22 && t.target.host === 'github.com' && all('filtered', 'refused', 'reset')) {
    fixes.push('port 22 is closed on every route: ssh to GitHub over port 443 (Hostname ssh.github.com, Port 443 for github.com in ~/.ssh/config)');
  }
  if (fixes.length) return fixes;
  if (all('refused')) fixes.push(`${t.target.host} refuses port ${t.target.port} on every route: nothing listens there (is the port right, is the service up?)`);
  else if (all('filtered')) fixes.push(`no route gets an answer from ${t.text}: something drops it on every path; add an upstream proxy that reaches it (proxies:) and a rule that sends ${t.target.host} there`);
  else if (all('reset')) fixes.push(`${t.text} resets the connection on every route: the server, or a firewall in front of it, closes it; try another upstream proxy`);
  else if (all('unreachable')) fixes.push(`no route has a path to ${t.text} (host or network unreachable): add an upstream proxy that has one`);
  else if (routes.length && routes.every((r) => r.tls?.state === 'wrong-name')) fixes.push(`${t.target.host}'s certificate is for ${routes[0]!.tls!.names.slice(0, 3).join(', ')} on every route: is ${t.target.host} the right name?`);
  else fixes.push(`no route reaches ${t.text}: see each route's state above`);
  return fixes;
}

function ruleFor(t: PlannedTarget, route: string): string {
  const family = isIP(t.target.host);
  if (family === 4) return `IP-CIDR,${t.target.host}/32,${route}`;
  if (family === 6) return `IP-CIDR6,${t.target.host}/128,${route}`;
  return `DOMAIN-SUFFIX,${t.target.host},${route}`;
}
