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
import type { HttpAnswer, HttpRequest } from '../protocol/http-exchange.js';
import type { Resolver } from '../resolver.js';
import type { Session } from '../session.js';

export interface DialContext {
  /** the session being served (a pooled forwarding connection serves later ones of the same client too) */
  session?: Session;
  /**
   * addresses the router checked for this route: dial only these. Undefined when no rule needed
   * an address (the dialer resolves the name itself); empty when the name did not resolve.
   */
  resolved?: string[];
  /** names resolve through this (hosts overrides, then system DNS): the state the session started with */
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
  close(): Promise<void>;
}

export interface Responder {
  readonly kind: 'responder';
  readonly name: string;
  /** origin-form path prefixes it answers on the HTTP listener (`/go`) */
  readonly paths: readonly string[];
  respond(request: HttpRequest, answer: HttpAnswer, session: Session): Promise<void>;
  close(): Promise<void>;
}

export type Outbound = Dialer | Responder;

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
}
