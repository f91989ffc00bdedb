// The figures of one route or one upstream: counts, errors by class, bytes each way, and the
// latencies of connect and of time to first byte. Taken by the engine; no outbound knows of it.
import { ERROR_CLASSES, type ErrorClass } from '../errors.js';
import { bucketUpperUs, type Histogram, WindowedHistogram } from './histogram.js';

/** milliseconds; null while there is no sample */
export interface Percentiles {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

/** over the daemon's lifetime and over the last 5 minutes */
export interface Latency {
  lifetime: Percentiles;
  recent: Percentiles;
}

/** One route's or upstream's figures as reported: the control socket's JSON is made from this. */
export interface FiguresReport {
  name: string;
  connections: number;
  active: number;
  /** by error class */
  errors: Record<string, number>;
  bytesUp: number;
  bytesDown: number;
  connectMs: Latency;
  ttfbMs: Latency;
}

/** a histogram's non-empty buckets: [upper bound ms, count] */
export type Buckets = Array<[number, number]>;

export class Figures {
  connections = 0;
  active = 0;
  bytesUp = 0;
  bytesDown = 0;
  readonly errors = Object.fromEntries(ERROR_CLASSES.map((c) => [c, 0])) as Record<ErrorClass, number>;
  /** from the start of the dial to the connection being up */
  readonly connect = new WindowedHistogram();
  /** from the client's request to the first byte of the answer */
  readonly ttfb = new WindowedHistogram();

  constructor(readonly name: string) {}

  /** A connection or request ended: its bytes, its error, and (an HTTP answer's) time to first byte in µs. */
  settle(result: { up: number; down: number; error?: { cls: ErrorClass } | undefined }, ttfbUs: number | undefined): void {
    this.active--;
    this.bytesUp += result.up;
    this.bytesDown += result.down;
    if (result.error) this.errors[result.error.cls]++;
    if (ttfbUs !== undefined) this.ttfb.record(ttfbUs);
  }

  report(now = Date.now()): FiguresReport {
    return {
      name: this.name,
      connections: this.connections,
      active: this.active,
      errors: { ...this.errors },
      bytesUp: this.bytesUp,
      bytesDown: this.bytesDown,
      connectMs: latency(this.connect, now),
      ttfbMs: latency(this.ttfb, now),
    };
  }
}

function latency(h: WindowedHistogram, now: number): Latency {
  return { lifetime: percentiles(h.lifetime), recent: percentiles(h.recent(now)) };
}

const toMs = (us: number | undefined) => (us === undefined ? null : Math.round(us) / 1000);

function percentiles(h: Histogram): Percentiles {
  return { count: h.count, p50: toMs(h.percentile(50)), p90: toMs(h.percentile(90)), p99: toMs(h.percentile(99)), max: toMs(h.count ? h.maxUs : undefined) };
}

export function buckets(h: Histogram): Buckets {
  const out: Buckets = [];
  h.counts.forEach((n, i) => {
    if (n) out.push([Math.round(bucketUpperUs(i)) / 1000 || 0.001, n]);
  });
  return out;
}
