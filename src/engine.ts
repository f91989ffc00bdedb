// The one place that joins the stages of the data path:
//
//   session ─► router.match ─► outbound.dial ─► relay(client, upstream) ─► stats + one log line
//
// Inbounds hand a session here; they never pick a route or dial themselves. The state (router,
// outbounds, limits) is one object so that a reload can replace it whole.
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect } from 'node:tls';
import { Agent, type Dispatcher } from 'undici';
import type { Limits } from './config/index.js';
import { classify, ProxyError } from './errors.js';
import type { Logger } from './log/logger.js';
import type { DialContext, Outbound } from './outbound/index.js';
import { IdleWatch, relay, type RelayResult } from './relay.js';
import type { Resolver } from './resolver.js';
import type { RouteMatch, Router } from './router/index.js';
import { formatTarget, normalizeHost, type Session, type Target } from './session.js';
import type { RouteStats, Stats } from './stats/route-stats.js';

export interface EngineState {
  router: Router;
  outbounds: Map<string, Outbound>;
  resolver: Resolver;
  limits: Limits;
}

/** How an inbound answers its client once the engine knows whether the tunnel is up. */
export interface TunnelAnswer {
  /** the upstream is connected: tell the client (SOCKS5 success reply, HTTP 200) */
  ok(upstream: Socket): void;
  /** it failed: tell the client in its protocol's own words (SOCKS5 reply code, HTTP status) */
  fail(err: ProxyError): void;
}

export interface Routed {
  match: RouteMatch;
  outbound: Outbound;
  stats: RouteStats;
}

export class Engine {
  #state: EngineState;
  #pools = new Map<string, Agent>();
  readonly #idle: IdleWatch;
  /** sessions between routing and their log line: for `proxyctl connections` and draining */
  readonly open = new Map<number, { session: Session; route: string; since: number }>();
  readonly stats: Stats;
  readonly log: Logger;

  constructor(state: EngineState, stats: Stats, log: Logger) {
    this.#state = state;
    this.#idle = new IdleWatch(state.limits.idleTimeoutMs);
    this.stats = stats;
    this.log = log;
  }

  get limits(): Limits {
    return this.#state.limits;
  }

  /** Which rule matches the session's target, and the outbound it names. */
  async route(session: Session): Promise<Routed> {
    const { router, outbounds, resolver } = this.#state;
    const match = await router.match(session.target, resolver.resolve);
    const outbound = outbounds.get(match.target);
    if (!outbound) throw new ProxyError('rejected', `route "${match.target}" does not exist`);
    const stats = this.stats.route(match.target);
    stats.connections++;
    stats.active++; // until finish()
    this.open.set(session.id, { session, route: match.target, since: Date.now() });
    return { match, outbound, stats };
  }

  /** A tunnel (SOCKS5 CONNECT, HTTP CONNECT): route, dial, answer, relay, account. */
  async tunnel(session: Session, client: Socket, answer: TunnelAnswer): Promise<void> {
    const started = performance.now();
    let routed: Routed | undefined;
    let upstream: Socket;
    try {
      routed = await this.route(session);
      const ctx: DialContext = routed.match.resolved ? { session, resolved: routed.match.resolved } : { session };
      upstream = await this.#dial(routed, session.target, ctx);
    } catch (e) {
      const err = classify(e);
      this.finish(session, routed, started, { up: 0, down: 0, error: err });
      answer.fail(err);
      return;
    }
    if (client.destroyed) {
      upstream.destroy(); // the client gave up while we dialled
      this.finish(session, routed, started, { up: 0, down: 0, error: new ProxyError('reset', 'client left before connect') });
      return;
    }
    answer.ok(upstream);
    const result = await relay(client, upstream, this.#idle);
    this.finish(session, routed, started, result);
  }

  /** Dials through a route, timing the connect. */
  async #dial(routed: Routed, target: Target, ctx: DialContext): Promise<Socket> {
    const t0 = performance.now();
    const socket = await routed.outbound.dial(target, ctx);
    routed.stats.connectLatency.record(Math.max(1, Math.round((performance.now() - t0) * 1000)));
    return socket;
  }

  /**
   * The connection pool used to forward absolute-URI HTTP requests through a route: keep-alive
   * upstream connections, each one dialled by the route's outbound (TLS on top for https://).
   */
  pool(routed: Routed): Dispatcher {
    const name = routed.match.target;
    let pool = this.#pools.get(name);
    if (pool) return pool;
    pool = new Agent({
      keepAliveTimeout: 4_000,
      headersTimeout: this.#state.limits.idleTimeoutMs,
      bodyTimeout: this.#state.limits.idleTimeoutMs,
      connect: (opts, callback) => {
        const host = normalizeHost(opts.hostname) ?? opts.hostname;
        const port = Number(opts.port) || (opts.protocol === 'https:' ? 443 : 80);
        this.#dial(routed, { host, port }, {}).then((socket) => {
          if (opts.protocol !== 'https:') return callback(null, socket);
          const tls = tlsConnect({ socket, servername: opts.servername || host, ALPNProtocols: ['http/1.1'] });
          tls.once('secureConnect', () => callback(null, tls));
          tls.once('error', (err) => callback(err, null));
        }, (err: Error) => callback(err, null));
      },
    });
    this.#pools.set(name, pool);
    return pool;
  }

  /** Stats and the one log line of a finished tunnel or forwarded request. */
  finish(session: Session, routed: Routed | undefined, started: number, result: RelayResult): void {
    this.open.delete(session.id);
    if (routed) {
      routed.stats.active--;
      routed.stats.bytesUp += result.up;
      routed.stats.bytesDown += result.down;
      if (result.error) routed.stats.errors[result.error.cls]++;
    }
    const level = result.error && result.error.cls !== 'rejected' ? 'warn' : 'info';
    if (!this.log.isLevelEnabled(level)) return;
    this.log[level](
      {
        id: session.id,
        inbound: session.inbound,
        mode: session.mode,
        client: `${session.client.address}:${session.client.port}`,
        user: session.user,
        target: formatTarget(session.target),
        rule: routed?.match.rule,
        route: routed?.match.target,
        ms: Math.round(performance.now() - started),
        up: result.up,
        down: result.down,
        error: result.error?.cls,
        reason: result.error?.message,
      },
      session.mode === 'tunnel' ? 'connection' : 'request',
    );
  }

  /** Closes the forwarding pools (shutdown). */
  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((p) => p.close().catch(() => undefined)));
    this.#pools.clear();
  }
}
