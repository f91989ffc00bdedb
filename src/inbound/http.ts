// HTTP proxy inbound: parses requests and answers in HTTP's words; the engine does the rest.
//
//   CONNECT host:port ──► loop check, auth ──► engine.tunnel  ──► "200 Connection Established" | error status
//   GET http://host/… ──► loop check, auth ──► engine.forward ──► the origin's response | error status
//   GET /go/…         ──► auth             ──► engine.respond ──► a mirror endpoint's answer | 404
//
// Requests on one client connection are served in order, at most MAX_IN_FLIGHT at once.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { formatTarget, normalizeHost, parseHostPort, type Target } from '../address/index.js';
import { hold, REFUSE, type AuthThrottle } from '../access/auth-throttle.js';
import type { Limits } from '../config/index.js';
import type { Engine, TunnelAnswer } from '../engine/engine.js';
import { classify, LOOP, ProxyError } from '../errors.js';
import type { Responder } from '../outbound/index.js';
import { MAX_IN_FLIGHT, type HttpRequest } from '../protocol/http-exchange.js';
import { endToEndHeaders, forwardedRequestHeaders, viaHasLoop } from '../protocol/http-headers.js';
import { openSession, type Session } from '../session.js';
import { ResponseAnswer, sendError, sendRawError } from './http-answer.js';
import { HttpServers } from './http-servers.js';
import { RequestQueue } from './http-queue.js';
import { endHandshake } from './listen.js';

const CONNECT_OK = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n', 'latin1');

/** Client keep-alive connections idle longer than this are closed (or the idle timeout, if shorter). */
const KEEP_ALIVE_MS = 60_000;

/** Who the client is, or why it may not go on. */
interface Admission {
  user?: string;
  error?: ProxyError;
}

const NO_AUTH: Admission = {};

/** A tunnel whose route answers HTTP itself: the requests read from it go to that responder, for the tunnel's host. */
interface ResponderTunnel {
  session: Session;
  responder: Responder;
  /** the stream is TLS proxyd terminated: its requests are for https:// */
  https: boolean;
}

export class HttpInbound {
  readonly #engine: Engine;
  readonly #throttle: AuthThrottle;
  readonly #servers = new HttpServers((limits) => this.#server(limits));
  readonly #queues = new WeakMap<Socket, RequestQueue>();
  readonly #tunnels = new WeakMap<Socket, ResponderTunnel>();
  /** our Via pseudonym; unique per daemon so a request that comes round again is recognised */
  readonly #pseudonym = `proxyd-${randomBytes(3).toString('hex')}`;
  readonly #via = `1.1 ${this.#pseudonym}`;
  #draining = false;

  constructor(engine: Engine, throttle: AuthThrottle) {
    this.#engine = engine;
    this.#throttle = throttle;
  }

  /** Takes over a client socket whose first byte said HTTP. */
  handle(socket: Socket): void {
    endHandshake(socket); // from here the server's own head timeout applies, to every request
    this.#servers.serve(socket, this.#engine.state.limits);
    socket.resume(); // the sniffed bytes wait in the stream buffer; the parser reads them from there
  }

  /** Serves the HTTP requests of a tunnel routed to a responder; resolves when the client closes. */
  serveTunnel(socket: Socket, session: Session, responder: Responder, https: boolean): Promise<void> {
    this.#tunnels.set(socket, { session, responder, https });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    this.#servers.serve(socket, this.#engine.state.limits);
    socket.resume();
    return closed;
  }

  /** From now on every response closes its connection; idle ones close now. */
  drain(): void {
    this.#draining = true;
    this.#servers.closeIdleConnections();
  }

  /** Stops the servers' connection tracking timers (after draining). */
  close(): void {
    this.#servers.close();
  }

  #server(limits: Limits): Server {
    const server = createServer({
      maxHeaderSize: limits.headerMaxBytes,
      requestTimeout: 0,
      headersTimeout: limits.handshakeTimeoutMs, // a request head that takes longer gets 408
      connectionsCheckingInterval: Math.max(100, limits.handshakeTimeoutMs / 4),
    });
    server.maxHeadersCount = 0; // header-max-bytes is the only bound: headers are never dropped silently
    server.keepAliveTimeout = Math.min(KEEP_ALIVE_MS, limits.idleTimeoutMs);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#request(req, res, limits));
    server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => this.#connect(req, socket, head));
    server.on('upgrade', (req: IncomingMessage, socket: Socket) =>
      sendRawError(socket, this.#refused(req, new ProxyError('protocol', 'protocol upgrades are not forwarded; use CONNECT', undefined, 'client')), 501));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.#clientError(err, socket));
    // This server never listens itself (the Listener hands it sockets), but Node starts its
    // connection tracking (head timeouts, closeIdleConnections) on 'listening'.
    server.emit('listening');
    return server;
  }

  #request(req: IncomingMessage, res: ServerResponse, limits: Limits): void {
    if (this.#draining) res.setHeader('Connection', 'close');
    const socket = req.socket;
    let queue = this.#queues.get(socket);
    if (!queue) {
      this.#queues.set(socket, (queue = new RequestQueue(MAX_IN_FLIGHT)));
      socket.once('close', () => {
        const dropped = queue!.clear();
        if (dropped) this.#engine.log.info({ inbound: 'http', client: socket.remoteAddress, dropped }, 'client left with pipelined requests not yet started');
      });
    }
    if (!queue.add(() => this.#serve(req, res, limits).catch((err: unknown) => this.#bug(err, res)))) {
      // A pipeline deeper than real clients send: the first request over the limit is answered 503
      // and the connection closes after it (RFC 9112 §9.3.2: the client retries what was not
      // answered); requests parsed after it are dropped with the connection.
      socket.pause();
      if (queue.overflowed) return;
      queue.overflowed = true;
      this.#engine.log.info({ inbound: 'http', client: socket.remoteAddress, pending: queue.limit }, 'pipeline too deep: answering 503 and closing the connection');
      res.setHeader('Connection', 'close');
      sendError(res, new ProxyError('protocol', `more than ${queue.limit} requests pipelined on one connection; send the rest on a new one`, undefined, 'client'), 503);
    }
  }

  async #serve(req: IncomingMessage, res: ServerResponse, limits: Limits): Promise<void> {
    if (hostLines(req.rawHeaders) > 1) return sendError(res, this.#refused(req, twoHosts()));
    const answer = new ResponseAnswer(res, this.#via);
    const tunnel = this.#tunnels.get(req.socket);
    if (tunnel) {
      // a request for the tunnel's host, as if it had been sent to the proxy in absolute form
      const session = openSession('http', 'forward', req.socket, tunnel.session.target, tunnel.session.user);
      return this.#engine.respond(session, this.#originFormRequest(req, tunnel.session.target, tunnel.https), answer, tunnel.responder);
    }
    if (req.url?.startsWith('/')) {
      const { user, error } = await this.#authenticate(req, req.headers.authorization ?? req.headers['proxy-authorization']);
      if (error) return sendError(res, error, 401);
      const host = parseHostPort(req.headers.host ?? '', 80) ?? { host: req.socket.localAddress ?? '127.0.0.1', port: req.socket.localPort ?? 0 };
      const session = openSession('http', 'respond', req.socket, host, user);
      return this.#engine.respond(session, this.#originFormRequest(req, host), answer);
    }
    const admitted = this.#admit(req);
    const { user, error } = admitted instanceof Promise ? await admitted : admitted;
    if (error) return sendError(res, error);
    let url: URL;
    try {
      url = new URL(req.url!);
    } catch {
      return sendError(res, this.#refused(req, new ProxyError('protocol', `"${req.url}" is not a valid absolute URI`, undefined, 'client')));
    }
    const host = normalizeHost(url.hostname);
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !host) {
      return sendError(res, this.#refused(req, new ProxyError('protocol', `cannot forward "${req.url}": only http:// and https:// URIs`, undefined, 'client')));
    }
    const target = { host, port: Number(url.port) || (url.protocol === 'https:' ? 443 : 80) };
    const session = openSession('http', 'forward', req.socket, target, user);
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    if (hasBody) this.#watchBody(req, res, limits);
    return this.#engine.forward(session, req.socket, {
      method: req.method!,
      origin: `${url.protocol}//${formatTarget(target)}`,
      path: rawPath(req.url!),
      headers: forwardedRequestHeaders(req.rawHeaders, this.#via, url.host),
      body: hasBody ? req : null,
    }, answer);
  }

  /**
   * A client that goes quiet while sending its request body (an announced body that never comes)
   * gets 408 after idle-timeout. Only until the body is in: after that, waiting is the origin's.
   */
  #watchBody(req: IncomingMessage, res: ServerResponse, limits: Limits): void {
    const socket = req.socket;
    let read = socket.bytesRead;
    const timer = setTimeout(() => {
      // bytes came, or the body waits for the origin to take it (backpressure): not the client's fault
      if (socket.bytesRead !== read || req.readableLength > 0 || socket.isPaused()) {
        read = socket.bytesRead;
        return void timer.refresh();
      }
      const idle = new ProxyError('timeout', `client idle for ${limits.idleTimeoutMs} ms while sending its request body`, undefined, 'client');
      if (res.headersSent) return void socket.destroy(idle);
      res.setHeader('Connection', 'close');
      sendError(res, idle, 408); // ends the response: the exchange upstream is then abandoned
    }, limits.idleTimeoutMs);
    const stop = () => clearTimeout(timer);
    req.once('end', stop);
    req.once('close', stop);
  }

  #originFormRequest(req: IncomingMessage, host: Target, https = false): HttpRequest {
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    const origin = https ? `https://${host.port === 443 ? formatTarget(host).replace(/:443$/, '') : formatTarget(host)}` : `http://${formatTarget(host)}`;
    return { method: req.method!, origin, path: rawPath(req.url!), headers: endToEndHeaders(req.rawHeaders, this.#via), body: hasBody ? req : null };
  }

  /** The loop and auth checks of CONNECT and forwarding: the user name, or an error to answer. */
  #admit(req: IncomingMessage): Admission | Promise<Admission> {
    if (viaHasLoop(req.headers.via, this.#pseudonym)) {
      return { error: this.#refused(req, new ProxyError('rejected', 'proxy loop detected (our Via is already on the request)', LOOP, 'client')) };
    }
    return this.#authenticate(req, req.headers['proxy-authorization']);
  }

  /**
   * Basic credentials, checked when auth is configured (a promise only when the guessing brake
   * holds this client); failures are logged and feed the brake.
   */
  #authenticate(req: IncomingMessage, header: string | undefined): Admission | Promise<Admission> {
    if (!this.#engine.state.credentials.required) return NO_AUTH;
    const wait = this.#throttle.turn(req.socket.remoteAddress ?? '');
    if (wait === REFUSE) return this.#authFailed(req, undefined, 'too many attempts from this client: refused unchecked');
    return wait > 0 ? hold(wait).then(() => this.#checkCredentials(req, header)) : this.#checkCredentials(req, header);
  }

  #checkCredentials(req: IncomingMessage, header: string | undefined): Admission {
    const { user, ok } = this.#engine.state.credentials.checkBasic(header);
    if (ok) return { user: user! };
    return this.#authFailed(req, user, header ? 'wrong user name or password' : 'no credentials sent');
  }

  #authFailed(req: IncomingMessage, user: string | undefined, why: string): Admission {
    const client = req.socket.remoteAddress ?? '';
    this.#throttle.failed(client, 'http');
    this.#engine.log.info(
      { inbound: 'http', client: `${client}:${req.socket.remotePort}`, user: this.#engine.state.credentials.loggable(user), error: 'auth' },
      `authentication failed: ${why}`,
    );
    return { error: new ProxyError('auth', 'proxy authentication required', undefined, 'client') };
  }

  #connect(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.pause(); // bytes sent before our answer wait in the socket for the relay
    if (hostLines(req.rawHeaders) > 1) return sendRawError(socket, this.#refused(req, twoHosts()));
    const target = parseHostPort(req.url ?? '');
    const admitted = this.#admit(req);
    const open = ({ user, error }: Admission): void => {
      if (socket.destroyed) return void this.#refused(req, new ProxyError('reset', 'client left while its request was held', undefined, 'client'));
      if (error) return sendRawError(socket, error);
      if (!target) return sendRawError(socket, this.#refused(req, new ProxyError('protocol', `CONNECT needs host:port (got "${req.url}")`, undefined, 'client')));
      if (head.length) socket.unshift(head);
      const session = openSession('http', 'tunnel', socket, target, user);
      void this.#engine.tunnel(session, socket, tunnelAnswer(socket)); // never rejects: failures are answered and logged there
    };
    // without credentials to check (or a brake to wait for) the tunnel starts in this turn
    if (admitted instanceof Promise) admitted.then(open).catch((err: unknown) => this.#bug(err, socket));
    else open(admitted);
  }

  /** A request refused before it became a session gets its own log line too; returns the error to answer with. */
  #refused(req: IncomingMessage, err: ProxyError): ProxyError {
    this.#engine.log.info(
      { inbound: 'http', client: `${req.socket.remoteAddress}:${req.socket.remotePort}`, request: `${req.method} ${(req.url ?? '').slice(0, 200)}`, error: err.cls, reason: err.message },
      'request refused',
    );
    return err;
  }

  /** An exception no stage handled: logged with its stack, answered 500 when the client can still hear it. */
  #bug(err: unknown, to: ServerResponse | Socket): void {
    const e = classify(err, 'proxyd');
    this.#engine.log.error({ inbound: 'http', error: e.cls, reason: e.message, stack: e.causeStack }, 'request failed inside proxyd');
    if (!('headersSent' in to)) return void to.destroy();
    if (!to.headersSent && !to.destroyed) sendError(to, e, 500);
    else to.destroy();
  }

  #clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    this.#engine.log.info({ inbound: 'http', client: socket.remoteAddress, error: 'protocol', reason: err.code ?? err.message }, 'bad request');
    if (!socket.writable || (socket as Socket & { _httpMessage?: unknown })._httpMessage) return void socket.destroy();
    const reason = status === 431 ? 'request head too large' : status === 408 ? 'request head not received in time' : `malformed request (${err.code ?? 'parse error'})`;
    sendRawError(socket, new ProxyError('protocol', reason, undefined, 'client'), status);
  }
}

/** RFC 9112 §3.2: a request with more than one Host line is answered 400 (two parsers could disagree on it). */
function twoHosts(): ProxyError {
  return new ProxyError('protocol', 'more than one Host header', undefined, 'client');
}

function hostLines(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') n++;
  return n;
}

/**
 * The path and query exactly as the client wrote them (RFC 9110 §7.7: a proxy does not rewrite
 * them); URL parsing would resolve dot segments and re-encode characters.
 */
function rawPath(target: string): string {
  if (target.startsWith('/')) return target.split('#')[0]!;
  const authority = target.indexOf('//') + 2;
  const end = target.slice(authority).search(/[/?#]/);
  if (end < 0) return '/';
  const rest = target.slice(authority + end).split('#')[0]!;
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/**
 * The CONNECT answer, made outside #connect: the tunnel keeps it for its whole life, and it holds
 * only the socket, not the request (its headers) and the bytes that came with it.
 */
function tunnelAnswer(socket: Socket): TunnelAnswer {
  return {
    ok: () => socket.write(CONNECT_OK),
    fail: (err) => sendRawError(socket, err),
  };
}
