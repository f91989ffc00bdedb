// The dashboard's moving figures over the last 5 minutes: each route's and upstream's latency
// (p50 and p99 of connect and of time to first byte) in 5-second slots, and each route's download
// and upload rates. Sampled once a second, only while a page is open: made when the first page
// opens, and what came before is filled in from the statistics' per-minute histograms (so a page
// shows the last 5 minutes at once, minute by minute, then every 5 seconds from then on).
import type { Connections } from '../control/api.js';
import type { Figures } from '../stats/figures.js';
import { bucketUpperUs, Histogram, type WindowedHistogram } from '../stats/histogram.js';
import type { Stats } from '../stats/stats.js';

export const WINDOW_MS = 5 * 60_000;
const SLOT_MS = 5_000;

/** one slot of a latency series, ms; p50 and p99 null when nothing was timed in it */
export interface LatencyPoint {
  start: number;
  end: number;
  count: number;
  p50: number | null;
  p99: number | null;
}

/** one slot of a route's rates, bytes per second */
export interface RatePoint {
  start: number;
  end: number;
  down: number;
  up: number;
}

interface FiguresHistory {
  connect: LatencyPoint[];
  ttfb: LatencyPoint[];
}

const toMs = (us: number | undefined) => (us === undefined ? null : Math.round(us) / 1000);

function point(h: Histogram, start: number, end: number): LatencyPoint {
  return { start, end, count: h.count, p50: toMs(h.percentile(50)), p99: toMs(h.percentile(99)) };
}

/** A latency histogram's samples slot by slot, from the growth of its lifetime counts. */
class LatencySeries {
  readonly #closed: LatencyPoint[] = [];
  #slot: { start: number; samples: Histogram } | undefined;
  #seen: Uint32Array;

  /** `backfill`: the minutes before now from the histogram's own window (the first sample); else it is new */
  constructor(h: WindowedHistogram, now: number, backfill: boolean) {
    if (!backfill) {
      this.#seen = new Uint32Array(h.lifetime.counts.length);
      return;
    }
    this.#seen = h.lifetime.counts.slice();
    for (const m of h.minutes(now)) if (m.histogram.count) this.#closed.push(point(m.histogram, m.start, Math.min(m.start + 60_000, now)));
  }

  sample(h: WindowedHistogram, now: number): void {
    const start = now - (now % SLOT_MS);
    if (this.#slot?.start !== start) {
      if (this.#slot?.samples.count) this.#closed.push(point(this.#slot.samples, this.#slot.start, this.#slot.start + SLOT_MS));
      this.#slot = { start, samples: new Histogram() };
    }
    const samples = this.#slot.samples;
    const counts = h.lifetime.counts;
    for (let i = 0; i < counts.length; i++) {
      const added = counts[i]! - this.#seen[i]!;
      if (added <= 0) continue;
      samples.counts[i]! += added;
      samples.count += added;
      samples.maxUs = Math.max(samples.maxUs, bucketUpperUs(i));
    }
    this.#seen = counts.slice();
    while (this.#closed.length && this.#closed[0]!.end < now - WINDOW_MS) this.#closed.shift();
  }

  points(now: number): LatencyPoint[] {
    const slot = this.#slot;
    return slot?.samples.count ? [...this.#closed, point(slot.samples, slot.start, Math.min(now, slot.start + SLOT_MS))] : [...this.#closed];
  }
}

/** One route's rates: over the last second, and slot by slot. */
class RouteRates {
  readonly #points: RatePoint[] = [];
  #slot: { start: number; down: number; up: number; ms: number } | undefined;
  #last = { down: 0, up: 0 };

  get now(): { down: number; up: number } {
    return this.#last;
  }

  points(): RatePoint[] {
    const s = this.#slot;
    return s?.ms ? [...this.#points, rateOf(s, s.start + s.ms)] : [...this.#points];
  }

  /** `moved`: bytes each way since the previous sample, `elapsedMs` ago */
  record(moved: { down: number; up: number }, elapsedMs: number, now: number): void {
    // a connection that ended may have carried a little less than was counted live: never below 0
    const down = Math.max(0, moved.down);
    const up = Math.max(0, moved.up);
    this.#last = { down: (down * 1000) / elapsedMs, up: (up * 1000) / elapsedMs };
    const start = now - (now % SLOT_MS);
    if (this.#slot?.start !== start) {
      if (this.#slot?.ms) this.#points.push(rateOf(this.#slot, this.#slot.start + SLOT_MS));
      this.#slot = { start, down: 0, up: 0, ms: 0 };
    }
    this.#slot.down += down;
    this.#slot.up += up;
    this.#slot.ms += elapsedMs;
    while (this.#points.length && this.#points[0]!.end < now - WINDOW_MS) this.#points.shift();
  }
}

function rateOf(slot: { start: number; down: number; up: number; ms: number }, end: number): RatePoint {
  return { start: slot.start, end, down: (slot.down * 1000) / slot.ms, up: (slot.up * 1000) / slot.ms };
}

/** Everything the dashboard draws over time; one sample() per second while a page is open. */
export class History {
  readonly #stats: Stats;
  /** connect and time to first byte, by name */
  readonly #routes = new Map<string, [LatencySeries, LatencySeries]>();
  readonly #upstreams = new Map<string, [LatencySeries, LatencySeries]>();
  readonly #rates = new Map<string, RouteRates>();
  /** each open connection's bytes when first and last seen, and its route */
  readonly #open = new Map<number, { route: string; down: number; up: number; firstDown: number; firstUp: number }>();
  #settled = new Map<string, { down: number; up: number }>();
  #sampledAt: number | undefined;

  constructor(stats: Stats) {
    this.#stats = stats;
  }

  sample(connections: Connections['connections'], now = Date.now()): void {
    const first = this.#sampledAt === undefined;
    this.#follow(this.#routes, this.#stats.routes(), now, first);
    this.#follow(this.#upstreams, this.#stats.upstreams(), now, first);
    this.#sampleRates(connections, now, first);
    this.#sampledAt = now;
  }

  latency(kind: 'route' | 'upstream', name: string, now = Date.now()): FiguresHistory {
    const h = (kind === 'route' ? this.#routes : this.#upstreams).get(name);
    return h ? { connect: h[0].points(now), ttfb: h[1].points(now) } : { connect: [], ttfb: [] };
  }

  /** the route's rates over the last second, and slot by slot */
  rates(route: string): { now: { down: number; up: number }; points: RatePoint[] } {
    const r = this.#rates.get(route);
    return r ? { now: r.now, points: r.points() } : { now: { down: 0, up: 0 }, points: [] };
  }

  #follow(map: Map<string, [LatencySeries, LatencySeries]>, figures: Figures[], now: number, first: boolean): void {
    for (const f of figures) {
      const series = map.get(f.name);
      if (series) {
        series[0].sample(f.connect, now);
        series[1].sample(f.ttfb, now);
      } else map.set(f.name, [new LatencySeries(f.connect, now, first), new LatencySeries(f.ttfb, now, first)]);
    }
  }

  #sampleRates(connections: Connections['connections'], now: number, first: boolean): void {
    const moved = new Map<string, { down: number; up: number }>();
    const add = (route: string, down: number, up: number) => {
      const m = moved.get(route) ?? { down: 0, up: 0 };
      m.down += down;
      m.up += up;
      moved.set(route, m);
    };
    const settled = new Map(this.#stats.routes().map((f) => [f.name, { down: f.bytesDown, up: f.bytesUp }]));
    for (const [name, bytes] of settled) {
      // a route first seen now moved all it has (it is new), unless this is the first sample
      const before = this.#settled.get(name) ?? (first ? bytes : { down: 0, up: 0 });
      add(name, bytes.down - before.down, bytes.up - before.up);
    }
    this.#settled = settled;
    const open = new Set<number>();
    for (const c of connections) {
      open.add(c.id);
      const seen = this.#open.get(c.id);
      if (!seen) {
        this.#open.set(c.id, { route: c.route, down: c.down, up: c.up, firstDown: c.down, firstUp: c.up });
        continue;
      }
      add(c.route, c.down - seen.down, c.up - seen.up);
      seen.down = c.down;
      seen.up = c.up;
    }
    // a connection that ended is in the settled bytes now, the part counted live included
    for (const [id, seen] of this.#open) {
      if (open.has(id)) continue;
      add(seen.route, -(seen.down - seen.firstDown), -(seen.up - seen.firstUp));
      this.#open.delete(id);
    }
    if (first) return;
    const elapsed = Math.max(1, now - this.#sampledAt!);
    for (const name of new Set([...moved.keys(), ...this.#rates.keys()])) {
      let r = this.#rates.get(name);
      if (!r) this.#rates.set(name, (r = new RouteRates()));
      r.record(moved.get(name) ?? { down: 0, up: 0 }, elapsed, now);
    }
  }
}
