// Latency histograms: log-scale buckets (16 per doubling, so a percentile is within 4.4% of the
// true value and never below it), 1 µs to 71 minutes. Plain arrays rather than perf_hooks'
// native HDR histogram: the buckets are what Prometheus needs, windows merge by adding arrays,
// and recording stays in JavaScript (no native call per sample).

const PER_DOUBLING = 16;
const BUCKETS = 32 * PER_DOUBLING + 1;

/** bucket i holds samples in (2^((i-1)/16), 2^(i/16)] µs; bucket 0 holds everything up to 1 µs */
function bucketOf(us: number): number {
  return us <= 1 ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log2(us) * PER_DOUBLING));
}

/** the upper bound of bucket i, µs */
export function bucketUpperUs(i: number): number {
  return 2 ** (i / PER_DOUBLING);
}

export class Histogram {
  readonly counts = new Uint32Array(BUCKETS);
  count = 0;
  sumUs = 0;
  maxUs = 0;

  record(us: number): void {
    this.counts[bucketOf(us)]!++;
    this.count++;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
  }

  add(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
    this.sumUs += other.sumUs;
    if (other.maxUs > this.maxUs) this.maxUs = other.maxUs;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = this.sumUs = this.maxUs = 0;
  }

  /** the value at or below which p% of the samples lie (the bucket's upper bound, at most the max), µs */
  percentile(p: number): number | undefined {
    if (this.count === 0) return undefined;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(bucketUpperUs(i), this.maxUs);
    }
    return this.maxUs;
  }

  /** cumulative counts at the given upper bounds (µs), for Prometheus `le` buckets */
  cumulative(boundsUs: readonly number[]): number[] {
    const out: number[] = [];
    let seen = 0;
    let i = 0;
    for (const bound of boundsUs) {
      for (; i < BUCKETS && bucketUpperUs(i) <= bound * (1 + 1e-12); i++) seen += this.counts[i]!;
      out.push(seen);
    }
    return out;
  }
}

const MINUTE = 60_000;
/** the recent window: this minute and the 4 before it */
const WINDOW_MINUTES = 5;

/** A latency over the daemon's lifetime and over the last 5 minutes (a ring of per-minute histograms). */
export class WindowedHistogram {
  readonly lifetime = new Histogram();
  readonly #minutes: Histogram[] = [];
  readonly #minuteOf: number[] = [];

  record(us: number, now = Date.now()): void {
    this.lifetime.record(us);
    const minute = Math.floor(now / MINUTE);
    const slot = minute % WINDOW_MINUTES;
    let h = this.#minutes[slot];
    if (!h) h = this.#minutes[slot] = new Histogram();
    else if (this.#minuteOf[slot] !== minute) h.reset();
    this.#minuteOf[slot] = minute;
    h.record(us);
  }

  /** the last 5 minutes minute by minute, oldest first: each minute's start (ms since the epoch) and its samples */
  minutes(now = Date.now()): Array<{ start: number; histogram: Histogram }> {
    const minute = Math.floor(now / MINUTE);
    return this.#minutes
      .map((histogram, slot) => ({ start: this.#minuteOf[slot]! * MINUTE, histogram }))
      .filter((m) => minute - m.start / MINUTE < WINDOW_MINUTES)
      .sort((a, b) => a.start - b.start);
  }

  /** the samples of the last 5 minutes, merged */
  recent(now = Date.now()): Histogram {
    const minute = Math.floor(now / MINUTE);
    const merged = new Histogram();
    this.#minutes.forEach((h, slot) => {
      if (minute - this.#minuteOf[slot]! < WINDOW_MINUTES) merged.add(h);
    });
    return merged;
  }
}
