// What a route target is. Two kinds, plainly:
//   a dialer    hands back a connected stream, which the engine relays (DIRECT, REJECT, upstream
//               proxies, groups), or over which it forwards HTTP requests;
//   a responder answers HTTP requests itself (mirrors): origin-form requests at its paths, and
//               requests read from a tunnel or forwarded to a host it stands in for.
// Both have a lifecycle: close() stops their timers and pools (on reload, when the definition
// changed or went away, and on shutdown).
import type { Socket } from 'node:net';
import type { Target } from '../address/index.js';
import type { Cancel } from '../deadline.js';
import type { ProxyError } from '../errors.js';
import type { HttpAnswer, HttpRequest } from '../protocol/http-exchange.js';
import type { Logger } from '../log/logger.js';
import type { FileBudget } from '../access/connection-count.js';
import type { ArtifactCache } from '../mirror/cache.js';
import type { Resolver } from '../resolver.js';
import type { Session } from '../session.js';
import type { Stats } from '../stats/stats.js';

export interface DialContext {
  /**
   * addresses the router checked for this route: dial only these. Undefined when no rule needed
   * an address (the dialer resolves the name itself); empty when the name did not resolve.
   */
  resolved?: string[];
  /** names resolve through this (hosts overrides, then system DNS): the session's state's, or the current one's for a pooled connection */
  resolver: Resolver;
  /** aborted at connect-timeout, or when the client leaves: the dialer must release everything */
  cancel: Cancel;
}

export interface Dialed {
  socket: Socket;
  /** what carried it, outermost first: ['DIRECT'], or a group and its member, or a chain of proxies */
  chain: string[];
}

export interface Dialer {
  readonly kind: 'dialer';
  readonly name: string;
  /** a connected, half-open-capable socket to the target, or a rejected ProxyError */
  dial(target: Target, ctx: DialContext): Promise<Dialed>;
  /**
   * Set by HTTP proxies: plain-HTTP requests routed here are sent to the proxy itself, in
   * absolute form, over `connect`, instead of through a CONNECT tunnel to the origin.
   */
  readonly httpProxy?: {
    connect(ctx: DialContext): Promise<Dialed>;
    authorization: string | undefined;
    /** a response status that is the proxy refusing proxyd (407), not an answer for the client */
    refuses(status: number): ProxyError | undefined;
  };
  close(): Promise<void>;
}

export interface Responder {
  readonly kind: 'responder';
  readonly name: string;
  /** origin-form path prefixes it answers on the HTTP listener (`/go`) */
  readonly paths: readonly string[];
  respond(request: HttpRequest, answer: HttpAnswer, session: Session): Promise<void>;
  /**
   * The route that carries a CONNECT or SOCKS5 tunnel whose rule names this responder, when it
   * does not serve that tunnel itself (a mirror: its `fallback`, for every tunnel but one to port
   * 443 of an origin it intercepts, and for one there it does not terminate: not TLS, another
   * name, no leaf).
   */
  readonly tunnelVia?: Dialer;
  /**
   * Host names whose CONNECTs to port 443 it serves itself, whatever the rules say, with TLS
   * terminated by the local CA (a mirror with `intercept: true`: its origins).
   */
  readonly intercepts?: readonly string[];
  close(): Promise<void>;
}

export type Outbound = Dialer | Responder;

/** What `proxyctl` shows of a health-checked choice: a group and its members, a mirror and its upstreams. */
export interface HealthState {
  /** fallback, fastest, round-robin; a mirror's kind */
  type: string;
  /** the member in use now */
  current: string | undefined;
  /** why that one */
  why: string;
  members: Array<{
    name: string;
    status: 'unknown' | 'up' | 'down';
    slow: boolean;
    lastCheck: { at: number; ok: boolean; latencyMs?: number; error?: string } | undefined;
    recentLatencyMs: number | undefined;
    errors: Record<string, number>;
    /** what else a member counts (a mirror upstream's hits, misses, bytes, times behind) */
    counters?: Record<string, number>;
  }>;
}

/** An outbound that checks the health of its members: groups, mirrors. */
export interface HealthChecked {
  health(): HealthState;
  /** checks every member now; resolves when the checks are done */
  checkNow(): Promise<void>;
}

export function isHealthChecked(o: Outbound): o is Outbound & HealthChecked {
  return typeof (o as Partial<HealthChecked>).health === 'function' && typeof (o as Partial<HealthChecked>).checkNow === 'function';
}

/** How a config defines an outbound: a name, a registered type, and that type's options. */
export interface OutboundDef {
  name: string;
  type: string;
  [option: string]: unknown;
}

/** What outbounds may use that is not part of their definition. */
export interface OutboundDeps {
  /** true when an address:port is one of proxyd's own listening sockets (a tunnel there would loop) */
  isSelf(address: string, port: number): boolean;
  /** the resolver of the current state, for work no session asks for (health checks) */
  resolver(): Resolver;
  log: Logger;
  /** the mirrors' artifact cache, opened at first use with the current `cache:` settings */
  artifactCache(): Promise<ArtifactCache>;
  /** the daemon's figures: a mirror's fetches are timed and counted under its upstreams' names */
  stats: Stats;
  /** the descriptors all connections share: a mirror's upstream connections count against it (they serve no single client) */
  files: FileBudget;
}

/** What building one outbound may use besides the deps: the outbounds it names, built before it. */
export interface BuildContext extends OutboundDeps {
  /** an outbound this definition uses (a `via`, a group member, a mirror's route), already built: a dialer (the config refuses any other) */
  dialer(name: string): Dialer;
  /** the outbound of the same name in the state being replaced, to carry its health over */
  previous: Outbound | undefined;
}

/**
 * One `proxies:` or `groups:` entry as its kind reads it. Every problem is reported at the
 * position of the value it concerns (FILE:LINE:COL); options the kind does not know are reported
 * by the reader.
 */
export interface DefinitionReader {
  readonly name: string;
  string(key: string): string | undefined;
  /** a list of strings (a single string counts as a list of one) */
  strings(key: string): string[] | undefined;
  /** milliseconds, from `500ms`, `30s`, `5m` */
  duration(key: string): number | undefined;
  count(key: string): number | undefined;
  boolean(key: string): boolean | undefined;
  /** a nested mapping, read the same way, with its own known options */
  section(key: string, options: readonly string[]): DefinitionReader | undefined;
  /** a problem at an option's value (at item `index` of a list), or at the entry when key is undefined */
  problem(key: string | undefined, message: string, index?: number): void;
}

/** An outbound this definition refers to, and where (for unknown-name, not-a-dialer and loop errors): it must carry connections. */
export interface Reference {
  name: string;
  key: string;
  index?: number;
}

