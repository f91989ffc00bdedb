// A brake on password guessing, shared by both inbounds: after FAILURES failed attempts from one
// client address within WINDOW, that address's further attempts are checked one at a time, each
// DELAY after the previous one, for PENALTY (so parallel guesses gain nothing). At most BACKLOG of
// them wait; more are refused at once without being checked, so a flood of guesses neither holds
// sockets until their handshake timeout nor pushes a later right password past it. One log line
// per burst. Runtime state: it survives a reload.
import { isIP } from 'node:net';
import { ipv6Bytes, unmapIPv4 } from '../address/index.js';
import type { Logger } from '../log/logger.js';

const FAILURES = 5;
const WINDOW_MS = 10_000;
const DELAY_MS = 1_000;
const PENALTY_MS = 60_000;
/** how far ahead turns may be handed out (attempts waiting at once, at DELAY each) */
const BACKLOG_MS = 4 * DELAY_MS;
/** turn(): refuse this attempt now, unchecked */
export const REFUSE = -1;
/** addresses remembered at most (the oldest are forgotten first), so a flood of sources cannot grow it */
const MAX_TRACKED = 10_000;

interface ClientRecord {
  /** times of recent failures, oldest first */
  failures: number[];
  /** attempts are held until then */
  until: number;
  /** when the last held attempt gets its turn */
  next: number;
}

export class AuthThrottle {
  readonly #clients = new Map<string, ClientRecord>();
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(log: Logger, now: () => number = Date.now) {
    this.#log = log;
    this.#now = now;
  }

  /**
   * How long to hold an attempt from this address before checking it (0: at once), reserving its
   * turn; REFUSE when the backlog is full: answer it as a failure now, without checking it.
   */
  turn(address: string): number {
    const r = this.#clients.get(clientKey(address));
    const now = this.#now();
    if (!r || r.until <= now) return 0;
    const at = Math.max(now, r.next) + DELAY_MS;
    if (at - now > BACKLOG_MS) return REFUSE;
    r.next = at;
    return at - now;
  }

  failed(address: string, inbound: string): void {
    const now = this.#now();
    const key = clientKey(address);
    let r = this.#clients.get(key);
    if (r) this.#clients.delete(key); // re-inserted below: the map's order is least recently failed first
    else {
      if (this.#clients.size >= MAX_TRACKED) this.#clients.delete(this.#clients.keys().next().value!);
      r = { failures: [], until: 0, next: 0 };
    }
    this.#clients.set(key, r);
    r.failures.push(now);
    while (r.failures.length && r.failures[0]! <= now - WINDOW_MS) r.failures.shift();
    if (r.failures.length >= FAILURES && r.until <= now) {
      r.until = now + PENALTY_MS;
      r.next = now; // turns reserved in an earlier burst (by clients that then left) do not carry over
      this.#log.warn({ client: address, inbound, failures: r.failures.length, windowMs: WINDOW_MS },
        `authentication: ${r.failures.length} failures within ${WINDOW_MS / 1000} s; answering this client's attempts after ${DELAY_MS / 1000} s for ${PENALTY_MS / 1000} s`);
    } else if (r.until > now) {
      r.until = now + PENALTY_MS; // still guessing: the penalty runs on
    }
  }
}

/**
 * Who a brake applies to: an IPv4 address, or an IPv6 /64 (one host usually holds a whole /64, so
 * per-address records would let it rotate addresses past the brake).
 */
function clientKey(address: string): string {
  const a = unmapIPv4(address);
  if (isIP(a) !== 6) return a;
  const b = ipv6Bytes(a.split('%')[0]!);
  return `${Buffer.from(b.subarray(0, 8)).toString('hex')}::/64`;
}

/** Resolves after ms (0: at once, in the same turn of the event loop as far as callers see). */
export function hold(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms).unref()) : Promise.resolve();
}
