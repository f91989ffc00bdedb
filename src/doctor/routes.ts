// The routes of the daemon's config as doctor sees them: the ones it dials through (DIRECT and
// every upstream proxy), the mirrors that stand for a host, the route the daemon takes today for a
// target, and whether that route works, judged from the probes of the routes it is made of (a
// group by its members in the order it would try them; a mirror by its upstreams through its via).
import { isIP } from 'node:net';
import type { DoctorRoute, DoctorToday } from '../control/api.js';
import type { EngineState } from '../engine/state.js';
import type { MirrorDef } from '../mirror/definition.js';
import { outboundKind, type OutboundDef } from '../outbound/index.js';
import { Group } from '../outbound/group/index.js';
import type { GroupDef } from '../outbound/group/group.js';
import { joinUrl } from '../mirror/protocol.js';
import { isLocalName } from './bogons.js';
import { probePath, type PathSpec, type ProbeContext, type ProbedRoute } from './path-probe.js';
import type { ProbeSlots } from './slots.js';
import type { PlannedTarget } from './targets.js';
import { millis } from './words.js';

export interface Outcome {
  works: boolean;
  /** what carries it: the route itself, a group's member (group/member), a mirror's upstream */
  carrier?: string;
  note: string;
  /** the probe of the route that carries it, or of the first that failed */
  probe?: DoctorRoute;
  /** a mirror's: the upstream that answered (or the first that failed) */
  upstream?: string;
}

type Today = Omit<DoctorToday, 'works' | 'note' | 'carrier'>;

export class Routes {
  readonly #state: EngineState;
  readonly #defs: ReadonlyMap<string, OutboundDef>;
  readonly #ctx: ProbeContext;
  /** DIRECT, then every upstream proxy in config order: what doctor dials through */
  readonly #dialled: ProbedRoute[] = [];
  /** each route's probe of each path, made once however many targets and groups ask */
  readonly #probes = new Map<string, Promise<DoctorRoute>>();

  constructor(state: EngineState, defs: readonly OutboundDef[], ctx: ProbeContext) {
    this.#state = state;
    this.#defs = new Map(defs.map((d) => [d.name, d]));
    this.#ctx = ctx;
    const direct = state.outbounds.get('DIRECT');
    if (direct?.kind === 'dialer') this.#dialled.push({ name: 'DIRECT', kind: 'direct', dialer: direct });
    for (const def of defs) {
      const o = state.outbounds.get(def.name);
      if (sectionOf(def) === 'proxies' && o?.kind === 'dialer') this.#dialled.push({ name: def.name, kind: def.type, dialer: o });
    }
  }

  get slots(): ProbeSlots {
    return this.#ctx.slots;
  }

  get dialled(): readonly ProbedRoute[] {
    return this.#dialled;
  }

  /** The mirrors that stand for a target: it is the host of one of their origins. */
  mirrorsFor(t: PlannedTarget): MirrorDef[] {
    return [...this.#defs.values()].filter((d): d is MirrorDef => sectionOf(d) === 'mirrors' && (d as MirrorDef).origins.some((o) => {
      const url = new URL(o);
      return url.hostname.toLowerCase() === t.target.host && (Number(url.port) || (url.protocol === 'https:' ? 443 : 80)) === t.target.port;
    }));
  }

  /** The route the daemon takes for `t` today, and why: a mirror's or proxy's via, a mirror's interception, or a rule. */
  async today(t: PlannedTarget): Promise<Today> {
    if (t.reachedBy) return { by: t.reachedBy.by, route: t.reachedBy.route, kind: this.kindOf(t.reachedBy.route) };
    const interceptor = t.target.port === 443 ? this.#state.intercept.get(t.target.host) : undefined;
    if (interceptor) return { by: 'intercept', route: interceptor.name, kind: this.kindOf(interceptor.name) };
    const { router, resolver } = this.#state;
    const look = this.#ctx.slots.step(this.#ctx.timeoutMs, `choose the route of ${t.text}`);
    const explained = await this.#ctx.slots.take(() => look.race(router.explain(t.target, (host) => resolver.resolve(host), { limit: 0 })))
      .catch(() => undefined)
      .finally(() => look.done());
    // no answer in time (a lookup an IP rule needed): the rule chosen without that lookup
    const { route, rule, index } = explained ?? withoutLookup(router.matchSync(t.target));
    return { by: 'rule', route, kind: this.kindOf(route), rule, index };
  }

  kindOf(route: string): string {
    return this.#defs.get(route)?.type ?? route.toLowerCase();
  }

  /** One dialled route's probe of a path (made once). */
  probe(route: ProbedRoute, spec: PathSpec): Promise<DoctorRoute> {
    const key = `${route.name} ${spec.https ? 'https' : 'tcp'} ${spec.authority} ${spec.target.host} ${spec.target.port} ${spec.path}`;
    let p = this.#probes.get(key);
    if (!p) this.#probes.set(key, (p = probePath(route, spec, this.#ctx)));
    return p;
  }

  /**
   * Whether the route called `name` carries `spec` (and through what). A group tries its members
   * in the order it would now, each failure the member's fault passing on to the next; a failure
   * an upstream reports about the target (refused, unreachable) is the group's answer, as in a
   * real dial. A mirror that serves the target answers from its first upstream that works.
   */
  async outcome(name: string, spec: PathSpec, served = false): Promise<Outcome> {
    if (name === 'REJECT') return { works: false, note: 'rejected by the rule' };
    const o = this.#state.outbounds.get(name);
    const dialled = this.#dialled.find((r) => r.name === name);
    if (dialled) {
      const probe = await this.probe(dialled, spec);
      return { works: probe.works, carrier: name, note: probe.works ? 'ok' : 'fails', probe };
    }
    if (o instanceof Group) return this.#groupOutcome(o, spec);
    const def = this.#defs.get(name);
    if (def && sectionOf(def) === 'mirrors') {
      const m = def as MirrorDef;
      if (served) return this.#mirrorOutcome(m);
      const through = await this.outcome(m.fallback, spec);
      return { ...through, carrier: `${m.name}, tunnelled through ${through.carrier ?? m.fallback}` };
    }
    return { works: false, note: `no route named ${name}` };
  }

  async #groupOutcome(group: Group, spec: PathSpec): Promise<Outcome> {
    const failed: string[] = [];
    let first: DoctorRoute | undefined;
    for (const member of group.choice().order) {
      const o = await this.outcome(member, spec);
      if (o.works) return { ...o, carrier: `${group.name}/${o.carrier ?? member}`, note: failed.length ? `ok after ${failed.join(', ')} ${failed.length > 1 ? 'fail' : 'fails'}` : 'ok' };
      failed.push(member);
      first ??= o.probe;
      // the member's upstream reported the target's failure: a real dial answers with it, no next member
      if (o.probe && o.probe.kind !== 'direct' && o.probe.error?.hop === 'origin') break;
    }
    return { works: false, note: failed.length > 1 ? `fails on ${failed.join(', ')}` : 'fails', ...(first ? { probe: first } : {}) };
  }

  /** A mirror answers for its origins from its upstreams (in order), reached through its via. */
  async #mirrorOutcome(m: MirrorDef): Promise<Outcome> {
    let first: Outcome | undefined;
    for (const url of m.upstreams) {
      const checked = joinUrl(new URL(url), m.check.path);
      const https = checked.protocol === 'https:';
      const target = { host: checked.hostname.toLowerCase(), port: Number(checked.port) || (https ? 443 : 80) };
      const o = await this.outcome(m.via, { target, https, path: `${checked.pathname}${checked.search}`, authority: checked.host });
      const from = { ...o, carrier: `${m.name} from ${checked.host} via ${o.carrier ?? m.via}`, upstream: checked.host };
      if (o.works) return from;
      first ??= from;
    }
    return first ? { ...first, note: 'fails: no upstream answers' } : { works: false, note: 'fails: it has no upstreams' };
  }

  /** The mirror route in the verdict: its outcome as a probe named after it. */
  async mirrorProbe(m: MirrorDef): Promise<DoctorRoute> {
    const o = await this.#mirrorOutcome(m);
    const base = { route: m.name, kind: m.type, works: o.works, ...(o.upstream ? { upstream: o.upstream } : {}) };
    if (!o.probe) return { ...base, state: 'failed', summary: o.note };
    return { ...o.probe, ...base, summary: o.works ? `open ${millis(o.probe.connectMs ?? 0)} (from ${o.upstream})` : `fails: ${o.probe.summary} (${o.upstream})` };
  }

  /** The dialled routes `name` is made of: itself, a group's members, a mirror's via and fallback. */
  leavesOf(name: string): Set<string> {
    const leaves = new Set<string>();
    const walk = (n: string) => {
      if (leaves.has(n)) return;
      const def = this.#defs.get(n);
      const section = def && sectionOf(def);
      if (section === 'groups') for (const m of (def as GroupDef).members) walk(m);
      else if (section === 'mirrors') [(def as MirrorDef).via, (def as MirrorDef).fallback].forEach(walk);
      else if (n !== 'REJECT') leaves.add(n);
    };
    walk(name);
    return leaves;
  }

  /** What a rule should name to send a target through `route`: a group that has it as a member and carries the target through it, else the route itself. */
  async groupFor(route: string, spec: PathSpec): Promise<string> {
    for (const def of this.#defs.values()) {
      if (sectionOf(def) !== 'groups' || !(def as GroupDef).members.includes(route)) continue;
      const o = await this.outcome(def.name, spec);
      if (o.works && o.carrier === `${def.name}/${route}`) return def.name;
    }
    return route;
  }

  /** A name is internal when a rule sends it DIRECT by name or address (not the catch-all MATCH), it is a local name or a proxy's server. */
  static internal(t: PlannedTarget, today: Today, override: string | undefined): boolean {
    // a proxy's server is often on the local network (a corporate proxy)
    if (override !== undefined || isIP(t.target.host) || isLocalName(t.target.host) || t.reachedBy?.by === 'proxy') return true;
    return today.by === 'rule' && today.route === 'DIRECT' && (today.index ?? -1) >= 0 && !/^\s*(MATCH|DST-PORT)\b/i.test(today.rule ?? '');
  }
}

function withoutLookup(m: { target: string; rule: string; index: number }): { route: string; rule: string; index: number } {
  return { route: m.target, rule: m.rule, index: m.index };
}

export function sectionOf(def: OutboundDef): string | undefined {
  return outboundKind(def.type)?.section;
}
