// The last failed connections and requests, newest first: what `proxyctl errors` and the
// dashboard show beside the counts by class, so that a class can be read with its latest reason.
// A ring: it holds the last KEPT, whatever the failure rate.

/** one failed connection or request, as its log line has it */
interface RecentError {
  /** when it ended, ms since the epoch */
  at: number;
  id: number;
  class: string;
  hop?: string | undefined;
  /** what carried it: the route, or a group and its member (github-out/overseas) */
  route: string;
  rule?: string | undefined;
  target: string;
  client: string;
  reason: string;
}

const KEPT = 100;

export class RecentErrors {
  readonly #ring: RecentError[] = [];
  #next = 0;

  add(e: RecentError): void {
    this.#ring[this.#next] = e;
    this.#next = (this.#next + 1) % KEPT;
  }

  /** newest first */
  list(): RecentError[] {
    const oldestFirst = [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
    return oldestFirst.reverse();
  }
}
