// HTTP proxy inbound: CONNECT tunnels, absolute-URI forwarding, and origin-form requests (which
// belong to the mirror endpoints; until mirrors exist, a 404 that says so).
//
//   CONNECT host:port ──► auth, loop check ──► engine.tunnel ──► "200 Connection Established" + relay
//   GET http://host/… ──► auth, loop check ──► forward (http-forward.ts)
//   GET /go/…         ──► 404 (mirror endpoints)
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Engine } from '../engine.js';
import { ProxyError } from '../errors.js';
import { viaHasLoop } from '../protocol/http-headers.js';
import { nextSessionId, parseHostPort, type Session } from '../session.js';
import type { Credentials } from './auth.js';
import { forward } from './http-forward.js';
import { sendError, sendRawError } from './http-reply.js';
import { endHandshake } from './listen.js';

const CONNECT_OK = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n', 'latin1');

/** Client keep-alive connections idle longer than this are closed (or the idle timeout, if shorter). */
const KEEP_ALIVE_MS = 60_000;

export class HttpInbound {
  readonly #server;
  readonly #engine: Engine;
  readonly #credentials: Credentials;
  /** our Via pseudonym; unique per daemon so a request that comes round again is recognised */
  readonly #pseudonym = `proxyd-${randomBytes(3).toString('hex')}`;
  #draining = false;

  constructor(engine: Engine, credentials: Credentials) {
    this.#engine = engine;
    this.#credentials = credentials;
    const { limits } = engine;
    this.#server = createServer({
      maxHeaderSize: limits.headerMaxBytes,
      requestTimeout: 0,
      headersTimeout: limits.handshakeTimeoutMs, // a request head that takes longer gets 408
      connectionsCheckingInterval: Math.max(100, limits.handshakeTimeoutMs / 4),
    });
    this.#server.keepAliveTimeout = Math.min(KEEP_ALIVE_MS, limits.idleTimeoutMs);
    this.#server.on('request', (req, res) => this.#request(req, res));
    this.#server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => this.#connect(req, socket, head));
    this.#server.on('upgrade', (_req: IncomingMessage, socket: Socket) =>
      sendRawError(socket, new ProxyError('protocol', 'protocol upgrades are not forwarded; use CONNECT'), 501));
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.#clientError(err, socket));
    // This server never listens itself (the Listener hands it sockets), but Node starts its
    // connection tracking (head timeouts, closeIdleConnections) on 'listening'.
    this.#server.emit('listening');
  }

  /** Takes over a client socket whose first byte said HTTP. */
  handle(socket: Socket): void {
    endHandshake(socket); // from here the server's own head timeout applies, to every request
    this.#server.emit('connection', socket);
    socket.resume(); // the sniffed bytes wait in the stream buffer; the parser reads them from there
  }

  /** From now on every response closes its connection; idle ones close now. */
  drain(): void {
    this.#draining = true;
    this.#server.closeIdleConnections();
  }

  /** Stops the connection tracking timer (after draining). */
  close(): void {
    this.#server.close(() => undefined); // never listened: only clears the tracking interval
  }

  get #via(): string {
    return `1.1 ${this.#pseudonym}`;
  }

  /** Auth and loop checks shared by CONNECT and forwarding; the user name, or an error to answer. */
  #admit(req: IncomingMessage): { user?: string; error?: ProxyError; status?: number } {
    if (viaHasLoop(req.headers.via, this.#pseudonym)) {
      return { error: new ProxyError('rejected', 'proxy loop detected (our Via is already on the request)'), status: 508 };
    }
    if (!this.#credentials.required) return {};
    const user = this.#credentials.verifyBasic(req.headers['proxy-authorization']);
    return user === undefined ? { error: new ProxyError('auth', 'proxy authentication required') } : { user };
  }

  #request(req: IncomingMessage, res: ServerResponse): void {
    if (this.#draining) res.setHeader('Connection', 'close');
    if (req.url?.startsWith('/')) {
      return sendError(res, new ProxyError('protocol', `no mirror endpoint at ${req.url.split('?')[0]} (origin-form requests are for mirrors, none configured)`), 404);
    }
    const { user, error, status } = this.#admit(req);
    if (error) return sendError(res, error, status);
    void forward(req, res, this.#engine, this.#via, user);
  }

  #connect(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const { user, error, status } = this.#admit(req);
    if (error) return sendRawError(socket, error, status);
    const target = parseHostPort(req.url ?? '');
    if (!target) return sendRawError(socket, new ProxyError('protocol', `CONNECT needs host:port (got "${req.url}")`));
    if (head.length) socket.unshift(head);
    const session: Session = {
      id: nextSessionId(),
      inbound: 'http',
      mode: 'tunnel',
      client: { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
      target,
    };
    if (user !== undefined) session.user = user;
    void this.#engine.tunnel(session, socket, {
      ok: () => socket.write(CONNECT_OK),
      fail: (err) => sendRawError(socket, err),
    });
  }

  #clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    this.#engine.log.info({ inbound: 'http', client: socket.remoteAddress, error: 'protocol', reason: err.code ?? err.message }, 'bad request');
    if (!socket.writable || (socket as Socket & { _httpMessage?: unknown })._httpMessage) return void socket.destroy();
    const reason = status === 431 ? 'request head too large' : status === 408 ? 'request head not received in time' : `malformed request (${err.code ?? 'parse error'})`;
    sendRawError(socket, new ProxyError('protocol', reason), status);
  }
}
