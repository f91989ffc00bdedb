// The one place that joins the stages of the data path, one entry per mode:
//
//   tunnel   session ─► route ─► dialer.dial ─► relay(client, upstream)       ─┐
//                             └► responder: the tunnel is served as HTTP by it  ├─► stats + one log line
//   forward  session ─► route ─► client's pool ─► exchange (or the responder)   │
//   respond  session ─► endpoint by path ─► responder.respond                  ─┘
//
// Inbounds parse their protocol, hand a session here and answer in their protocol's words
// through the answer objects; they never pick a route or dial. The state is one object that
// reload swaps; each session keeps the state it started with.
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { formatTarget, type Target } from '../address/index.js';
import { countUpstream, uncountUpstream } from '../access/connection-count.js';
import { Deadline, type Cancel } from '../deadline.js';
import { classify, NO_ENDPOINT, ProxyError } from '../errors.js';
import { ForwardPools } from '../forward/pools.js';
import type { Logger } from '../log/logger.js';
import { reportOutOfFiles } from '../log/out-of-files.js';
import type { Dialed, Dialer, Outbound, Responder } from '../outbound/index.js';
import type { HttpAnswer, HttpRequest } from '../protocol/http-exchange.js';
import { relay, type RelayResult } from '../relay/relay.js';
import type { RouteMatch } from '../router/index.js';
import type { Session } from '../session.js';
import type { Figures } from '../stats/figures.js';
import { RecentErrors } from '../stats/recent-errors.js';
import type { Stats } from '../stats/stats.js';
import { handshakeFailure, Interception, type LeafIssuer } from './interception.js';
import { endpointFor, type EngineState } from './state.js';

/** How an inbound answers its client once the engine knows whether the tunnel is up. */
export interface TunnelAnswer {
  /** the tunnel is up: tell the client (SOCKS5 success with the upstream socket's address when there is one, HTTP 200) */
  ok(upstream?: Socket): void;
  /** it failed: tell the client in its protocol's own words (SOCKS5 reply code, HTTP status) */
  fail(err: ProxyError): void;
}

/**
 * Serves HTTP requests read from a client stream with a responder (set by the daemon: the HTTP
 * inbound's parser); `https` when the stream is TLS proxyd terminated (the requests are for https://).
 */
type ServeHttp = (client: Socket, session: Session, responder: Responder, https: boolean) => Promise<void>;

interface Routed {
  match: RouteMatch;
  outbound: Outbound;
  stats: Figures;
  /** the upstream that carried it (a proxy, or a group's member), once dialled */
  upstream?: Figures;
  /** what carried the connection (filled in by the dial) */
  chain?: string[];
  /** the session no longer needs the outbound object (its dial or exchange is over) */
  released?: boolean;
}

/** A session between routing and its log line: what `proxyctl connections` lists. */
interface RoutedSession {
  session: Session;
  route: string;
  rule: string;
  since: number;
}

export class Engine {
  #state: EngineState;
  /** sessions between routing and their log line, by id: `proxyctl connections` lists them */
  readonly open = new Map<number, RoutedSession>();
  readonly stats: Stats;
  /** the last failures, for `proxyctl errors` and the dashboard */
  readonly recentErrors = new RecentErrors();
  readonly log: Logger;
  /** sessions using each outbound, so a retired one is closed when its last session ends */
  readonly #users = new Map<Outbound, number>();
  readonly #retired = new Set<Outbound>();
  readonly #pools = new WeakMap<Socket, ForwardPools>();
  #serveHttp: ServeHttp | undefined;
  readonly #interception: Interception;

  constructor(state: EngineState, stats: Stats, log: Logger) {
    this.#state = state;
    this.stats = stats;
    this.log = log;
    this.#interception = new Interception();
  }

  /** The local CA that intercepted tunnels are served with, as the daemon keeps it (none: they go through fallback). */
  set leafIssuer(current: () => LeafIssuer | undefined) {
    this.#interception.issuer = current;
  }

  get state(): EngineState {
    return this.#state;
  }

  /** The HTTP parser that serves a tunnel routed to a responder. */
  set serveHttp(serve: ServeHttp) {
    this.#serveHttp = serve;
  }

  /**
   * Reload: new sessions take `next`; open ones finish on the state they started with. Retired
   * outbounds are closed once no session uses them.
   */
  swap(next: EngineState, retired: readonly Outbound[]): void {
    this.#state = next;
    for (const o of retired) {
      if (this.#users.get(o)) this.#retired.add(o);
      else void this.#closeOutbound(o);
    }
  }

  /**
   * A tunnel (SOCKS5 CONNECT, HTTP CONNECT): route, dial, answer, relay, account. Never rejects:
   * a failure is answered to the client and logged (a bug as `internal`, with its stack).
   */
  async tunnel(session: Session, client: Socket, answer: TunnelAnswer): Promise<void> {
    const state = this.#state;
    const started = performance.now();
    let routed: Routed | undefined;
    try {
      const opened = await this.#openTunnel(state, session, client);
      routed = opened.routed;
      if ('error' in opened) throw opened.error;
      if ('responder' in opened) return await this.#tunnelToResponder(state, session, client, answer, opened.routed, opened.responder, started);
      const { socket, chain } = opened.dialed;
      this.#carried(opened.routed, chain);
      this.#release(opened.routed);
      countUpstream(client);
      let firstByte: (() => void) | undefined;
      if (this.stats.enabled) {
        const { stats, upstream } = opened.routed;
        firstByte = () => {
          const us = (performance.now() - started) * 1000;
          stats.ttfb.record(us);
          upstream?.ttfb.record(us);
        };
      }
      answer.ok(socket);
      const result = await relay(client, socket, state.idle, firstByte);
      uncountUpstream(client);
      this.#finish(session, opened.routed, started, result);
    } catch (e) {
      const error = classify(e, 'proxyd');
      const finished = routed && !this.open.has(session.id); // a failure after the log line (a bug) is not logged twice
      if (!finished) this.#finish(session, routed, started, { up: 0, down: 0, error });
      else this.log.error({ id: session.id, error: error.cls, reason: error.message, stack: error.causeStack }, 'tunnel failed inside proxyd');
      if (!client.destroyed) answer.fail(error);
    }
  }

  /**
   * Route and dial under one deadline, which ends when the client leaves. A function of its own so
   * that the deadline and its listeners are not kept for the life of the tunnel.
   */
  async #openTunnel(state: EngineState, session: Session, client: Socket): Promise<
    { routed: Routed; dialed: Dialed } | { routed: Routed; responder: Responder } | { routed: Routed | undefined; error: unknown }
  > {
    const deadline = new Deadline(state.limits.connectTimeoutMs, `connect to ${formatTarget(session.target)}`);
    const left = () => new ProxyError('reset', 'client left before the tunnel was up', undefined, 'client');
    const clientLeft = () => deadline.abort(left());
    if (client.destroyed) clientLeft(); // it left while its request was held (the guessing brake)
    else client.once('close', clientLeft);
    let routed: Routed | undefined;
    try {
      routed = await this.#route(state, session, deadline);
      const { outbound } = routed;
      if (outbound.kind === 'responder' && (!outbound.tunnelVia || intercepted(outbound, session.target))) return { routed, responder: outbound };
      // a responder that does not serve tunnels (a mirror without intercept: true) has them carried by its route
      const dialer = outbound.kind === 'responder' ? outbound.tunnelVia! : outbound;
      const dialed = await this.#dial(routed, dialer, session.target, routed.match.resolved, deadline, state);
      if (dialer !== outbound) dialed.chain = [outbound.name, ...dialed.chain];
      if (client.destroyed) {
        dialed.socket.destroy();
        throw left();
      }
      return { routed, dialed };
    } catch (error) {
      return { routed, error };
    } finally {
      deadline.done();
      client.removeListener('close', clientLeft);
    }
  }

  /** One absolute-URI request (`GET http://host/…` to the proxy): route, then the route's pool or responder. */
  async forward(session: Session, client: Socket, request: HttpRequest, answer: HttpAnswer): Promise<void> {
    const state = this.#state;
    const started = performance.now();
    const deadline = new Deadline(state.limits.connectTimeoutMs, `resolve ${session.target.host}`);
    let routed: Routed | undefined;
    let error: ProxyError | undefined;
    try {
      routed = await this.#route(state, session, deadline);
      deadline.done();
      const { outbound } = routed;
      if (outbound.kind === 'responder') await outbound.respond(request, answer, session);
      else this.#carried(routed, await this.#poolsOf(client).exchange(outbound, routed.match.resolved, state.limits, request, answer));
    } catch (e) {
      error = classify(e, 'proxyd');
      this.#failAnswer(answer, error);
    } finally {
      deadline.done();
      this.#finish(session, routed, started, { ...answer.bytes(), error, headAt: answer.headAt });
    }
  }

  /** One origin-form request (`GET /go/…`): the responder whose endpoint the path is at, or the given one. */
  async respond(session: Session, request: HttpRequest, answer: HttpAnswer, responder?: Responder): Promise<void> {
    const state = this.#state;
    const started = performance.now();
    const chosen = responder ?? endpointFor(state, request.path);
    let routed: Routed | undefined;
    let error: ProxyError | undefined;
    try {
      if (!chosen) {
        const where = request.path.split('?')[0];
        const paths = state.endpoints.map(([p]) => p).sort();
        throw new ProxyError('protocol', `no mirror endpoint at ${where} (${paths.length ? `mirrors are at ${paths.join(', ')}` : 'origin-form requests are for mirrors; none is configured'})`, NO_ENDPOINT, 'client');
      }
      routed = this.#open(session, { target: chosen.name, rule: responder ? '(tunnel)' : `endpoint ${request.path.split(/[/?]/, 2).join('/')}`, index: -1 }, chosen);
      await chosen.respond(request, answer, session);
    } catch (e) {
      error = classify(e, 'proxyd');
      this.#failAnswer(answer, error);
    } finally {
      this.#finish(session, routed, started, { ...answer.bytes(), error, headAt: answer.headAt });
    }
  }

  /** Closes every outbound and every client's forwarding pools (shutdown). */
  async close(): Promise<void> {
    const all = new Set([...this.#state.outbounds.values(), ...this.#retired]);
    this.#retired.clear();
    await Promise.all([...all].map((o) => this.#closeOutbound(o)));
  }

  /**
   * Ends one open session, as an error so that the relay tears down the upstream side too and the
   * session's line says `reason`. False when no session of that id is open.
   */
  closeSession(id: number, reason: string): boolean {
    const routed = this.open.get(id);
    if (!routed) return false;
    routed.session.socket.destroy(new ProxyError('reset', reason, undefined, 'proxyd'));
    return true;
  }

  /**
   * Which rule matches the session's target, under the session's deadline for any DNS lookup; a
   * tunnel to port 443 of a host a responder intercepts goes to that responder, whatever the rules say.
   */
  async #route(state: EngineState, session: Session, deadline: Deadline): Promise<Routed> {
    const interceptor = state.intercept.size && session.mode === 'tunnel' && session.target.port === 443 ? state.intercept.get(session.target.host.toLowerCase()) : undefined;
    if (interceptor) return this.#open(session, { target: interceptor.name, rule: `(an origin of ${interceptor.name}: intercept)`, index: -1 }, interceptor);
    const match = await state.router.match(session.target, (host) => deadline.race(state.resolver.resolve(host)));
    if (deadline.aborted) throw deadline.reason; // a lookup cut short: not "did not resolve"
    const outbound = state.outbounds.get(match.target);
    if (!outbound) throw new ProxyError('internal', `route "${match.target}" does not exist`, undefined, 'proxyd');
    return this.#open(session, match, outbound);
  }

  #open(session: Session, match: RouteMatch, outbound: Outbound): Routed {
    const stats = this.stats.route(match.target);
    stats.connections++;
    stats.active++; // until #finish
    if (match.index >= 0) this.stats.hit(match.rule);
    this.#users.set(outbound, (this.#users.get(outbound) ?? 0) + 1); // until #release
    this.open.set(session.id, { session, route: match.target, rule: match.rule, since: Date.now() });
    return { match, outbound, stats };
  }

  /**
   * What carried it: the chain names the upstream (a proxy, or the member of a group) whose
   * figures it joins. A DIRECT route has none.
   */
  #carried(routed: Routed, chain: string[] | undefined): void {
    if (!chain) return;
    routed.chain = chain;
    const upstream = this.#upstreamOf(chain, routed.outbound.kind === 'responder');
    if (!upstream) return;
    routed.upstream = upstream;
    upstream.connections++;
    upstream.active++; // until #finish
  }

  /**
   * The figures of the upstream a chain names: its last hop, a proxy or a group's member. DIRECT
   * counts only as a group's member (how often the group went direct), not as a route of its own
   * nor under a mirror's fallback.
   */
  #upstreamOf(chain: readonly string[], viaResponder: boolean): Figures | undefined {
    const last = chain[chain.length - 1]!;
    if ((last === 'DIRECT' || last === 'REJECT') && (chain.length === 1 || viaResponder)) return undefined;
    return this.stats.upstream(last);
  }

  /** Dials through a route under the session's deadline, timing the connect. */
  async #dial(routed: Routed, dialer: Dialer, target: Target, resolved: string[] | undefined, cancel: Cancel, state: EngineState): Promise<Dialed> {
    const ctx = resolved ? { resolved, resolver: state.resolver, cancel } : { resolver: state.resolver, cancel };
    return this.#timed(routed.stats, () => dialer.dial(target, ctx));
  }

  /** A dial, its connect time recorded in the route's histogram and its upstream's. */
  async #timed(stats: Figures, dial: () => Promise<Dialed>): Promise<Dialed> {
    const t0 = performance.now();
    const dialed = await dial();
    if (this.stats.enabled) {
      const us = (performance.now() - t0) * 1000;
      stats.connect.record(us);
      this.#upstreamOf(dialed.chain, false)?.connect.record(us);
    }
    return dialed;
  }

  /** The forwarding pools of a client connection, closed with it. */
  #poolsOf(client: Socket): ForwardPools {
    let pools = this.#pools.get(client);
    if (pools) return pools;
    pools = new ForwardPools(async (dialer, open, cancel) => {
      const dialed = await this.#timed(this.stats.route(dialer.name), () => open({ resolver: this.#state.resolver, cancel }));
      countUpstream(client);
      dialed.socket.once('close', () => uncountUpstream(client));
      return dialed;
    });
    this.#pools.set(client, pools);
    client.once('close', () => pools!.close());
    return pools;
  }

  /**
   * A tunnel whose route answers HTTP itself: the client's stream is read as HTTP requests for it,
   * inside TLS proxyd terminates when the responder intercepts the host (interception.ts), or
   * carried to the origin through the responder's route when that TLS is not for it.
   */
  async #tunnelToResponder(state: EngineState, session: Session, client: Socket, answer: TunnelAnswer, routed: Routed, responder: Responder, started: number): Promise<void> {
    const serveHttp = this.#serveHttp;
    if (!serveHttp) throw new ProxyError('internal', 'no HTTP server to serve a responder tunnel', undefined, 'proxyd');
    const read = client.bytesRead;
    const written = client.bytesWritten;
    answer.ok();
    let error: ProxyError | undefined;
    try {
      if (intercepted(responder, session.target)) {
        const t = await this.#interception.terminate(client, session.target.host, state.limits.handshakeTimeoutMs);
        if ('passOn' in t) return await this.#passOn(state, session, client, routed, responder.tunnelVia!, started, { read, written });
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new ProxyError('timeout', `no TLS handshake within ${state.limits.handshakeTimeoutMs} ms`, undefined, 'client')), state.limits.handshakeTimeoutMs);
          t.tls.once('secure', () => resolve(clearTimeout(timer)));
          t.tls.once('error', (err: NodeJS.ErrnoException) => {
            clearTimeout(timer);
            reject(handshakeFailure(err, session.target.host));
          });
          t.tls.once('close', () => {
            clearTimeout(timer);
            reject(handshakeFailure(undefined, session.target.host));
          });
        });
        await serveHttp(t.tls, session, responder, true);
      } else {
        await serveHttp(client, session, responder, false);
      }
    } catch (e) {
      error = classify(e, 'proxyd');
      client.destroy();
    }
    this.#finish(session, routed, started, { up: client.bytesRead - read, down: client.bytesWritten - written, error });
  }

  /** The client's TLS is not for the intercepting responder: its bytes, ClientHello first, go to the origin through the responder's route. */
  async #passOn(state: EngineState, session: Session, client: Socket, routed: Routed, via: Dialer, started: number, at: { read: number; written: number }): Promise<void> {
    const deadline = new Deadline(state.limits.connectTimeoutMs, `connect to ${formatTarget(session.target)}`);
    let dialed: Dialed;
    try {
      dialed = await this.#dial(routed, via, session.target, undefined, deadline, state);
    } finally {
      deadline.done();
    }
    this.#carried(routed, [routed.outbound.name, ...dialed.chain]);
    countUpstream(client);
    const result = await relay(client, dialed.socket, state.idle);
    uncountUpstream(client);
    this.#finish(session, routed, started, { ...result, up: client.bytesRead - at.read, down: client.bytesWritten - at.written });
  }

  #failAnswer(answer: HttpAnswer, error: ProxyError): void {
    if (!answer.closed) answer.fail(error); // its status follows from the class and hop (errors.ts)
  }

  /**
   * The session is done with its outbound object (a tunnel once dialled: the relay needs only the
   * socket), so one retired by a reload can be closed now rather than when the tunnel ends.
   */
  #release(routed: Routed): void {
    if (routed.released) return;
    routed.released = true;
    const { outbound } = routed;
    const users = this.#users.get(outbound)! - 1;
    if (users > 0) return void this.#users.set(outbound, users);
    this.#users.delete(outbound);
    if (this.#retired.delete(outbound)) void this.#closeOutbound(outbound);
  }

  /** Stats and the one log line of a finished tunnel or request; `headAt`: when an HTTP answer's head went out (its time to first byte). */
  #finish(session: Session, routed: Routed | undefined, started: number, result: RelayResult & { headAt?: number | undefined }): void {
    this.open.delete(session.id);
    if (routed) {
      const ttfbUs = result.headAt !== undefined && this.stats.enabled ? (result.headAt - started) * 1000 : undefined;
      routed.stats.settle(result, ttfbUs);
      routed.upstream?.settle(result, ttfbUs);
      this.#release(routed);
    }
    const error = result.error;
    // what carried it: the route, or the group and its member (github-out/overseas)
    const route = routed?.chain && routed.chain.length > 1 ? routed.chain.join('/') : routed?.match.target;
    if (error) {
      reportOutOfFiles(this.log, `${session.mode} to ${formatTarget(session.target)}`, error); // said once per 10 s besides the session's line
      if (this.stats.enabled) {
        this.recentErrors.add({ at: Date.now(), id: session.id, class: error.cls, hop: error.hop, route: route ?? '-', rule: routed?.match.rule,
          target: formatTarget(session.target), client: `${session.client.address}:${session.client.port}`, reason: error.message });
      }
    }
    const level = !error || error.cls === 'rejected' ? 'info' : error.cls === 'internal' ? 'error' : 'warn';
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
        route,
        ms: Math.round(performance.now() - started),
        up: result.up,
        down: result.down,
        error: error?.cls,
        hop: error?.hop,
        reason: error?.message,
        // a bug: its stack, once, on the line of the session it broke
        stack: error?.cls === 'internal' ? error.causeStack : undefined,
      },
      session.mode === 'tunnel' ? 'connection' : 'request',
    );
  }

  async #closeOutbound(o: Outbound): Promise<void> {
    await o.close().catch((err: Error) => this.log.error({ outbound: o.name, err: err.message }, 'closing an outbound failed'));
  }
}

/** a tunnel to port 443 of a host the responder intercepts */
function intercepted(responder: Responder, target: Target): boolean {
  return target.port === 443 && !!responder.intercepts?.includes(target.host.toLowerCase());
}
