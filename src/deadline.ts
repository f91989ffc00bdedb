// The connect deadline of a session: one timer and one abort signal covering whatever it takes
// to get a connection up (the router's DNS lookup, the dial, a TLS handshake on top). Dialers
// listen to the signal and release their sockets; the engine races each step against it.
import { ProxyError } from './errors.js';

export class Deadline {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;

  /** `what` names the step for the timeout's message ("connect to a.example:443") */
  constructor(ms: number, what: string) {
    this.#timer = setTimeout(() => this.abort(new ProxyError('timeout', `${what} timed out after ${ms} ms`, 'ETIMEDOUT')), ms);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Ends the deadline early: the client left, or the step failed for another reason. */
  abort(reason: ProxyError): void {
    clearTimeout(this.#timer);
    if (!this.#controller.signal.aborted) this.#controller.abort(reason);
  }

  /** The connection is up: the deadline no longer applies. */
  done(): void {
    clearTimeout(this.#timer);
  }

  /** `promise`, unless the deadline passes (or is aborted) first. */
  race<T>(promise: Promise<T>): Promise<T> {
    return raceSignal(promise, this.#controller.signal);
  }
}

/** `promise`, or the signal's reason when it aborts first. */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}
