// An upstream SOCKS5 proxy (`proxies: - { type: socks5, server: HOST:PORT, username, password, via }`),
// through the `socks` client over a connection proxyd makes itself (directly or via another
// outbound), so the connect deadline, the loop guard and chains apply to it like to any dial.
//
//   proxyd ──server hop──► upstream ──greeting, RFC 1929, CONNECT name:port──► target
import type { Socket } from 'node:net';
import type { SocksClient } from 'socks';
import { formatTarget, type Target } from '../address/index.js';
import { raceCancel } from '../deadline.js';
import type { ErrorClass } from '../errors.js';
import type { BuildContext, DialContext, Dialed } from './types.js';
import { targetFailure, targetForUpstream, upstreamFailure, upstreamKind, UpstreamProxy, type UpstreamDef } from './upstream.js';

/** The socks client's own timer is a backstop only: the session's deadline ends the handshake. */
const LIBRARY_TIMEOUT_MS = 10 * 60_000;

/** RFC 1928 replies that are about the target, not the upstream (as the socks client names them). */
const TARGET_REPLIES: Record<string, [ErrorClass, string]> = {
  NetworkUnreachable: ['unreachable', 'ENETUNREACH'],
  HostUnreachable: ['unreachable', 'EHOSTUNREACH'],
  ConnectionRefused: ['refused', 'ECONNREFUSED'],
  TTLExpired: ['timeout', 'ETIMEDOUT'],
};

/** the socks client, loaded at the first dial through a SOCKS5 upstream (a config may have none) */
let Socks: typeof SocksClient | undefined;

export class Socks5Proxy extends UpstreamProxy {
  readonly #def: UpstreamDef;

  constructor(def: UpstreamDef, ctx: BuildContext) {
    super(def, ctx);
    this.#def = def;
  }

  async dial(target: Target, ctx: DialContext): Promise<Dialed> {
    Socks ??= (await import('socks')).SocksClient;
    const first = await this.hop.connect(ctx);
    const { socket } = first;
    const destination = targetForUpstream(target, ctx);
    try {
      await raceCancel(Socks.createConnection({
        proxy: { host: this.hop.server.host, port: this.hop.server.port, type: 5, userId: this.#def.username, password: this.#def.password },
        command: 'connect',
        destination,
        existing_socket: socket,
        timeout: LIBRARY_TIMEOUT_MS,
      }), ctx.cancel);
      await keepExcess(socket);
      return { socket, chain: this.carriedBy(first) };
    } catch (err) {
      socket.destroy();
      if (ctx.cancel.aborted) throw ctx.cancel.reason;
      throw this.#failure(err as Error, formatTarget(destination));
    }
  }

  /** The socks client's error text → a class, and whose fault it is. */
  #failure(err: Error, destination: string) {
    const m = err.message;
    const rejected = /rejected connection - (\w+)/.exec(m)?.[1];
    if (rejected && TARGET_REPLIES[rejected]) {
      const [cls, code] = TARGET_REPLIES[rejected];
      return targetFailure(this.name, cls, `${destination}: ${rejected}`, code);
    }
    if (rejected === 'NotAllowed') return upstreamFailure(this.name, 'rejected', `${destination} not allowed by the upstream's rules`, 'EUPSTREAMPOLICY', err);
    // "general failure" says nothing about whose fault it is: another member may well carry it
    if (rejected === 'Failure') return upstreamFailure(this.name, 'unreachable', `general failure connecting to ${destination}`, 'EUPSTREAMFAILURE', err);
    if (/Authentication failed|no accepted authentication type/i.test(m)) {
      return upstreamFailure(this.name, 'auth', this.#def.username ? 'wrong user name or password' : 'it requires a user name and password', 'EUPSTREAMAUTH', err);
    }
    if (/Socket closed/.test(m)) return upstreamFailure(this.name, 'reset', 'closed the connection during the SOCKS5 handshake', 'ECONNRESET', err);
    return upstreamFailure(this.name, 'protocol', `not a SOCKS5 answer (${m})`, 'EPROTO', err);
  }
}

/**
 * The socks client hands the bytes that came with its last answer (the target's first: an SSH
 * banner) to the socket's 'data' listeners in a setImmediate after the handshake; whoever reads the
 * socket next (the relay reads it through its stream) must find them there, so they are put back.
 */
async function keepExcess(socket: Socket): Promise<void> {
  const excess: Buffer[] = [];
  const keep = (b: Buffer) => excess.push(b);
  socket.on('data', keep);
  await new Promise((resolve) => setImmediate(resolve)); // after the client's own setImmediate
  socket.removeListener('data', keep);
  if (excess.length === 0) return; // left flowing, as the client leaves it: a chained handshake reads on at once
  socket.pause();
  socket.unshift(Buffer.concat(excess));
}

export const SOCKS5_PROXY_KIND = upstreamKind('socks5', (def, ctx) => new Socks5Proxy(def, ctx));
