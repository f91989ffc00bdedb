// The health of one member of a choice (a group's proxy, a mirror's upstream), as a pure state
// machine over check results and real traffic (no timers, no sockets: the group or mirror feeds
// it, tests drive it with plain numbers).
//
//   unknown ──pass──► up ──`failures` in a row──► down ──2 passes in a row──► up
//   a passing check slower than max-latency makes an up member "slow" (and a faster one fast again)
import { ERROR_CLASSES, type ErrorClass } from '../errors.js';

export type Status = 'unknown' | 'up' | 'down';

/** passing checks in a row that bring a down member back */
const PASSES_TO_RECOVER = 2;
/** check latencies kept for "recent latency" */
const RECENT = 10;

export interface HealthSettings {
  failures: number;
  maxLatencyMs: number;
}

/** What changed, for the one log line a change deserves. */
export type Transition = 'up' | 'down' | 'slow' | 'fast' | undefined;

export class MemberHealth {
  status: Status = 'unknown';
  slow = false;
  failuresInRow = 0;
  /** how many of failuresInRow were real connections, not checks */
  trafficFailuresInRow = 0;
  passesInRow = 0;
  lastCheck: { at: number; ok: boolean; latencyMs?: number; error?: string } | undefined;
  /** latencies of the recent passing checks, ms, oldest first */
  readonly latencies: number[] = [];
  readonly errors = Object.fromEntries(ERROR_CLASSES.map((c) => [c, 0])) as Record<ErrorClass, number>;

  /** A passing check (or a connection it carried, with no latency). */
  pass(now: number, latencyMs: number | undefined, s: HealthSettings): Transition {
    this.failuresInRow = 0;
    this.trafficFailuresInRow = 0;
    this.passesInRow++;
    if (latencyMs !== undefined) {
      this.lastCheck = { at: now, ok: true, latencyMs };
      this.latencies.push(latencyMs);
      if (this.latencies.length > RECENT) this.latencies.shift();
    }
    const wasSlow = this.slow;
    if (latencyMs !== undefined) this.slow = latencyMs > s.maxLatencyMs;
    if (this.status === 'unknown' || (this.status === 'down' && this.passesInRow >= PASSES_TO_RECOVER)) {
      this.status = 'up';
      return 'up';
    }
    if (this.status === 'up' && wasSlow !== this.slow) return this.slow ? 'slow' : 'fast';
    return undefined;
  }

  /**
   * A shallow check (no URL: only the member's server answered). It brings an unknown or down
   * member up as a pass would, but proves too little to clear the failures of real connections
   * through an up member: those still count toward marking it down.
   */
  reached(now: number, latencyMs: number, s: HealthSettings): Transition {
    if (this.status !== 'up' || this.trafficFailuresInRow === 0) return this.pass(now, latencyMs, s);
    this.lastCheck = { at: now, ok: true, latencyMs };
    return undefined;
  }

  /** A failed check, or a failed connection of real traffic (`check` false: no lastCheck). */
  fail(now: number, cls: ErrorClass, message: string, s: HealthSettings, check: boolean): Transition {
    this.passesInRow = 0;
    this.failuresInRow++;
    if (!check) this.trafficFailuresInRow++;
    this.errors[cls]++;
    if (check) this.lastCheck = { at: now, ok: false, error: `${message} (${cls})` };
    if (this.status !== 'down' && this.failuresInRow >= s.failures) {
      this.status = 'down';
      return 'down';
    }
    return undefined;
  }

  /** The median of the recent check latencies, or undefined before the first. */
  get recentLatencyMs(): number | undefined {
    if (this.latencies.length === 0) return undefined;
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }

  /** Takes over another's state (the same member in the group this one replaces on reload). */
  copyFrom(other: MemberHealth): void {
    this.status = other.status;
    this.slow = other.slow;
    this.failuresInRow = other.failuresInRow;
    this.trafficFailuresInRow = other.trafficFailuresInRow;
    this.passesInRow = other.passesInRow;
    this.lastCheck = other.lastCheck;
    this.latencies.push(...other.latencies);
    Object.assign(this.errors, other.errors);
  }
}
