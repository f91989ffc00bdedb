// SOCKS5 inbound (RFC 1928, RFC 1929 when credentials are configured).
//
//   client ──greeting──► proxyd ──method──► client
//   client ──user/pass─► proxyd ──status──► client          (only with auth)
//   client ──CONNECT───► proxyd ──route+dial──► upstream
//   client ◄──reply (full length, code by error class)──── proxyd ◄══ relay ══► upstream
import type { Socket } from 'node:net';
import type { Engine } from '../engine.js';
import { ProxyError, socksReplyCode } from '../errors.js';
import {
  encodeAuthStatus, encodeMethodChoice, encodeReply, METHOD_NO_AUTH, METHOD_NONE_ACCEPTABLE, METHOD_USER_PASS,
  parseGreeting, parseRequest, parseUserPass, REPLY,
} from '../protocol/socks5.js';
import { nextSessionId, type Session } from '../session.js';
import type { Credentials } from './auth.js';
import { closeWith, endHandshake } from './listen.js';

type Stage = 'greeting' | 'auth' | 'request';

const EMPTY = Buffer.alloc(0);

export function handleSocks5(socket: Socket, first: Buffer, engine: Engine, credentials: Credentials): void {
  let stage: Stage = 'greeting';
  let buf: Buffer = first;
  let user: string | undefined;
  const client = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };

  const refuse = (err: ProxyError, reply?: Buffer) => {
    socket.removeListener('data', onData);
    engine.log.info({ inbound: 'socks5', client: `${client.address}:${client.port}`, error: err.cls, reason: err.message }, 'handshake failed');
    if (reply) closeWith(socket, reply);
    else socket.destroy();
  };

  const step = (): void => {
    for (;;) {
      if (stage === 'greeting') {
        const g = parseGreeting(buf);
        if (g.kind === 'incomplete') return;
        if (g.kind === 'error') return refuse(new ProxyError('protocol', g.reason));
        buf = buf.subarray(g.length);
        const method = credentials.required ? METHOD_USER_PASS : METHOD_NO_AUTH;
        if (!g.methods.includes(method)) {
          const why = credentials.required ? 'client offers no username/password method' : 'client offers no no-auth method';
          return refuse(new ProxyError('auth', why), encodeMethodChoice(METHOD_NONE_ACCEPTABLE));
        }
        socket.write(encodeMethodChoice(method));
        stage = credentials.required ? 'auth' : 'request';
      } else if (stage === 'auth') {
        const a = parseUserPass(buf);
        if (a.kind === 'incomplete') return;
        if (a.kind === 'error') return refuse(new ProxyError('protocol', a.reason));
        buf = buf.subarray(a.length);
        if (!credentials.verify(a.username, a.password)) {
          return refuse(new ProxyError('auth', `wrong username or password for "${a.username}"`), encodeAuthStatus(false));
        }
        user = a.username;
        socket.write(encodeAuthStatus(true));
        stage = 'request';
      } else {
        const r = parseRequest(buf);
        if (r.kind === 'incomplete') return;
        if (r.kind === 'error') return refuse(new ProxyError('protocol', r.reason), encodeReply(r.reply ?? REPLY.generalFailure));
        socket.removeListener('data', onData);
        socket.pause();
        const early = buf.subarray(r.length); // bytes a client sent before our reply (optimistic data)
        if (early.length) socket.unshift(early);
        buf = EMPTY; // the closures below outlive the handshake: keep them from holding its bytes
        endHandshake(socket);
        const session: Session = { id: nextSessionId(), inbound: 'socks5', mode: 'tunnel', client, target: r.target };
        if (user !== undefined) session.user = user;
        void engine.tunnel(session, socket, {
          ok: (upstream) => {
            socket.write(encodeReply(REPLY.succeeded, { address: upstream.localAddress ?? '0.0.0.0', port: upstream.localPort ?? 0 }));
          },
          fail: (err) => closeWith(socket, encodeReply(socksReplyCode(err))),
        });
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
