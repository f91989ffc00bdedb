// proxyctl doctor, run by the daemon: for each target, its DNS as the daemon's network answers it,
// each route that could carry it probed through the daemon's own outbounds (so it sees what the
// daemon sees), the route taken today and whether it works, and what to change.
//
//   targets ─► today's route (the router's explain, interception, a mirror's or proxy's via)
//           ─► DNS: hosts override, system resolver, DNS server; bogons          ┐ at most 16 probes
//           ─► each route: DIRECT, every proxy, a mirror standing for the host ─┘ at once, one deadline
//           ─► verdict line, better route, fixes
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { DoctorReport, DoctorRoute, DoctorTarget, DoctorToday } from '../control/api.js';
import type { EngineState } from '../engine/state.js';
import type { OutboundDef } from '../outbound/index.js';
import { probeDns } from './dns.js';
import { Routes, sectionOf } from './routes.js';
import { ProbeSlots } from './slots.js';
import { defaultTargets, givenTargets, type PlannedTarget } from './targets.js';
import { betterRoute, fixesFor, verdictLine } from './verdict.js';

interface DoctorSources {
  /** the engine's state now: router, outbounds, resolver, interception */
  state: EngineState;
  /** the config's proxies, groups and mirrors (their servers, members, upstreams and routes) */
  definitions: readonly OutboundDef[];
}

interface DoctorRequest {
  /** HOST[:PORT] or http(s) URLs; none: the default targets */
  targets: readonly string[];
  /** each step's limit: a lookup, a connect, a TLS handshake, an HTTP answer */
  timeoutMs: number;
  /** the whole run's */
  deadlineMs: number;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_DEADLINE_MS = 30_000;
const TIMEOUT_RANGE_MS = [100, 60_000] as const;
const DEADLINE_RANGE_MS = [1_000, 600_000] as const;
/** more targets than this in one run is a mistake (or a flood), not a diagnosis */
const MAX_TARGETS = 256;

/** A request from the control socket's parameters (milliseconds); a RangeError says what is wrong. */
export function doctorRequest(targets: readonly string[], timeoutMs = DEFAULT_TIMEOUT_MS, deadlineMs = DEFAULT_DEADLINE_MS): DoctorRequest {
  const within = (ms: number, [min, max]: readonly [number, number], what: string) => {
    if (!Number.isInteger(ms) || ms < min || ms > max) throw new RangeError(`doctor: ${what} must be from ${min} to ${max} ms (got ${ms})`);
  };
  within(timeoutMs, TIMEOUT_RANGE_MS, 'the timeout');
  within(deadlineMs, DEADLINE_RANGE_MS, 'the deadline');
  if (targets.length > MAX_TARGETS) throw new RangeError(`doctor: at most ${MAX_TARGETS} targets at a time (got ${targets.length})`);
  return { targets, timeoutMs, deadlineMs };
}

/** Diagnoses every target; a RangeError for a target that is not HOST[:PORT] or a URL. */
export async function runDoctor(src: DoctorSources, req: DoctorRequest): Promise<DoctorReport> {
  const t0 = performance.now();
  const planned = req.targets.length ? givenTargets(req.targets) : defaultTargets(src.definitions, sectionOf);
  const slots = new ProbeSlots(req.deadlineMs);
  const routes = new Routes(src.state, src.definitions, { resolver: src.state.resolver, slots, timeoutMs: req.timeoutMs });
  try {
    const targets = await Promise.all(planned.map((t) => diagnose(t, routes, src.state, req.timeoutMs)));
    return {
      at: new Date().toISOString(),
      timeoutMs: req.timeoutMs,
      deadlineMs: req.deadlineMs,
      elapsedMs: Math.round(performance.now() - t0),
      targets,
      ok: targets.every((t) => t.ok),
    };
  } finally {
    slots.done();
  }
}

async function diagnose(t: PlannedTarget, routes: Routes, state: EngineState, timeoutMs: number): Promise<DoctorTarget> {
  const chosen = await routes.today(t);
  const named = !isIP(t.target.host);
  const override = named ? state.resolver.override(t.target.host) : undefined;
  // a proxy's server is not probed through the proxy itself
  const dialled = routes.dialled.filter((r) => !(t.reachedBy?.by === 'proxy' && r.name === t.reachedBy.name));
  const mirrors = routes.mirrorsFor(t);
  const [dns, probes, mirrorProbes, outcome] = await Promise.all([
    named ? probeDns({ host: t.target.host, override, internal: Routes.internal(t, chosen, override), timeoutMs }, routes.slots) : undefined,
    Promise.all(dialled.map((r) => routes.probe(r, t))),
    Promise.all(mirrors.map((m) => routes.mirrorProbe(m))),
    routes.outcome(chosen.route, t, chosen.by === 'intercept'),
  ]);
  const all: DoctorRoute[] = [...probes, ...mirrorProbes];
  const today: DoctorToday = { ...chosen, works: outcome.works, note: outcome.note, ...(outcome.carrier && outcome.carrier !== chosen.route ? { carrier: outcome.carrier } : {}) };
  const better = betterRoute(all, today, chosen.by === 'intercept' ? chosen.route : outcome.probe?.route);
  const mirrorNames = new Set(mirrors.map((m) => m.name));
  const suggested = better && (mirrorNames.has(better.route) ? better.route : await routes.groupFor(better.route, t));
  const fixes = fixesFor({ t, today, routes: all, dns, better, suggested, mirrors: mirrorNames, todayLeaves: routes.leavesOf(chosen.route) });
  return {
    target: t.text,
    host: t.target.host,
    port: t.target.port,
    source: t.source,
    https: t.https,
    ...(dns ? { dns } : {}),
    routes: all,
    today,
    ...(better ? { better } : {}),
    ok: today.works,
    verdict: verdictLine(t, all, today, mirrorNames),
    fixes,
  };
}
