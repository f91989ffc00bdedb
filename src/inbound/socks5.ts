// SOCKS5 inbound (RFC 1928, RFC 1929 when credentials are configured): parses the handshake and
// answers in SOCKS5's words; the engine does the rest.
//
//   client ──greeting──► proxyd ──method──► client
//   client ──user/pass─► proxyd ──status──► client          (only with auth; guessing is braked)
//   client ──CONNECT───► proxyd ──engine.tunnel──► route, dial
//   client ◄──reply (full length, code by error class)──── proxyd ◄══ relay ══► upstream
import type { Socket } from 'node:net';
import { REFUSE, type AuthThrottle } from '../access/auth-throttle.js';
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

export function handleSocks5(socket: Socket, first: Buffer, engine: Engine, throttle: AuthThrottle): void {
  const { credentials } = engine.state; // the handshake keeps the credentials it started with
  let stage: Stage = 'greeting';
  let buf: Buffer = first;
  let user: string | undefined;
  const client = `${socket.remoteAddress}:${socket.remotePort}`;

  const refuse = (err: ProxyError, reply?: Buffer) => {
    socket.removeListener('data', onData);
    engine.log.info({ inbound: 'socks5', client, error: err.cls, reason: err.message }, 'handshake failed');
    if (reply) closeWith(socket, reply);
    else socket.destroy();
  };

  const fail = (username: string, why: string) => {
    throttle.failed(socket.remoteAddress ?? '', 'socks5');
    engine.log.info({ inbound: 'socks5', client, user: credentials.loggable(username), error: 'auth' }, `authentication failed: ${why}`);
    socket.removeListener('data', onData);
    closeWith(socket, encodeAuthStatus(false));
  };

  /** RFC 1929: checked in its turn (the guessing brake may hold it), then the request stage. */
  const check = (username: string, password: string) => {
    if (socket.destroyed) return;
    if (!credentials.verify(username, password)) return fail(username, 'wrong user name or password');
    user = username;
    socket.write(encodeAuthStatus(true));
    stage = 'request';
    socket.resume();
    step();
  };

  const step = (): void => {
    for (;;) {
      if (stage === 'greeting') {
        const g = parseGreeting(buf);
        if (g.kind === 'incomplete') return;
        if (g.kind === 'error') return refuse(new ProxyError('protocol', g.reason, undefined, 'client'));
        buf = buf.subarray(g.length);
        const method = credentials.required ? METHOD_USER_PASS : METHOD_NO_AUTH;
        if (!g.methods.includes(method)) {
          const why = credentials.required ? 'client offers no username/password method' : 'client offers no no-auth method';
          return refuse(new ProxyError('auth', why, undefined, 'client'), encodeMethodChoice(METHOD_NONE_ACCEPTABLE));
        }
        socket.write(encodeMethodChoice(method));
        stage = credentials.required ? 'auth' : 'request';
      } else if (stage === 'auth') {
        const a = parseUserPass(buf);
        if (a.kind === 'incomplete') return;
        if (a.kind === 'error') return refuse(new ProxyError('protocol', a.reason, undefined, 'client'));
        buf = buf.subarray(a.length);
        stage = 'checking';
        socket.pause(); // nothing more is read until the credentials are checked (the brake may hold them)
        const wait = throttle.turn(socket.remoteAddress ?? '');
        if (wait === REFUSE) return fail(a.username, 'too many attempts from this client: refused unchecked');
        if (wait > 0) setTimeout(check, wait, a.username, a.password).unref();
        else check(a.username, a.password);
        return;
      } else if (stage === 'checking') {
        return;
      } else {
        const r = parseRequest(buf);
        if (r.kind === 'incomplete') return;
        if (r.kind === 'error') return refuse(new ProxyError('protocol', r.reason, undefined, 'client'), encodeReply(r.reply ?? REPLY.generalFailure));
        socket.removeListener('data', onData);
        socket.pause();
        const early = buf.subarray(r.length); // bytes a client sent before our reply (optimistic data)
        if (early.length) socket.unshift(early);
        buf = EMPTY; // the closures below outlive the handshake: keep them from holding its bytes
        endHandshake(socket);
        const session = openSession('socks5', 'tunnel', socket, r.target, user);
        void engine.tunnel(session, socket, tunnelAnswer(socket)); // never rejects: failures are answered and logged there
        return;
      }
    }
  };

  const onData = (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    step();
  };
  socket.on('data', onData);
  step();
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
