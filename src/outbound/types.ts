// What a route target is. A dialer hands back a connected stream that the engine relays; the
// responder kind (mirrors, which answer the client themselves) joins this union in its own issue.
import type { Socket } from 'node:net';
import type { Session, Target } from '../session.js';

export interface DialContext {
  /** the session being served; absent for a pooled forwarding connection, which serves many */
  session?: Session;
  /** addresses the router already resolved the target to (for an IP rule) */
  resolved?: string[];
}

export interface Dialer {
  readonly kind: 'dialer';
  readonly name: string;
  /** a connected, half-open-capable socket to the target, or a rejected ProxyError */
  dial(target: Target, ctx: DialContext): Promise<Socket>;
}

export type Outbound = Dialer;
