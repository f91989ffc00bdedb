// A group: a route target that carries each connection through one of its members, chosen by
// health. A member that fails to connect is retried on the next before the client is answered;
// a failure the member reports about the target is not (another member would not do better).
//
//   dial ─► order (fallback | fastest | round-robin, over health) ─► member 1 ─✗─► member 2 ─✓─► socket
//   checks: every interval the chosen member and the next one; all of them every fifth interval;
//           at once for a member whose connection just failed
import { Deadline } from '../../deadline.js';
import { classify, LOOP, ProxyError } from '../../errors.js';
import type { Target } from '../../address/index.js';
import type { BuildContext, DialContext, Dialed, Dialer, HealthChecked, HealthState, OutboundDef, OutboundDeps } from '../types.js';
import { checkThrough, type CheckSettings } from './check.js';
import { MemberHealth, type HealthSettings, type Transition } from '../../health/member-health.js';
import { fallbackOrder, fastestOrder, roundRobinOrder, type Candidate, type Choice, type GroupType } from '../../health/order.js';

export interface GroupDef extends OutboundDef {
  type: GroupType;
  members: string[];
  check: { url?: string; intervalMs: number; timeoutMs: number; failures: number; maxLatencyMs: number; expect: number[] };
  toleranceMs: number;
}

/** every how many intervals the members other than the chosen one and the next are checked */
const FULL_ROUND_EVERY = 5;

interface Member extends Candidate {
  dialer: Dialer;
}

export class Group implements Dialer, HealthChecked {
  readonly kind = 'dialer';
  readonly name: string;
  readonly #def: GroupDef;
  readonly #members: Member[];
  readonly #check: CheckSettings;
  readonly #health: HealthSettings;
  readonly #deps: OutboundDeps;
  readonly #checking = new Set<Member>();
  #current: string | undefined;
  #turn = 0;
  #round = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(def: GroupDef, ctx: BuildContext) {
    this.name = def.name;
    this.#def = def;
    this.#deps = ctx;
    this.#check = { url: def.check.url ? new URL(def.check.url) : undefined, timeoutMs: def.check.timeoutMs, expect: def.check.expect };
    this.#health = { failures: def.check.failures, maxLatencyMs: def.check.maxLatencyMs };
    this.#members = def.members.map((name) => ({ name, dialer: ctx.dialer(name), health: new MemberHealth() }));
    if (ctx.previous instanceof Group) this.#takeOver(ctx.previous);
    // the first round of checks right away (after this turn: the daemon may still be starting)
    setImmediate(() => this.#runChecks(this.#members)).unref();
    this.#timer = setInterval(() => this.#tick(), def.check.intervalMs).unref();
  }

  /**
   * The group this one replaces on reload: a member that is the same keeps its health, and the
   * choice stays. (A method, not in the constructor: a closure there would keep `previous`.)
   */
  #takeOver(previous: Group): void {
    for (const m of this.#members) {
      const before = previous.#members.find((p) => p.name === m.name && p.dialer === m.dialer);
      if (before) m.health.copyFrom(before.health);
    }
    this.#current = previous.#current;
  }

  /** The members in the order a connection would try them now, and why the first. */
  choice(): Choice {
    const type = this.#def.type;
    if (type === 'fastest') return fastestOrder(this.#members, this.#current, this.#def.toleranceMs);
    if (type === 'round-robin') return roundRobinOrder(this.#members, this.#turn);
    return fallbackOrder(this.#members);
  }

  health(): HealthState {
    const { why } = this.choice();
    return {
      type: this.#def.type,
      current: this.#current,
      why,
      members: this.#members.map((m) => ({
        name: m.name, status: m.health.status, slow: m.health.slow, lastCheck: m.health.lastCheck,
        recentLatencyMs: m.health.recentLatencyMs, errors: { ...m.health.errors },
      })),
    };
  }

  async checkNow(): Promise<void> {
    await this.#runChecks(this.#members);
  }

  async dial(target: Target, ctx: DialContext): Promise<Dialed> {
    const choice = this.choice();
    if (this.#def.type !== 'round-robin') this.#chose(choice); // round-robin changes member on purpose: not news
    this.#turn++;
    let lastError: ProxyError | undefined;
    for (const name of choice.order) {
      if (ctx.cancel.aborted) throw ctx.cancel.reason;
      const member = this.#members.find((m) => m.name === name)!;
      // each member gets at most the check timeout, so a silent one leaves time for the next
      const attempt = new Deadline(this.#check.timeoutMs, `connect through ${this.name}/${name}`);
      const stopWatching = ctx.cancel.onAbort((reason) => attempt.abort(reason));
      try {
        const dialed = await member.dialer.dial(target, { ...ctx, cancel: attempt });
        this.#observe(member, member.health.pass(Date.now(), undefined, this.#health));
        return { socket: dialed.socket, chain: [this.name, ...dialed.chain] };
      } catch (err) {
        const e = classify(err, 'upstream');
        if (ctx.cancel.aborted || !memberAtFault(e)) throw e;
        lastError = e;
        if (e.cls !== 'rejected' || e.code === LOOP) { // an upstream's policy refusal is not ill health
          // passive detection: it counts at once, and the member is checked again now
          this.#observe(member, member.health.fail(Date.now(), e.cls, e.message, this.#health, false), `${e.message} (${e.cls})`);
          void this.#runChecks([member]);
        }
      } finally {
        attempt.done();
        stopWatching();
      }
    }
    throw lastError!;
  }

  /** As a member of another group, without a check URL: reachable while one of its own members may be. */
  async reach(): Promise<void> {
    if (this.#members.every((m) => m.health.status === 'down')) {
      throw new ProxyError('unreachable', `every member of ${this.name} is down`, 'EHOSTUNREACH', 'upstream');
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
  }

  #tick(): void {
    this.#round++;
    if (this.#round % FULL_ROUND_EVERY === 0) return void this.#runChecks(this.#members);
    const [first, next] = this.choice().order;
    void this.#runChecks(this.#members.filter((m) => m.name === first || m.name === next));
  }

  async #runChecks(members: readonly Member[]): Promise<void> {
    await Promise.all(members.map(async (m) => {
      if (this.#closed || this.#checking.has(m)) return;
      this.#checking.add(m);
      try {
        const latency = await checkThrough(m.dialer, this.#check, this.#deps.resolver());
        const t = latency === undefined ? m.health.pass(Date.now(), undefined, this.#health)
          : this.#check.url ? m.health.pass(Date.now(), Math.round(latency), this.#health)
            : m.health.reached(Date.now(), Math.round(latency), this.#health);
        this.#observe(m, t);
      } catch (err) {
        const e = classify(err, 'upstream');
        if (e.cls !== 'internal') this.#observe(m, m.health.fail(Date.now(), e.cls, e.message, this.#health, true));
        else this.#deps.log.error({ group: this.name, member: m.name, error: e.cls, reason: e.message, stack: e.causeStack }, `checking ${this.name}/${m.name} failed inside proxyd (not counted against it)`);
      } finally {
        this.#checking.delete(m);
      }
    }));
    if (!this.#closed) this.#chose(this.choice());
  }

  /** One log line per change of a member's health; `reason`: the failed connection that caused it. */
  #observe(m: Member, t: Transition, reason?: string): void {
    if (!t || this.#closed) return;
    const h = m.health;
    const fields = { group: this.name, member: m.name, status: h.status, latencyMs: h.lastCheck?.latencyMs, maxLatencyMs: this.#health.maxLatencyMs, lastCheck: h.lastCheck?.error };
    if (t === 'down') this.#deps.log.warn(fields, `${this.name}/${m.name} is down: ${h.failuresInRow} failure(s) in a row (${reason ?? h.lastCheck?.error})`);
    else if (t === 'slow') this.#deps.log.warn(fields, `${this.name}/${m.name} is slow: its check took ${h.lastCheck?.latencyMs} ms, over max-latency ${this.#health.maxLatencyMs} ms`);
    else if (t === 'up') this.#deps.log.info(fields, `${this.name}/${m.name} is up`);
    else this.#deps.log.info(fields, `${this.name}/${m.name} is under max-latency again`);
  }

  /** Remembers the current choice, logging a change once. */
  #chose(choice: Choice): void {
    const first = choice.order[0];
    if (first === this.#current || this.#closed) return;
    if (this.#current !== undefined) this.#deps.log.info({ group: this.name, from: this.#current, to: first, why: choice.why }, `${this.name} now uses ${first} (${choice.why})`);
    this.#current = first;
  }
}

/**
 * Whether a failed connection is the member's fault (retry on the next, count it against the
 * member) or the target's, as reported by the member's upstream, or a bug: answer the client.
 */
function memberAtFault(e: ProxyError): boolean {
  if (e.code === LOOP && e.hop === 'proxyd') return false; // the target is proxyd itself: no member may carry it
  return e.reportedBy === undefined && e.cls !== 'internal';
}
