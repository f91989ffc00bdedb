// The control socket's reports, built from the daemon's parts (engine, stats, state, listeners).
import { formatTarget, parseHostPort } from '../address/index.js';
import type { Config } from '../config/index.js';
import type { Engine } from '../engine/engine.js';
import type { ArtifactCache } from '../mirror/cache.js';
import { isHealthChecked, type HealthState, type Outbound } from '../outbound/index.js';
import { renderMetrics } from '../stats/prometheus.js';
import { VERSION } from '../version.js';
import type { CaReport, Connections, Health, HealthGroup, RecentErrors, Reload, RouteExplanation, Status } from './api.js';
import { clientSettings } from './client-settings.js';
import type { ControlHandlers } from './server.js';

interface ReportSources {
  engine: Engine;
  config(): Config;
  startedAt: Date;
  controlPath: string;
  listeners(): Array<{ name: string; address: string; connections: number }>;
  reload(dryRun: boolean): Promise<Reload>;
  ca(): CaReport | { error: string };
  /** the dashboard's address, when it is on */
  ui(): string | undefined;
  /** the mirrors' artifact cache (opened at first use) */
  artifactCache(): Promise<ArtifactCache>;
}

/** `route` without a port asks about HTTPS */
const DEFAULT_ROUTE_PORT = 443;

export function controlHandlers(src: ReportSources): ControlHandlers {
  const { engine } = src;
  const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
  const checked = (want: 'dialer' | 'responder') =>
    [...engine.state.outbounds.values()].filter((o): o is Outbound & { health(): HealthState } => o.kind === want && isHealthChecked(o));
  const health = (want: 'dialer' | 'responder'): Health => ({ groups: checked(want).map((o) => healthGroup(o.name, o.health())).sort(byName) });
  const rules = () => src.config().rules.map((rule) => ({ rule, target: ruleTarget(rule) }));
  const uptimeS = () => Math.round((Date.now() - src.startedAt.getTime()) / 100) / 10;
  return {
    status: (): Status => ({
      version: VERSION,
      pid: process.pid,
      startedAt: src.startedAt.toISOString(),
      uptimeS: uptimeS(),
      configFile: src.config().file,
      rules: src.config().rules.length,
      control: src.controlPath,
      listeners: src.listeners(),
      routes: engine.stats.routes().map((f) => f.report()).sort(byName),
      upstreams: health('dialer').groups,
      mirrors: health('responder').groups,
      ...caOf(src.ca()),
      ...(src.ui() ? { ui: src.ui() } : {}),
    }),
    stats: () => {
      const report = engine.stats.report(rules());
      return { ...report, routes: report.routes.sort(byName), upstreams: report.upstreams.sort(byName) };
    },
    route: async (text): Promise<RouteExplanation> => {
      const target = parseHostPort(text.trim(), DEFAULT_ROUTE_PORT);
      if (!target) throw new RangeError(`route: "${text}" is not HOST[:PORT]`);
      const state = engine.state;
      const explained = await state.router.explain(target, (host) => state.resolver.resolve(host));
      const def = src.config().outbounds.find((d) => d.name === explained.route);
      return { target: formatTarget(target), ...explained, kind: def?.type ?? explained.route.toLowerCase() };
    },
    reload: (dryRun) => src.reload(dryRun),
    connections: (): Connections => {
      const now = Date.now();
      return {
        connections: [...engine.open.values()].map(({ session, route, rule, since }) => ({
          id: session.id,
          inbound: session.inbound,
          mode: session.mode,
          client: `${session.client.address}:${session.client.port}`,
          ...(session.user === undefined ? {} : { user: session.user }),
          target: formatTarget(session.target),
          route,
          rule,
          ageMs: now - since,
          up: session.socket.bytesRead,
          down: session.socket.bytesWritten,
        })),
      };
    },
    errors: (): RecentErrors => ({
      errors: engine.recentErrors.list().map(({ at, ...e }) => ({ at: new Date(at).toISOString(), ...e })),
    }),
    closeConnection: (id) => engine.closeSession(id, 'closed by proxyctl connections --close'),
    ca: src.ca,
    cacheVerify: async () => {
      const cache = await src.artifactCache();
      const started = performance.now();
      const { checked, bytes, bad } = await cache.verify();
      return { dir: cache.stats().dir, checked, bytes, bad, seconds: Math.round(performance.now() - started) / 1000 };
    },
    // loaded when first asked for: a daemon nobody runs doctor on never loads its probes
    doctor: async (targets, timeoutMs, deadlineMs) => {
      const { doctorRequest, runDoctor }: typeof import('../doctor/index.js') = await import('../doctor/index.js');
      return runDoctor({ state: engine.state, definitions: src.config().outbounds }, doctorRequest(targets, timeoutMs, deadlineMs));
    },
    clients: () => clientSettings(src.config()),
    upstreams: () => health('dialer'),
    mirrors: () => health('responder'),
    check: async (name) => {
      const o = engine.state.outbounds.get(name);
      if (!o || !isHealthChecked(o)) return undefined;
      await o.checkNow();
      return healthGroup(name, o.health());
    },
    metrics: () => renderMetrics({
      version: VERSION,
      uptimeS: uptimeS(),
      listeners: src.listeners(),
      routes: engine.stats.routes(),
      upstreams: engine.stats.upstreams(),
      rules: engine.stats.ruleHits(rules()),
      health: [...health('dialer').groups, ...health('responder').groups],
    }),
  };
}

/** the status shows the local CA when there is one */
function caOf(ca: CaReport | { error: string }): { ca?: CaReport } {
  return 'error' in ca ? {} : { ca };
}

function healthGroup(name: string, h: HealthState): HealthGroup {
  return {
    name,
    type: h.type,
    current: h.current ?? null,
    why: h.why,
    members: h.members.map((m) => ({ ...m, lastCheck: m.lastCheck ?? null, recentLatencyMs: m.recentLatencyMs ?? null })),
  };
}

/** the target of a rule line: its last field but for a trailing no-resolve */
function ruleTarget(rule: string): string {
  const fields = rule.split(',').map((f) => f.trim());
  if (fields[fields.length - 1] === 'no-resolve') fields.pop();
  return fields[fields.length - 1]!;
}
