// Figures per route (and, later, per upstream and mirror): counts, errors by class, connect
// latency as a native HDR histogram, bytes each way. Taken by the engine; no outbound knows of it.
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { ERROR_CLASSES, type ErrorClass } from '../errors.js';

export class RouteStats {
  connections = 0;
  active = 0;
  bytesUp = 0;
  bytesDown = 0;
  readonly errors = Object.fromEntries(ERROR_CLASSES.map((c) => [c, 0])) as Record<ErrorClass, number>;
  /** connect latency in microseconds */
  readonly connectLatency: RecordableHistogram = createHistogram();

  snapshot() {
    const h = this.connectLatency;
    const ms = (p: number) => (h.count ? h.percentile(p) / 1000 : null);
    return {
      connections: this.connections,
      active: this.active,
      errors: { ...this.errors },
      connectMs: { p50: ms(50), p90: ms(90), p99: ms(99), count: h.count },
      bytesUp: this.bytesUp,
      bytesDown: this.bytesDown,
    };
  }
}

export class Stats {
  readonly #routes = new Map<string, RouteStats>();

  route(name: string): RouteStats {
    let r = this.#routes.get(name);
    if (!r) this.#routes.set(name, (r = new RouteStats()));
    return r;
  }

  snapshot(): Record<string, ReturnType<RouteStats['snapshot']>> {
    return Object.fromEntries([...this.#routes].map(([name, r]) => [name, r.snapshot()]));
  }
}
