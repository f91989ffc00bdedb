// Every figure the daemon keeps: per route (rule target), per upstream that carried a connection
// (a proxy, or a group's member), and hits per rule. One system feeds both the control socket's
// JSON and its Prometheus text.
import { buckets, type Buckets, Figures, type FiguresReport } from './figures.js';

/** a route's or upstream's figures with its recent (5 minutes) histograms */
export interface RouteFiguresReport extends FiguresReport {
  connectBuckets: Buckets;
  ttfbBuckets: Buckets;
}

/** a rule line of the config, its 0-based index, and how many connections and requests it matched */
export interface RuleHits {
  index: number;
  rule: string;
  target: string;
  hits: number;
}

/** Every figure at one moment: the control socket's JSON is made from this. */
export interface StatsReport {
  at: string;
  routes: RouteFiguresReport[];
  upstreams: RouteFiguresReport[];
  rules: RuleHits[];
}

export class Stats {
  readonly #routes = new Map<string, Figures>();
  readonly #upstreams = new Map<string, Figures>();
  /** hits by rule line: counts survive a reload for the rules the new config keeps */
  readonly #ruleHits = new Map<string, number>();
  /**
   * false only for the benchmark's statistics-off runs (PROXYD_STATS=off): every figure is then
   * taken into one scratch object that is never reported.
   */
  readonly enabled: boolean;
  readonly #scratch = new Figures('');

  constructor(enabled = true) {
    this.enabled = enabled;
  }

  route(name: string): Figures {
    return this.#figures(this.#routes, name);
  }

  upstream(name: string): Figures {
    return this.#figures(this.#upstreams, name);
  }

  hit(rule: string): void {
    if (this.enabled) this.#ruleHits.set(rule, (this.#ruleHits.get(rule) ?? 0) + 1);
  }

  routes(): Figures[] {
    return [...this.#routes.values()];
  }

  upstreams(): Figures[] {
    return [...this.#upstreams.values()];
  }

  /** `rules`: the config's rule lines with their targets, in order */
  report(rules: ReadonlyArray<{ rule: string; target: string }>, now = Date.now()): StatsReport {
    const full = (f: Figures): RouteFiguresReport => ({ ...f.report(now), connectBuckets: buckets(f.connect.recent(now)), ttfbBuckets: buckets(f.ttfb.recent(now)) });
    return {
      at: new Date(now).toISOString(),
      routes: this.routes().map(full),
      upstreams: this.upstreams().map(full),
      rules: this.ruleHits(rules),
    };
  }

  /** the config's rules in order, with their hits */
  ruleHits(rules: ReadonlyArray<{ rule: string; target: string }>): RuleHits[] {
    return rules.map((r, index) => ({ index, rule: r.rule, target: r.target, hits: this.#ruleHits.get(r.rule) ?? 0 }));
  }

  #figures(map: Map<string, Figures>, name: string): Figures {
    if (!this.enabled) return this.#scratch;
    let f = map.get(name);
    if (!f) map.set(name, (f = new Figures(name)));
    return f;
  }
}
