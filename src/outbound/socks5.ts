// An upstream SOCKS5 proxy (`proxies: - { type: socks5, server: HOST:PORT, username, password, via }`),
// spoken to over a connection proxyd makes itself (directly or via another outbound), so the
// connect deadline, the loop guard and chains apply to it like to any dial. Its answers are parsed
// strictly: one that is not exactly SOCKS5 is the upstream's failure (class protocol), never a
// success whose garbage would reach the client as the target's bytes.
//
//   proxyd ──server hop──► upstream ──greeting, RFC 1929, CONNECT name:port──► target
import type { Socket } from 'node:net';
import { formatTarget, type Target } from '../address/index.js';
import { raceCancel } from '../deadline.js';
import type { ErrorClass, ProxyError } from '../errors.js';
import { METHOD_NO_AUTH, METHOD_NONE_ACCEPTABLE, METHOD_USER_PASS, REPLY } from '../protocol/socks5.js';
import { encodeConnect, encodeGreeting, encodeUserPass, parseAuthStatus, parseMethodChoice, parseReply } from '../protocol/socks5-client.js';
import { Socks5Answers } from './socks5-answers.js';
import type { BuildContext, DialContext, Dialed } from './types.js';
import { targetFailure, targetForUpstream, upstreamFailure, upstreamKind, UpstreamProxy, type UpstreamDef } from './upstream.js';

/** RFC 1928 replies that are about the target, not the upstream. */
const TARGET_REPLIES: Record<number, [ErrorClass, string, string]> = {
  [REPLY.networkUnreachable]: ['unreachable', 'network unreachable', 'ENETUNREACH'],
  [REPLY.hostUnreachable]: ['unreachable', 'host unreachable', 'EHOSTUNREACH'],
  [REPLY.connectionRefused]: ['refused', 'connection refused', 'ECONNREFUSED'],
  [REPLY.ttlExpired]: ['timeout', 'TTL expired', 'ETIMEDOUT'],
};

class Socks5Proxy extends UpstreamProxy {
  readonly #def: UpstreamDef;

  constructor(def: UpstreamDef, ctx: BuildContext) {
    super(def, ctx);
    this.#def = def;
  }

  async dial(target: Target, ctx: DialContext): Promise<Dialed> {
    const first = await this.hop.connect(ctx);
    const { socket } = first;
    try {
      const early = await raceCancel(this.#handshake(socket, targetForUpstream(target, ctx)), ctx.cancel);
      if (early.length) socket.unshift(early);
      return { socket, chain: this.carriedBy(first) };
    } catch (err) {
      socket.destroy();
      throw ctx.cancel.aborted ? ctx.cancel.reason : err;
    }
  }

  /** Greeting, RFC 1929 when the upstream asks, CONNECT; resolves with the bytes after the reply (the target's). */
  async #handshake(socket: Socket, destination: Target): Promise<Buffer> {
    const { username, password } = this.#def;
    const answers = new Socks5Answers(socket, this.name);
    try {
      socket.write(encodeGreeting(username !== undefined));
      const { method } = await answers.next(parseMethodChoice);
      if (method === METHOD_NONE_ACCEPTABLE) throw this.#authFailure();
      if (method === METHOD_USER_PASS && username !== undefined) {
        socket.write(encodeUserPass(username, password!));
        if (!(await answers.next(parseAuthStatus)).ok) throw this.#authFailure();
      } else if (method !== METHOD_NO_AUTH) {
        throw upstreamFailure(this.name, 'protocol', `not a SOCKS5 answer (it chose method 0x${method.toString(16)}, which was not offered)`, 'EPROTO');
      }
      socket.write(encodeConnect(destination));
      const { reply } = await answers.next(parseReply);
      if (reply !== REPLY.succeeded) throw this.#refusal(reply, formatTarget(destination));
    } catch (err) {
      answers.stop();
      throw err;
    }
    return answers.stop();
  }

  #authFailure(): ProxyError {
    return upstreamFailure(this.name, 'auth', this.#def.username ? 'wrong user name or password' : 'it requires a user name and password', 'EUPSTREAMAUTH');
  }

  /** A reply other than success → a class, and whose fault it is. */
  #refusal(reply: number, destination: string): ProxyError {
    const about = TARGET_REPLIES[reply];
    if (about) return targetFailure(this.name, about[0], `${destination}: ${about[1]}`, about[2]);
    if (reply === REPLY.notAllowed) return upstreamFailure(this.name, 'rejected', `${destination} not allowed by the upstream's rules`, 'EUPSTREAMPOLICY');
    // "general failure" says nothing about whose fault it is: another member may well carry it
    if (reply === REPLY.generalFailure) return upstreamFailure(this.name, 'unreachable', `general failure connecting to ${destination}`, 'EUPSTREAMFAILURE');
    const unsupported = reply === REPLY.commandNotSupported ? 'the CONNECT command' : `the address type of ${destination}`;
    return upstreamFailure(this.name, 'protocol', `it does not support ${unsupported}`, 'EPROTO');
  }
}

export const SOCKS5_PROXY_KIND = upstreamKind('socks5', (def, ctx) => new Socks5Proxy(def, ctx));
