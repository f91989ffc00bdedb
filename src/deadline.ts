// The connect deadline of a session: one timer covering whatever it takes to get a connection up
// (the router's DNS lookup, the dial, a TLS handshake on top). Dialers watch it through the
// Cancel interface and release their sockets when it passes or the client leaves; the engine
// races each step against it. (A plain listener list: an AbortController per connection costs
// more than the rest of the session's bookkeeping.)
import { ProxyError } from './errors.js';

/** What a dialer watches: it must stop and release everything once `aborted`. */
export interface Cancel {
  readonly aborted: boolean;
  /** why it was aborted: a timeout, or the client left */
  readonly reason: ProxyError | undefined;
  /** calls fn once, when aborted (at once if it already is); returns the function that stops watching */
  onAbort(fn: (reason: ProxyError) => void): () => void;
}

export class Deadline implements Cancel {
  #reason: ProxyError | undefined;
  #watchers: Array<(reason: ProxyError) => void> = [];
  readonly #timer: NodeJS.Timeout;

  /** `what` names the step for the timeout's message ("connect to a.example:443") */
  constructor(ms: number, what: string) {
    this.#timer = setTimeout(() => this.abort(new ProxyError('timeout', `${what} timed out after ${ms} ms`, 'ETIMEDOUT')), ms);
  }

  get aborted(): boolean {
    return this.#reason !== undefined;
  }

  get reason(): ProxyError | undefined {
    return this.#reason;
  }

  onAbort(fn: (reason: ProxyError) => void): () => void {
    if (this.#reason) {
      fn(this.#reason);
      return () => undefined;
    }
    this.#watchers.push(fn);
    return () => {
      const i = this.#watchers.indexOf(fn);
      if (i >= 0) this.#watchers.splice(i, 1);
    };
  }

  /** Ends the deadline early: the client left, or the step failed for another reason. */
  abort(reason: ProxyError): void {
    clearTimeout(this.#timer);
    if (this.#reason) return;
    this.#reason = reason;
    const watchers = this.#watchers;
    this.#watchers = [];
    for (const fn of watchers) fn(reason);
  }

  /** The connection is up: the deadline no longer applies. */
  done(): void {
    clearTimeout(this.#timer);
    this.#watchers = [];
  }

  /** `promise`, unless the deadline passes (or is aborted) first. */
  race<T>(promise: Promise<T>): Promise<T> {
    return raceCancel(promise, this);
  }
}

/** `promise`, or the cancel's reason when it is aborted first. */
export function raceCancel<T>(promise: Promise<T>, cancel: Cancel): Promise<T> {
  if (cancel.aborted) return Promise.reject(cancel.reason);
  return new Promise<T>((resolve, reject) => {
    const stop = cancel.onAbort(reject);
    promise.then((v) => { stop(); resolve(v); }, (e: unknown) => { stop(); reject(e); });
  });
}
