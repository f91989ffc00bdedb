// What the upstream proxy kinds (socks5, http) share: their options, how their server is reached
// (directly, or through another outbound with `via:`), which name or address of the target
// they are told, and how their failures are told apart from the target's.
//
//   proxyd ──(direct, or via: another outbound)──► upstream server ──(its protocol)──► target
import { formatTarget, parseHostPort, type Target } from '../address/index.js';
import { classify, ProxyError, type ErrorClass } from '../errors.js';
import { DirectDialer } from './direct.js';
import type { OutboundKind } from './kinds.js';
import type { BuildContext, DefinitionReader, DialContext, Dialed, Dialer, OutboundDef, Reference } from './types.js';

export interface UpstreamDef extends OutboundDef {
  server: string;
  username?: string;
  password?: string;
  via?: string;
}

const UPSTREAM_OPTIONS = ['server', 'username', 'password', 'via'] as const;

function parseUpstream(entry: DefinitionReader, type: string): UpstreamDef | undefined {
  const server = entry.string('server');
  const username = entry.string('username');
  const password = entry.string('password');
  const via = entry.string('via');
  if (server === undefined) return void entry.problem(undefined, `a ${type} proxy needs server: HOST:PORT`);
  if (!parseHostPort(server)) return void entry.problem('server', `server: expected HOST:PORT such as 127.0.0.1:7891 (got "${server}")`);
  if ((username === undefined) !== (password === undefined)) return void entry.problem(username === undefined ? 'password' : 'username', 'username and password go together');
  for (const [key, value] of [['username', username], ['password', password]] as const) {
    if (type === 'socks5' && Buffer.byteLength(value ?? '') > 255) return void entry.problem(key, `${key}: at most 255 bytes for a socks5 proxy (RFC 1929)`);
  }
  const def: UpstreamDef = { name: entry.name, type, server };
  if (username !== undefined) Object.assign(def, { username, password });
  if (via !== undefined) def.via = via;
  return def;
}

function upstreamUses(def: OutboundDef): Reference[] {
  const via = (def as UpstreamDef).via;
  return via === undefined ? [] : [{ name: via, key: 'via' }];
}

/** The first hop of an upstream proxy: a connection to its server. */
class ServerHop {
  readonly server: Target;
  /** the outbound the server is reached through, when `via:` names one */
  readonly via: string | undefined;
  readonly #through: Dialer;
  readonly #name: string;

  constructor(def: UpstreamDef, ctx: BuildContext) {
    this.#name = def.name;
    this.via = def.via;
    this.server = parseHostPort(def.server)!;
    this.#through = def.via === undefined ? new DirectDialer(`${def.name} server`, ctx) : ctx.dialer(def.via);
  }

  /** A connection to the server (the target's resolved addresses are not the server's: left out). */
  async connect(ctx: Pick<DialContext, 'resolver' | 'cancel'>): Promise<Dialed> {
    try {
      return await this.#through.dial(this.server, { resolver: ctx.resolver, cancel: ctx.cancel });
    } catch (err) {
      // the client left: say so, not that the upstream failed
      if (ctx.cancel.aborted && ctx.cancel.reason?.hop === 'client') throw ctx.cancel.reason;
      const e = classify(err, 'upstream');
      if (e.cls === 'internal') throw e; // a bug on the way (in a via dialer): ours, not the upstream's
      throw new ProxyError(e.cls, `upstream ${this.#name} (${formatTarget(this.server)}): ${e.message}`, e.code, 'upstream', err);
    }
  }
}

/**
 * What the upstream is told to connect to: the address the rules checked when an IP rule needed
 * one, the `hosts` override when the name has one (resolved here, sent as an address), else the
 * name itself, so the upstream resolves it (remote DNS: local DNS poisoning does not matter).
 */
export function targetForUpstream(target: Target, ctx: DialContext): Target {
  const address = ctx.resolved?.[0] ?? ctx.resolver.override(target.host);
  return address === undefined ? target : { host: address, port: target.port };
}

/** What both upstream kinds are: a named dialer whose first hop is its server. */
export abstract class UpstreamProxy implements Dialer {
  readonly kind = 'dialer';
  readonly name: string;
  protected readonly hop: ServerHop;
  protected readonly chain: string[];

  constructor(def: UpstreamDef, ctx: BuildContext) {
    this.name = def.name;
    this.hop = new ServerHop(def, ctx);
    this.chain = [def.name];
  }

  abstract dial(target: Target, ctx: DialContext): Promise<Dialed>;

  /** What carried a connection whose first hop was `first`: this proxy, and what it was reached via. */
  protected carriedBy(first: Dialed): string[] {
    return this.hop.via === undefined ? this.chain : [`${this.name} via ${first.chain.join('/')}`];
  }

  /** A health check without a URL: the server answers a connection. */
  async reach(ctx: Pick<DialContext, 'resolver' | 'cancel'>): Promise<void> {
    (await this.hop.connect(ctx)).socket.destroy();
  }

  async close(): Promise<void> {}
}

/** The registry entry of an upstream kind (`proxies:` with `type: TYPE`). */
export function upstreamKind(type: string, make: (def: UpstreamDef, ctx: BuildContext) => Dialer): OutboundKind {
  return { section: 'proxies', builds: 'dialer', options: UPSTREAM_OPTIONS, parse: (entry) => parseUpstream(entry, type), uses: upstreamUses, build: (def, ctx) => make(def as UpstreamDef, ctx) };
}

/** A failure the upstream reported about the target: the member worked, the target did not. */
export function targetFailure(upstream: string, cls: ErrorClass, message: string, code: string): ProxyError {
  const e = new ProxyError(cls, `upstream ${upstream}: ${message}`, code, 'origin');
  e.reportedBy = upstream;
  return e;
}

/** A failure of the upstream itself (unreachable, wrong password, garbled answer). */
export function upstreamFailure(upstream: string, cls: ErrorClass, message: string, code?: string, cause?: unknown): ProxyError {
  return new ProxyError(cls, `upstream ${upstream}: ${message}`, code, 'upstream', cause);
}
