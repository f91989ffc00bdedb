// The requests of one client connection: started in order, at most `inFlight` at once (Node's
// HTTP server then writes the responses in order). A client that pipelines 3,000 requests gets
// 6 exchanges at a time, not 3,000 upstream connections.
/** never rejects: the caller handles its own errors */
type Job = () => Promise<void>;

/** requests that may wait on one connection; beyond, the client is told to slow down */
const MAX_WAITING = 32;

export class RequestQueue {
  readonly #inFlight: number;
  #running = 0;
  readonly #waiting: Job[] = [];
  /** a request over the limit has been refused: the connection is closing */
  overflowed = false;

  constructor(inFlight: number) {
    this.#inFlight = inFlight;
  }

  /** requests one connection may have started or waiting */
  get limit(): number {
    return this.#inFlight + MAX_WAITING;
  }

  /** Starts the job now or when a slot frees; false when the connection already has `limit` pending. */
  add(job: Job): boolean {
    if (this.#running < this.#inFlight) {
      this.#start(job);
      return true;
    }
    if (this.#waiting.length >= MAX_WAITING) return false;
    this.#waiting.push(job);
    return true;
  }

  /** The connection closed: jobs not started are dropped; returns how many. */
  clear(): number {
    return this.#waiting.splice(0).length;
  }

  #start(job: Job): void {
    this.#running++;
    void job().finally(() => {
      this.#running--;
      const next = this.#waiting.shift();
      if (next) this.#start(next);
    });
  }
}
