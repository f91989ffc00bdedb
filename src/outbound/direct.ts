// DIRECT: connect to the target ourselves. The addresses dialled are the ones the router checked
// (or, when no rule needed one, the resolver's answer, `hosts` overrides first), never one of
// proxyd's own listeners; dual-stack with Happy Eyeballs (RFC 8305, Node's autoSelectFamily).
import { connect, isIP } from 'node:net';
import { formatTarget, reachedAddress, type Target } from '../address/index.js';
import { raceCancel } from '../deadline.js';
import { BLOCKED_ADVICE, classify, LOOP, ProxyError } from '../errors.js';
import { ReadSlot } from '../relay/read-slot.js';
import { fixedLookup, LookupError } from '../resolver.js';
import type { DialContext, Dialed, Dialer, OutboundDeps } from './types.js';

/** How long one address family gets before the next is tried in parallel (RFC 8305 suggests 250 ms). */
const HAPPY_EYEBALLS_DELAY_MS = 250;

export class DirectDialer implements Dialer {
  readonly kind = 'dialer';
  readonly name: string;
  readonly #chain: string[];
  readonly #deps: OutboundDeps;

  constructor(name: string, deps: OutboundDeps) {
    this.name = name;
    this.#chain = [name];
    this.#deps = deps;
  }

  async dial(target: Target, ctx: DialContext): Promise<Dialed> {
    // an IP target needs no lookup (nor a promise to race): the address it reaches (0.0.0.0 is this host)
    const addresses = ctx.resolved ?? (isIP(target.host) ? [reachedAddress(target.host)] : await raceCancel(ctx.resolver.resolve(target.host), ctx.cancel).catch((err: unknown) => {
      const e = classify(err, 'origin');
      throw e.cls === 'timeout' ? e : failed(`resolve ${target.host}`, e, err);
    }));
    if (addresses.length === 0) throw new ProxyError('dns', `${target.host} did not resolve`, 'ENOTFOUND', 'origin');
    if (addresses.some((a) => this.#deps.isSelf(a, target.port))) {
      throw new ProxyError('rejected', `${formatTarget(target)} is proxyd's own listener: refused (proxy loop)`, LOOP, 'proxyd');
    }
    return new Promise((resolve, reject) => {
      const slot = new ReadSlot();
      const socket = slot.bind(connect({
        onread: slot.onread,
        host: target.host,
        port: target.port,
        lookup: fixedLookup(addresses),
        autoSelectFamily: true,
        autoSelectFamilyAttemptTimeout: HAPPY_EYEBALLS_DELAY_MS,
        allowHalfOpen: true,
        noDelay: true,
      }));
      const onError = (err: Error & { errors?: Error[] }) => {
        stopWatching();
        // Happy Eyeballs reports an AggregateError of every attempt; the first tells the class
        const first = err.errors?.[0] ?? err;
        reject(failed(`connect to ${formatTarget(target)}`, classify(first, 'origin'), first));
      };
      const stopWatching = ctx.cancel.onAbort((reason) => {
        socket.destroy();
        // a deadline that passed while connecting to the target: the target did not answer in time
        reject(reason.cls === 'timeout' ? new ProxyError('timeout', reason.message, reason.code, 'origin') : reason);
      });
      socket.once('error', onError);
      socket.once('connect', () => {
        stopWatching();
        socket.removeListener('error', onError);
        resolve({ socket, chain: this.#chain });
      });
    });
  }

  async close(): Promise<void> {}
}

/**
 * `what: reason` for a failure of `what`, keeping the class, the code and the hop where it went
 * wrong: a bug (`internal`) stays at proxyd with its stack, and is passed on as it is.
 */
function failed(what: string, e: ProxyError, raw: unknown): ProxyError {
  if (e.cls === 'internal') return e;
  const cause = e === raw ? e.cause : raw;
  // a lookup says why in words (NXDOMAIN, a DNS server that timed out …); a blocked connect says what to check
  const reason = cause instanceof LookupError ? cause.message : e.cls === 'blocked' && e.code ? `${e.code} (${BLOCKED_ADVICE})` : e.code ?? e.message;
  return new ProxyError(e.cls, `${what}: ${reason}`, e.code, e.hop ?? 'origin', cause);
}
