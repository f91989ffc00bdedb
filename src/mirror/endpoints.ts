// A mirror's endpoints: its upstreams (reached through `via`) and its origins (through
// `fallback`), each with its health, counters and figures; the order they are asked in (the
// fallback order of groups over the upstreams, the origins last); and the health checks, which
// start with the mirror's first request (a mirror nobody uses contacts nothing).
import { classify, ProxyError } from '../errors.js';
import { MemberHealth, type HealthSettings } from '../health/member-health.js';
import { fallbackOrder, type Candidate } from '../health/order.js';
import type { Logger } from '../log/logger.js';
import type { Dialer, HealthState } from '../outbound/index.js';
import type { Stats } from '../stats/stats.js';
import type { Figures } from '../stats/figures.js';
import type { MirrorDef } from './definition.js';

export interface Endpoint extends Candidate {
  base: URL;
  route: Dialer;
  origin: boolean;
  /** its requests in `proxyctl stats`, as upstream MIRROR/NAME */
  figures: Figures;
  counters: { hits: number; misses: number; bytes: number; behind: number; bad: number };
}

/** a health check's GET: its status and how long the head took */
export type Probe = (ep: Endpoint) => Promise<{ status: number; ms: number; url: string }>;

export class Endpoints {
  readonly upstreams: readonly Endpoint[];
  readonly origins: readonly Endpoint[];
  readonly #def: MirrorDef;
  readonly #log: Logger;
  readonly #settings: HealthSettings;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  /** `previous`: the endpoints of the mirror this one replaces (a reload): same names keep their health and counters */
  constructor(def: MirrorDef, routes: { via: Dialer; fallback: Dialer }, deps: { stats: Stats; log: Logger }, previous?: Endpoints) {
    this.#def = def;
    this.#log = deps.log;
    this.#settings = { failures: def.check.failures, maxLatencyMs: def.check.maxLatencyMs };
    const endpoint = (url: string, route: Dialer, origin: boolean): Endpoint => {
      const base = new URL(url);
      const name = origin ? `${base.host} (origin)` : base.host + base.pathname.replace(/\/$/, '');
      const health = new MemberHealth();
      const before = previous?.all().find((e) => e.name === name);
      if (before) health.copyFrom(before.health);
      const counters = before ? { ...before.counters } : { hits: 0, misses: 0, bytes: 0, behind: 0, bad: 0 };
      return { name, base, route, origin, health, counters, figures: deps.stats.upstream(`${def.name}/${name}`) };
    };
    this.upstreams = def.upstreams.map((u) => endpoint(u, routes.via, false));
    this.origins = def.origins.map((u) => endpoint(u, routes.fallback, true));
  }

  all(): Endpoint[] {
    return [...this.upstreams, ...this.origins];
  }

  /** upstreams by health (the fallback order of groups), then (`withOrigins`) the origins through fallback */
  order(withOrigins: boolean): Endpoint[] {
    const names = fallbackOrder(this.upstreams.length ? this.upstreams : this.origins).order;
    const ordered = names.map((n) => this.all().find((e) => e.name === n)!);
    return withOrigins && this.upstreams.length ? [...ordered, ...this.origins] : ordered;
  }

  /** real traffic: an endpoint answered */
  passed(ep: Endpoint): void {
    ep.health.pass(Date.now(), undefined, this.#settings);
  }

  /** real traffic: an endpoint failed (or a check did) */
  failed(ep: Endpoint, e: ProxyError, check = false): void {
    const t = ep.health.fail(Date.now(), e.cls, e.message, this.#settings, check);
    if (t === 'down') this.#log.warn({ mirror: this.#def.name, upstream: ep.name, reason: e.message }, `${this.#def.name}/${ep.name} is down`);
  }

  health(): HealthState {
    const { order, why } = fallbackOrder(this.upstreams.length ? this.upstreams : this.origins);
    return {
      type: this.#def.type,
      current: order[0],
      why,
      members: this.all().map((e) => ({
        name: e.name, status: e.health.status, slow: e.health.slow, lastCheck: e.health.lastCheck,
        recentLatencyMs: e.health.recentLatencyMs, errors: { ...e.health.errors }, counters: { ...e.counters },
      })),
    };
  }

  async checkNow(probe: Probe): Promise<void> {
    await Promise.all(this.upstreams.map((ep) => this.#check(ep, probe)));
  }

  /** the checks start with the first request */
  startChecks(probe: Probe): void {
    if (this.#timer || this.#closed || !this.upstreams.length) return;
    this.#timer = setInterval(() => void this.checkNow(probe), this.#def.check.intervalMs).unref();
    void this.checkNow(probe);
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
  }

  async #check(ep: Endpoint, probe: Probe): Promise<void> {
    if (this.#closed) return;
    try {
      const { status, ms, url } = await probe(ep);
      if (status >= 500) throw new ProxyError('unreachable', `check ${url}: HTTP ${status}`, undefined, 'upstream');
      const t = ep.health.pass(Date.now(), Math.round(ms), this.#settings);
      if (t === 'up' || t === 'slow') this.#log.info({ mirror: this.#def.name, upstream: ep.name, ms: Math.round(ms) }, `${this.#def.name}/${ep.name} is ${t}`);
    } catch (err) {
      this.failed(ep, classify(err, 'upstream'), true);
    }
  }
}
