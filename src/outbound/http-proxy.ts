// An upstream HTTP proxy (`proxies: - { type: http, server: HOST:PORT, username, password, via }`),
// a corporate squid say: tunnels are opened with CONNECT; plain-HTTP requests are forwarded to it
// in absolute form (the forwarding pool dials the proxy, not the origin), since many such proxies
// allow CONNECT to port 443 only.
//
//   proxyd ──server hop──► upstream ──CONNECT host:port (Proxy-Authorization: Basic)──► target
import type { Socket } from 'node:net';
import { formatTarget, type Target } from '../address/index.js';
import { raceCancel } from '../deadline.js';
import type { ProxyError } from '../errors.js';
import type { BuildContext, DialContext, Dialed } from './types.js';
import { targetFailure, targetForUpstream, upstreamFailure, upstreamKind, UpstreamProxy, type UpstreamDef } from './upstream.js';

/** the longest CONNECT answer head read from an upstream */
const MAX_HEAD = 16 * 1024;
/** how every answer to CONNECT begins */
const HTTP_VERSION = Buffer.from('HTTP/1.');

class HttpProxy extends UpstreamProxy {
  readonly #authorization: string | undefined;

  constructor(def: UpstreamDef, ctx: BuildContext) {
    super(def, ctx);
    this.#authorization = def.username === undefined ? undefined : `Basic ${Buffer.from(`${def.username}:${def.password}`).toString('base64')}`;
  }

  /** For plain-HTTP forwarding: requests go to the proxy itself, in absolute form. */
  get httpProxy() {
    return {
      connect: (ctx: DialContext) => this.hop.connect(ctx),
      authorization: this.#authorization,
      refuses: (status: number) => authRefusal(this.name, status, this.#authorization !== undefined),
    };
  }

  async dial(target: Target, ctx: DialContext): Promise<Dialed> {
    const first = await this.hop.connect(ctx);
    const { socket } = first;
    try {
      const early = await raceCancel(this.#connect(socket, formatTarget(targetForUpstream(target, ctx))), ctx.cancel);
      if (early.length) socket.unshift(early);
      return { socket, chain: this.carriedBy(first) };
    } catch (err) {
      socket.destroy();
      throw ctx.cancel.aborted ? ctx.cancel.reason : err;
    }
  }

  /** Sends CONNECT and reads the answer head; resolves with any bytes after it (the target's). */
  #connect(socket: Socket, authority: string): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const done = (err?: ProxyError, rest?: Buffer) => {
        socket.removeListener('data', onData);
        socket.removeListener('close', onClose);
        socket.removeListener('error', onError);
        socket.pause(); // what follows is the target's: it waits for the relay
        if (err) reject(err);
        else resolve(rest!);
      };
      const onData = (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        // the first bytes tell an answer that is not HTTP (an SSH banner): no head will ever end, fail now
        const start = Math.min(buf.length, HTTP_VERSION.length);
        if (!buf.subarray(0, start).equals(HTTP_VERSION.subarray(0, start))) return done(upstreamFailure(this.name, 'protocol', 'not an HTTP answer to CONNECT', 'EPROTO'));
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buf.length > MAX_HEAD) done(upstreamFailure(this.name, 'protocol', 'CONNECT answer head too long', 'EPROTO'));
          return;
        }
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(buf.toString('latin1', 0, Math.min(end, 64)))?.[1] ?? NaN);
        done(this.#failure(status, authority), buf.subarray(end + 4));
      };
      const onClose = () => done(upstreamFailure(this.name, 'reset', 'closed the connection before answering CONNECT', 'ECONNRESET'));
      const onError = (err: NodeJS.ErrnoException) => done(upstreamFailure(this.name, 'reset', `connection failed before answering CONNECT (${err.code ?? err.message})`, err.code ?? 'ECONNRESET', err));
      socket.on('data', onData);
      socket.once('close', onClose);
      socket.once('error', onError);
      socket.resume(); // a socket handed on by an earlier hop (a SOCKS5 upstream) comes paused
      const auth = this.#authorization ? `Proxy-Authorization: ${this.#authorization}\r\n` : '';
      socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth}\r\n`);
    });
  }

  /** An answer status → undefined (the tunnel is up), or whose fault it is that it is not. */
  #failure(status: number, authority: string): ProxyError | undefined {
    if (status >= 200 && status < 300) return undefined;
    if (Number.isNaN(status)) return upstreamFailure(this.name, 'protocol', 'not an HTTP answer to CONNECT', 'EPROTO');
    const refused = authRefusal(this.name, status, this.#authorization !== undefined);
    if (refused) return refused;
    if (status === 403) return upstreamFailure(this.name, 'rejected', `CONNECT to ${authority} not allowed by the upstream's rules (403)`, 'EUPSTREAMPOLICY');
    if (status === 504) return targetFailure(this.name, 'timeout', `${authority}: gateway timeout (504)`, 'ETIMEDOUT');
    if (status === 502 || status === 503) return targetFailure(this.name, 'unreachable', `${authority}: unreachable (${status})`, 'EHOSTUNREACH');
    return upstreamFailure(this.name, 'unreachable', `CONNECT to ${authority} answered ${status}`, 'EUPSTREAMFAILURE');
  }
}

/** 407 (and 401, which some proxies such as tinyproxy send instead): proxyd's credentials were refused. */
function authRefusal(name: string, status: number, sentCredentials: boolean): ProxyError | undefined {
  if (status !== 407 && status !== 401) return undefined;
  return upstreamFailure(name, 'auth', `${sentCredentials ? 'wrong user name or password' : 'it requires a user name and password'} (${status})`, 'EUPSTREAMAUTH');
}

export const HTTP_PROXY_KIND = upstreamKind('http', (def, ctx) => new HttpProxy(def, ctx));
