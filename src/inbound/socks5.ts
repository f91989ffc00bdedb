// SOCKS5 inbound (RFC 1928, RFC 1929 when credentials are configured): parses the handshake and
// answers in SOCKS5's words; the engine does the rest.
//
//   client ──greeting──► proxyd ──method──► client
//   client ──user/pass─► proxyd ──status──► client          (only with auth; guessing is braked)
//   client ──CONNECT───► proxyd ──engine.tunnel──► route, dial
//   client ◄──reply (full length, code by error class)──── proxyd ◄══ relay ══► upstream
import type { Socket } from 'node:net';
import { REFUSE, type AuthThrottle } from '../access/auth-throttle.js';
import type { Credentials } from '../access/credentials.js';
import type { Engine, TunnelAnswer } from '../engine/engine.js';
import { ProxyError, socksReplyCode } from '../errors.js';
import {
  encodeAuthStatus, encodeMethodChoice, encodeReply, METHOD_NO_AUTH, METHOD_NONE_ACCEPTABLE, METHOD_USER_PASS,
  parseGreeting, parseRequest, parseUserPass, REPLY,
} from '../protocol/socks5.js';
import { openSession } from '../session.js';
import { closeWith } from './close.js';
import { endHandshake } from './listen.js';

type Stage = 'greeting' | 'auth' | 'checking' | 'request';

const EMPTY = Buffer.alloc(0);

/** Takes over a client socket whose first byte said SOCKS5. */
export function handleSocks5(socket: Socket, first: Buffer, engine: Engine, throttle: AuthThrottle): void {
  new Socks5Handshake(socket, engine, throttle).read(first);
}

/** One client's handshake, stage by stage, until its CONNECT is handed to the engine or it is refused. */
class Socks5Handshake {
  readonly #socket: Socket;
  readonly #engine: Engine;
  readonly #throttle: AuthThrottle;
  /** the handshake keeps the credentials it started with */
  readonly #credentials: Credentials;
  readonly #client: string;
  readonly #onData = (chunk: Buffer) => this.read(chunk);
  #stage: Stage = 'greeting';
  #buf: Buffer = EMPTY;
  #user: string | undefined;

  constructor(socket: Socket, engine: Engine, throttle: AuthThrottle) {
    this.#socket = socket;
    this.#engine = engine;
    this.#throttle = throttle;
    this.#credentials = engine.state.credentials;
    this.#client = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on('data', this.#onData);
  }

  /** Takes the bytes that came and goes through every stage they complete. */
  read(chunk: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    this.#step();
  }

  /** Each stage reads what it needs and says whether the next may read on. */
  #step(): void {
    let more = true;
    while (more) {
      if (this.#stage === 'greeting') more = this.#greeting();
      else if (this.#stage === 'auth') more = this.#auth();
      else if (this.#stage === 'request') more = this.#request();
      else more = false; // checking: the credentials have their turn first
    }
  }

  #greeting(): boolean {
    const g = parseGreeting(this.#buf);
    if (g.kind === 'incomplete') return false;
    if (g.kind === 'error') return this.#refuse(new ProxyError('protocol', g.reason, undefined, 'client'));
    this.#buf = this.#buf.subarray(g.length);
    const required = this.#credentials.required;
    const method = required ? METHOD_USER_PASS : METHOD_NO_AUTH;
    if (!g.methods.includes(method)) {
      const why = required ? 'client offers no username/password method' : 'client offers no no-auth method';
      return this.#refuse(new ProxyError('auth', why, undefined, 'client'), encodeMethodChoice(METHOD_NONE_ACCEPTABLE));
    }
    this.#socket.write(encodeMethodChoice(method));
    this.#stage = required ? 'auth' : 'request';
    return true;
  }

  /** RFC 1929: the credentials are checked in their turn (the guessing brake may hold them); nothing more is read until then. */
  #auth(): boolean {
    const a = parseUserPass(this.#buf);
    if (a.kind === 'incomplete') return false;
    if (a.kind === 'error') return this.#refuse(new ProxyError('protocol', a.reason, undefined, 'client'));
    this.#buf = this.#buf.subarray(a.length);
    this.#stage = 'checking';
    this.#socket.pause();
    const wait = this.#throttle.turn(this.#socket.remoteAddress ?? '');
    if (wait === REFUSE) this.#authFailed(a.username, 'too many attempts from this client: refused unchecked');
    else if (wait > 0) setTimeout(() => this.#check(a.username, a.password), wait).unref();
    else this.#check(a.username, a.password);
    return false;
  }

  #check(username: string, password: string): void {
    if (this.#socket.destroyed) return;
    if (!this.#credentials.verify(username, password)) return this.#authFailed(username, 'wrong user name or password');
    this.#user = username;
    this.#socket.write(encodeAuthStatus(true));
    this.#stage = 'request';
    this.#socket.resume();
    this.#step();
  }

  /** The CONNECT request: the tunnel is the engine's from here. */
  #request(): boolean {
    const socket = this.#socket;
    const r = parseRequest(this.#buf);
    if (r.kind === 'incomplete') return false;
    if (r.kind === 'error') return this.#refuse(new ProxyError('protocol', r.reason, undefined, 'client'), encodeReply(r.reply ?? REPLY.generalFailure));
    socket.removeListener('data', this.#onData);
    socket.pause();
    const early = this.#buf.subarray(r.length); // bytes a client sent before our reply (optimistic data)
    if (early.length) socket.unshift(early);
    endHandshake(socket);
    const session = openSession('socks5', 'tunnel', socket, r.target, this.#user);
    void this.#engine.tunnel(session, socket, tunnelAnswer(socket)); // never rejects: failures are answered and logged there
    return false;
  }

  /** Ends the handshake with `reply` (or none); always false: nothing more to read. */
  #refuse(err: ProxyError, reply?: Buffer): false {
    this.#socket.removeListener('data', this.#onData);
    this.#engine.log.info({ inbound: 'socks5', client: this.#client, error: err.cls, reason: err.message }, 'handshake failed');
    if (reply) closeWith(this.#socket, reply);
    else this.#socket.destroy();
    return false;
  }

  #authFailed(username: string, why: string): void {
    this.#throttle.failed(this.#socket.remoteAddress ?? '', 'socks5');
    this.#engine.log.info({ inbound: 'socks5', client: this.#client, user: this.#credentials.loggable(username), error: 'auth' }, `authentication failed: ${why}`);
    this.#socket.removeListener('data', this.#onData);
    closeWith(this.#socket, encodeAuthStatus(false));
  }
}

/**
 * The CONNECT reply, made outside the handshake's closures: the tunnel keeps its answer for its
 * whole life, and these hold only the socket, not the handshake's state and functions.
 */
function tunnelAnswer(socket: Socket): TunnelAnswer {
  return {
    ok: (upstream) => socket.write(encodeReply(REPLY.succeeded, upstream && { address: upstream.localAddress ?? '0.0.0.0', port: upstream.localPort ?? 0 })),
    fail: (err) => closeWith(socket, encodeReply(socksReplyCode(err))),
  };
}
