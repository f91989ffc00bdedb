// What the control socket answers, as zod schemas: the daemon's reports are typed by them, and
// proxyctl checks every answer against them (a daemon of another version says so plainly). The
// statistics' schemas are made from stats/'s own report types and checked against them (satisfies
// here, exact equality in test/unit/stats.test.ts), so the two cannot drift apart.
import { z } from 'zod';
import { LOOKUP_OUTCOMES, type LookupOutcome } from '../resolver.js';
import { DIRECT_HOST_KINDS } from '../router/direct-hosts.js';
import type { Buckets as BucketsReport, FiguresReport, Latency as LatencyReport, Percentiles as PercentilesReport } from '../stats/figures.js';
import type { RouteFiguresReport, StatsReport } from '../stats/stats.js';

/** milliseconds; null while there is no sample */
const ms = z.number().nonnegative().nullable();

export const Percentiles = z.object({ count: z.number().int().nonnegative(), p50: ms, p90: ms, p99: ms, max: ms }) satisfies z.ZodType<PercentilesReport>;
export type Percentiles = z.infer<typeof Percentiles>;

/** over the daemon's lifetime and over the last 5 minutes */
export const Latency = z.object({ lifetime: Percentiles, recent: Percentiles }) satisfies z.ZodType<LatencyReport>;
export type Latency = z.infer<typeof Latency>;

export const Figures = z.object({
  name: z.string(),
  connections: z.number().int().nonnegative(),
  active: z.number().int().nonnegative(),
  errors: z.record(z.string(), z.number().int().nonnegative()),
  bytesUp: z.number().nonnegative(),
  bytesDown: z.number().nonnegative(),
  connectMs: Latency,
  ttfbMs: Latency,
}) satisfies z.ZodType<FiguresReport>;
export type Figures = z.infer<typeof Figures>;

/** recent (5 minutes) histogram: [upper bound ms, count] of its non-empty buckets */
export const Buckets = z.array(z.tuple([z.number().positive(), z.number().int().positive()])) satisfies z.ZodType<BucketsReport>;

export const RouteFigures = Figures.extend({ connectBuckets: Buckets, ttfbBuckets: Buckets }) satisfies z.ZodType<RouteFiguresReport>;

const HealthMember = z.object({
  name: z.string(),
  status: z.enum(['unknown', 'up', 'down']),
  slow: z.boolean(),
  lastCheck: z.object({ at: z.number(), ok: z.boolean(), latencyMs: z.number().optional(), error: z.string().optional() }).nullable(),
  recentLatencyMs: z.number().nullable(),
  errors: z.record(z.string(), z.number().int().nonnegative()),
  /** a mirror upstream's hits, misses, bytes, times behind the origin, bad artifacts */
  counters: z.record(z.string(), z.number().nonnegative()).optional(),
});

/** a health-checked choice: a proxy group and its members, or a mirror and its upstreams (the same shape) */
export const HealthGroup = z.object({
  name: z.string(),
  type: z.string(),
  current: z.string().nullable(),
  why: z.string(),
  members: z.array(HealthMember),
});
export type HealthGroup = z.infer<typeof HealthGroup>;

export const Listener = z.object({ name: z.string(), address: z.string(), connections: z.number().int().nonnegative() });

/** one CA of proxyd's local authority (proxyctl ca show) */
const CaCertificate = z.object({
  subject: z.string(),
  /** the host names it may sign: its permitted dNSName subtrees (their subdomains excluded) */
  names: z.array(z.string()),
  /** the configured names it signs leaves for now */
  serves: z.array(z.string()),
  notBefore: z.string(),
  notAfter: z.string(),
  /** SHA-256 of the certificate, AA:BB:… */
  fingerprint: z.string(),
  path: z.string(),
  pem: z.string(),
  /** made while an older CA was in use (names were added, or the older one nears its end): tools that trusted that one must trust this one too */
  mustTrust: z.boolean(),
});

/** GET /ca: every CA in use, newest first */
export const CaReport = z.object({
  dir: z.string(),
  /** the certificates only (for Go's SSL_CERT_DIR) */
  certsDir: z.string(),
  /** every CA in use in one PEM file: what tools are told to trust */
  bundle: z.string(),
  cas: z.array(CaCertificate),
});
export type CaReport = z.infer<typeof CaReport>;

export const Status = z.object({
  version: z.string(),
  pid: z.number().int().positive(),
  startedAt: z.string(),
  uptimeS: z.number().nonnegative(),
  configFile: z.string(),
  rules: z.number().int().nonnegative(),
  control: z.string(),
  listeners: z.array(Listener),
  routes: z.array(Figures),
  upstreams: z.array(HealthGroup),
  mirrors: z.array(HealthGroup),
  /** the local CA, when a mirror intercepts */
  ca: CaReport.optional(),
  /** the dashboard's address (http://127.0.0.1:9090/), when it is on; its token is in a file beside the control socket */
  ui: z.string().optional(),
});
export type Status = z.infer<typeof Status>;

export const Stats = z.object({
  at: z.string(),
  routes: z.array(RouteFigures),
  upstreams: z.array(RouteFigures),
  rules: z.array(z.object({ index: z.number().int(), rule: z.string(), target: z.string(), hits: z.number().int().nonnegative() })),
}) satisfies z.ZodType<StatsReport>;
export type Stats = z.infer<typeof Stats>;

export const Health = z.object({ groups: z.array(HealthGroup) });
export type Health = z.infer<typeof Health>;

export const RouteExplanation = z.object({
  target: z.string(),
  route: z.string(),
  rule: z.string(),
  index: z.number().int(),
  detail: z.string().optional(),
  tried: z.array(z.object({ index: z.number().int(), rule: z.string(), reason: z.string() })),
  omitted: z.number().int().nonnegative(),
  resolved: z.array(z.string()).optional(),
  addresses: z.array(z.string()).optional(),
  /** when the name's lookup failed: how (nxdomain, timeout, refused …) and a line saying so */
  lookup: z.object({ outcome: z.enum(LOOKUP_OUTCOMES as [LookupOutcome, ...LookupOutcome[]]), reason: z.string() }).optional(),
  /** what the route is: direct, reject, socks5, http, a group type, a mirror kind */
  kind: z.string(),
});
export type RouteExplanation = z.infer<typeof RouteExplanation>;

const Connection = z.object({
  id: z.number().int().positive(),
  inbound: z.enum(['socks5', 'http']),
  mode: z.enum(['tunnel', 'forward', 'respond']),
  client: z.string(),
  user: z.string().optional(),
  target: z.string(),
  route: z.string(),
  rule: z.string(),
  ageMs: z.number().nonnegative(),
  up: z.number().nonnegative(),
  down: z.number().nonnegative(),
});
export const Connections = z.object({ connections: z.array(Connection) });
export type Connections = z.infer<typeof Connections>;

export const Closed = z.object({ closed: z.number().int().positive() });

const ConfigProblem = z.object({ file: z.string(), line: z.number().int(), col: z.number().int(), message: z.string(), text: z.string() });

export const Reload = z.object({
  ok: z.boolean(),
  dryRun: z.boolean(),
  file: z.string(),
  errors: z.array(ConfigProblem),
  /** what the new config changes, one line each ("rules: 12 → 14", "proxy overseas: changed", "listen.http: 127.0.0.1:8080 → 127.0.0.1:8081") */
  changes: z.array(z.string()),
});
export type Reload = z.infer<typeof Reload>;

export const ErrorReply = z.object({ error: z.string() });

/** GET /errors: the last failed connections and requests, newest first, as their log lines have them */
export const RecentErrors = z.object({
  errors: z.array(z.object({
    at: z.string(),
    id: z.number().int().positive(),
    class: z.string(),
    hop: z.string().optional(),
    /** the route, or a group and its member (github-out/overseas) */
    route: z.string(),
    rule: z.string().optional(),
    target: z.string(),
    client: z.string(),
    reason: z.string(),
  })),
});
export type RecentErrors = z.infer<typeof RecentErrors>;

/** How one route's connection to a target went (proxyctl doctor). */
const PROBE_STATES = ['open', 'refused', 'filtered', 'unreachable', 'reset', 'blocked', 'dns', 'rejected', 'failed', 'skipped'] as const;
export type ProbeState = (typeof PROBE_STATES)[number];

const LookupFailureReport = z.object({ outcome: z.enum(LOOKUP_OUTCOMES as [LookupOutcome, ...LookupOutcome[]]), reason: z.string() });

/** one way of looking a name up: its addresses, or how it failed */
export const DoctorLookup = z.object({
  addresses: z.array(z.string()),
  failure: LookupFailureReport.optional(),
  ms: z.number().nonnegative(),
});
export type DoctorLookup = z.infer<typeof DoctorLookup>;

export const DoctorDns = z.object({
  /** proxyd's `hosts:` override of the name */
  override: z.string().optional(),
  /** the system resolver as the daemon sees it (getaddrinfo: /etc/hosts, then DNS) */
  system: DoctorLookup,
  /** the DNS servers of resolv.conf, asked directly (A and AAAA), past /etc/hosts */
  server: DoctorLookup,
  /** answers no public name should have (0.0.0.0, loopback, private, shared, link-local ranges), with their range */
  bogons: z.array(z.object({ address: z.string(), range: z.string() })),
  /** what does not agree, or looks poisoned, one line each */
  notes: z.array(z.string()),
});
export type DoctorDns = z.infer<typeof DoctorDns>;

export const DoctorTls = z.object({
  /** wrong-name: valid, for another name; untrusted: issued by a CA this machine does not trust (a middlebox on the path) */
  state: z.enum(['ok', 'wrong-name', 'untrusted', 'expired', 'invalid']),
  ms: z.number().nonnegative(),
  subject: z.string(),
  issuer: z.string(),
  /** the names it is valid for (subjectAltName, else the subject's CN) */
  names: z.array(z.string()),
  validTo: z.string(),
  reason: z.string().optional(),
});
export type DoctorTls = z.infer<typeof DoctorTls>;

export const DoctorHttp = z.object({
  status: z.number().int().optional(),
  /** from the request sent to the first byte of the answer */
  ttfbMs: z.number().nonnegative().optional(),
  error: z.string().optional(),
});
export type DoctorHttp = z.infer<typeof DoctorHttp>;

export const DoctorRoute = z.object({
  /** DIRECT, a proxy, or a mirror */
  route: z.string(),
  /** direct, socks5, http, a mirror kind */
  kind: z.string(),
  state: z.enum(PROBE_STATES),
  /** the state in words: "filtered (no answer in 5 s)", "open 180 ms" */
  summary: z.string(),
  /** it carries the target: connected, and for https targets TLS valid for the name and an HTTP answer */
  works: z.boolean(),
  connectMs: z.number().nonnegative().optional(),
  /** the address DIRECT connected to */
  address: z.string().optional(),
  /** the first line a server sent unasked (an SSH banner) */
  banner: z.string().optional(),
  /** why it failed: the class of src/errors.ts, the hop that failed, the reason */
  error: z.object({ class: z.string(), hop: z.string().optional(), reason: z.string() }).optional(),
  /** an upstream that reached the target by its name (its own DNS answered) */
  remoteDns: z.boolean().optional(),
  tls: DoctorTls.optional(),
  http: DoctorHttp.optional(),
  /** a mirror's route: the upstream that was asked */
  upstream: z.string().optional(),
});
export type DoctorRoute = z.infer<typeof DoctorRoute>;

/** the route the daemon takes for a target today */
export const DoctorToday = z.object({
  /** chosen by a rule, by a mirror's interception, or the route a mirror or proxy is configured to reach it by (via) */
  by: z.enum(['rule', 'intercept', 'mirror', 'proxy']),
  route: z.string(),
  kind: z.string(),
  /** the rule line, and its 0-based index (-1: no rule matched) */
  rule: z.string().optional(),
  index: z.number().int().optional(),
  /** what would carry it now: a group's member (group/member), a mirror's fallback */
  carrier: z.string().optional(),
  works: z.boolean(),
  /** in words: "ok", "fails", "ok after overseas fails" */
  note: z.string(),
});
export type DoctorToday = z.infer<typeof DoctorToday>;

export const DoctorTarget = z.object({
  /** as given, or as configured (a mirror upstream's URL) */
  target: z.string(),
  host: z.string(),
  port: z.number().int(),
  /** default, given, mirror NAME (an upstream of it), proxy NAME (its server) */
  source: z.string(),
  /** TLS and an HTTP request are part of the probe (port 443, or an https:// URL) */
  https: z.boolean(),
  /** absent for an IP address */
  dns: DoctorDns.optional(),
  routes: z.array(DoctorRoute),
  today: DoctorToday,
  /** a route that works where today's does not, or much faster */
  better: z.object({ route: z.string(), why: z.string() }).optional(),
  ok: z.boolean(),
  /** the one line: each route's state, then today's rule and route */
  verdict: z.string(),
  /** what to change, one line each */
  fixes: z.array(z.string()),
});
export type DoctorTarget = z.infer<typeof DoctorTarget>;

/**
 * POST /doctor: the daemon's probes of each target over each route. proxyctl prints this report;
 * the settings audit (the user's own git, Go, npm, pip, ssh and environment, which only proxyctl
 * can read) joins it on proxyctl's side as a further section: DoctorReport.extend({ audit: … }).
 */
export const DoctorReport = z.object({
  at: z.string(),
  /** each step's limit (a lookup, a connect, a TLS handshake, an HTTP answer) */
  timeoutMs: z.number().int().positive(),
  /** the whole run's; a probe not done by then is `skipped` */
  deadlineMs: z.number().int().positive(),
  elapsedMs: z.number().nonnegative(),
  targets: z.array(DoctorTarget),
  /** every target's route today works */
  ok: z.boolean(),
});
export type DoctorReport = z.infer<typeof DoctorReport>;

// GET /clients (control/client-settings.ts makes it)
export const ClientMirror = z.object({
  name: z.string(),
  /** goproxy | sumdb | npm | pypi | generic */
  kind: z.string(),
  /** its endpoint on the HTTP listener */
  path: z.string(),
  origins: z.array(z.string()),
  intercept: z.boolean(),
  /** the checksum database's key (goproxy, sumdb), or off */
  sumdbKey: z.string(),
});
export type ClientMirror = z.infer<typeof ClientMirror>;

export const ClientSettings = z.object({
  /** both listeners require a user name and password */
  auth: z.boolean(),
  mirrors: z.array(ClientMirror),
  direct: z.array(z.object({ value: z.string(), kind: z.enum(DIRECT_HOST_KINDS), rule: z.string() })),
  /** DIRECT names and networks left out of `direct` (past its limit) */
  directOmitted: z.number().int().nonnegative(),
});
export type ClientSettings = z.infer<typeof ClientSettings>;

// POST /cache/verify: every cached artifact hashed again
export const CacheVerify = z.object({
  dir: z.string(),
  checked: z.number().int().nonnegative(),
  bytes: z.number().nonnegative(),
  seconds: z.number().nonnegative(),
  /** entries whose bytes were not the ones stored: quarantined */
  bad: z.array(z.object({ key: z.string(), problem: z.string() })),
});
export type CacheVerify = z.infer<typeof CacheVerify>;
