// DIRECT: connect to the target ourselves; dual-stack with Happy Eyeballs (RFC 8305, Node's
// autoSelectFamily), `hosts` overrides before system DNS, and a connect timeout.
import { connect, type Socket } from 'node:net';
import { classify, ProxyError } from '../errors.js';
import { fixedLookup, type Resolver } from '../resolver.js';
import { formatTarget, type Target } from '../session.js';
import type { DialContext, Dialer } from './types.js';

/** How long one address family gets before the next is tried in parallel (RFC 8305 suggests 250 ms). */
const HAPPY_EYEBALLS_DELAY_MS = 250;

export class DirectDialer implements Dialer {
  readonly kind = 'dialer';
  readonly name = 'DIRECT';
  readonly #resolver: Resolver;
  readonly #timeoutMs: number;

  constructor(resolver: Resolver, connectTimeoutMs: number) {
    this.#resolver = resolver;
    this.#timeoutMs = connectTimeoutMs;
  }

  dial(target: Target, ctx: DialContext): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect({
        host: target.host,
        port: target.port,
        lookup: ctx.resolved?.length ? fixedLookup(ctx.resolved) : this.#resolver.lookup,
        autoSelectFamily: true,
        autoSelectFamilyAttemptTimeout: HAPPY_EYEBALLS_DELAY_MS,
        allowHalfOpen: true,
        noDelay: true,
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ProxyError('timeout', `connect to ${formatTarget(target)} timed out after ${this.#timeoutMs} ms`, 'ETIMEDOUT'));
      }, this.#timeoutMs);
      const onError = (err: Error & { errors?: Error[] }) => {
        clearTimeout(timer);
        // Happy Eyeballs reports an AggregateError of every attempt; the first tells the class
        const e = classify(err.errors?.[0] ?? err);
        reject(new ProxyError(e.cls, `connect to ${formatTarget(target)}: ${e.code ?? e.message}`, e.code));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', onError);
        resolve(socket);
      });
    });
  }
}
