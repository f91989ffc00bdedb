// The latency histograms: percentiles within a bucket's width of the exact value and never below
// it, the 5-minute window, merging, and the cumulative counts Prometheus reads; the reports and
// the control socket's schemas of them, which must not drift apart.
import fc from 'fast-check';
import { describe, expect, expectTypeOf, test } from 'vitest';
import type { z } from 'zod';
import * as api from '../../src/control/api.js';
import type { Buckets, FiguresReport, Latency, Percentiles } from '../../src/stats/figures.js';
import { Histogram, WindowedHistogram } from '../../src/stats/histogram.js';
import { type RouteFiguresReport, Stats, type StatsReport } from '../../src/stats/stats.js';

/** the exact p-th percentile (nearest rank) */
function exact(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe('Histogram', () => {
  test('each percentile is at or above the exact one and within one bucket (2^(1/16), 4.43%) of it (fast-check prints the seed of a failure)', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 1, max: 3.6e9, noNaN: true }), { minLength: 1, maxLength: 300 }), fc.constantFrom(50, 90, 99, 100), (samples, p) => {
      const h = new Histogram();
      for (const s of samples) h.record(s);
      const want = exact([...samples].sort((a, b) => a - b), p);
      const got = h.percentile(p)!;
      expect(got).toBeGreaterThanOrEqual(want);
      expect(got).toBeLessThanOrEqual(want * 2 ** (1 / 16) * (1 + 1e-12));
    }), { numRuns: 300 });
  });

  test('count, sum and max are exact; an empty histogram has no percentile', () => {
    const h = new Histogram();
    expect(h.percentile(50)).toBeUndefined();
    for (const us of [100, 200, 300, 100_000]) h.record(us);
    expect({ count: h.count, sumUs: h.sumUs, maxUs: h.maxUs }).toEqual({ count: 4, sumUs: 100_600, maxUs: 100_000 });
    expect(h.percentile(100)).toBe(100_000);
  });

  test('add merges two histograms as if every sample went into one', () => {
    const [a, b, both] = [new Histogram(), new Histogram(), new Histogram()];
    for (let i = 1; i <= 50; i++) {
      a.record(i * 37);
      both.record(i * 37);
      b.record(i * 1000);
      both.record(i * 1000);
    }
    a.add(b);
    expect([...a.counts]).toEqual([...both.counts]);
    expect([a.count, a.sumUs, a.maxUs]).toEqual([both.count, both.sumUs, both.maxUs]);
  });

  test('cumulative counts at power-of-two bounds count every sample at or below each bound', () => {
    const h = new Histogram();
    for (const us of [100, 128, 129, 256, 1000, 5000]) h.record(us);
    expect(h.cumulative([128, 256, 512, 1024, 4096, 8192])).toEqual([2, 4, 4, 5, 5, 6]);
  });
});

describe('WindowedHistogram', () => {
  const MIN = 60_000;

  test('recent holds this minute and the 4 before it; older minutes drop out as time passes', () => {
    const w = new WindowedHistogram();
    const t0 = 1_000 * MIN;
    w.record(1000, t0);
    w.record(2000, t0 + 1 * MIN);
    w.record(3000, t0 + 4 * MIN + 59_000);
    expect(w.recent(t0 + 4 * MIN + 59_999).count).toBe(3);
    expect(w.recent(t0 + 5 * MIN).count).toBe(2); // the first minute has left the window
    expect(w.recent(t0 + 6 * MIN).count).toBe(1);
    expect(w.recent(t0 + 8 * MIN + 59_999).count).toBe(1);
    expect(w.recent(t0 + 9 * MIN).count).toBe(0);
    expect(w.lifetime.count).toBe(3);
  });

  test('a minute slot reused five minutes later starts empty', () => {
    const w = new WindowedHistogram();
    const t0 = 2_000 * MIN;
    for (let i = 0; i < 10; i++) w.record(500, t0);
    w.record(700, t0 + 5 * MIN); // the same slot of the ring
    expect(w.recent(t0 + 5 * MIN).count).toBe(1);
    expect(w.recent(t0 + 5 * MIN).maxUs).toBe(700);
  });
});

describe('Stats', () => {
  test('with statistics off nothing is reported, whatever is recorded', () => {
    const off = new Stats(false);
    off.route('DIRECT').connections++;
    off.upstream('ms').connect.record(100);
    off.hit('MATCH,DIRECT');
    expect(off.routes()).toEqual([]);
    expect(off.report([{ rule: 'MATCH,DIRECT', target: 'DIRECT' }]).rules).toEqual([{ index: 0, rule: 'MATCH,DIRECT', target: 'DIRECT', hits: 0 }]);
  });
});

describe('the reports and the control socket\'s schemas of them', () => {
  // Checked by the compiler (npx tsc -p test/tsconfig.json): a field added to, dropped from or
  // retyped in one of the two fails to compile.
  test('each schema reads exactly the type stats/ reports', () => {
    expectTypeOf<z.infer<typeof api.Percentiles>>().toEqualTypeOf<Percentiles>();
    expectTypeOf<z.infer<typeof api.Latency>>().toEqualTypeOf<Latency>();
    expectTypeOf<z.infer<typeof api.Figures>>().toEqualTypeOf<FiguresReport>();
    expectTypeOf<z.infer<typeof api.Buckets>>().toEqualTypeOf<Buckets>();
    expectTypeOf<z.infer<typeof api.RouteFigures>>().toEqualTypeOf<RouteFiguresReport>();
    expectTypeOf<z.infer<typeof api.Stats>>().toEqualTypeOf<StatsReport>();
  });

  test('the check sees a drift: a schema with a field the report lacks, or without one it has', () => {
    const more = api.Percentiles.extend({ p95: api.Percentiles.shape.p90 });
    // @ts-expect-error the report has no p95
    expectTypeOf<z.infer<typeof more>>().toEqualTypeOf<Percentiles>();
    const less = api.Figures.omit({ ttfbMs: true });
    // @ts-expect-error the report has ttfbMs
    expectTypeOf<z.infer<typeof less>>().toEqualTypeOf<FiguresReport>();
  });

  test('a report with samples, errors and rule hits parses with the schema proxyctl reads it with', () => {
    const stats = new Stats();
    const route = stats.route('DIRECT');
    route.connections++;
    route.active++;
    route.connect.record(1_500);
    route.settle({ up: 10, down: 20, error: { cls: 'timeout' } }, 2_000);
    stats.hit('MATCH,DIRECT');
    const report = stats.report([{ rule: 'MATCH,DIRECT', target: 'DIRECT' }]);
    expect(api.Stats.parse(report)).toEqual(report);
    expect(report.routes[0]!.connectBuckets.length).toBe(1);
    expect(report.rules).toEqual([{ index: 0, rule: 'MATCH,DIRECT', target: 'DIRECT', hits: 1 }]);
  });
});
