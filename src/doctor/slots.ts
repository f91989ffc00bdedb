// How doctor's probes share the network: at most `max` at once, each with its own deadline, and
// all of them within the run's deadline. A probe still waiting for a slot when the run's deadline
// passes never starts.
import { Deadline, type Cancel } from '../deadline.js';

/** At most this many probes (a lookup, a route's connect + TLS + HTTP) at once. */
const MAX_PARALLEL_PROBES = 16;

export class ProbeSlots {
  readonly #max: number;
  readonly #run: Deadline;
  #busy = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(deadlineMs: number, max = MAX_PARALLEL_PROBES) {
    this.#max = max;
    this.#run = new Deadline(deadlineMs, 'doctor');
  }

  /** the run's deadline: a probe that sees it aborted stops */
  get run(): Cancel {
    return this.#run;
  }

  /** `probe` once a slot is free; undefined when the run's deadline passed first. */
  async take<T>(probe: () => Promise<T>): Promise<T | undefined> {
    if (this.#run.aborted) return undefined;
    if (this.#busy < this.#max) this.#busy++;
    else if (!(await this.#slotFreed())) return undefined;
    try {
      return await probe();
    } finally {
      const next = this.#waiting.shift();
      if (next) next(); // the slot passes to the next probe as it is
      else this.#busy--;
    }
  }

  /** true when a slot passed to this caller, false when the run's deadline passed first */
  #slotFreed(): Promise<boolean> {
    return new Promise((resolve) => {
      const start = () => { stop(); resolve(true); };
      this.#waiting.push(start);
      const stop = this.#run.onAbort(() => {
        this.#waiting.splice(this.#waiting.indexOf(start), 1);
        resolve(false);
      });
    });
  }

  /** A deadline of `ms` for one step, ended early by the run's. */
  step(ms: number, what: string): Deadline {
    const d = new Deadline(ms, what);
    const stop = this.#run.onAbort((reason) => d.abort(reason));
    d.onAbort(stop);
    return d;
  }

  /** The run is over: nothing waits any longer. */
  done(): void {
    this.#run.done();
  }
}
