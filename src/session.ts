// What every stage of the data path knows about one connection (or one forwarded request).
import type { Socket } from 'node:net';
import { reachedAddress, type Target } from './address/index.js';

/** the protocol the client spoke (either listener accepts both) */
type InboundKind = 'socks5' | 'http';

/** 'tunnel' for SOCKS5 CONNECT and HTTP CONNECT, 'forward' for one absolute-URI request, 'respond' for one origin-form request */
type SessionMode = 'tunnel' | 'forward' | 'respond';

export interface Session {
  id: number;
  inbound: InboundKind;
  mode: SessionMode;
  client: { address: string; port: number };
  target: Target;
  /** authenticated user name, when the listener requires credentials */
  user?: string;
  /** the client's connection (`proxyctl connections --close` ends it) */
  socket: Socket;
}

let nextId = 1;

/**
 * The one place a Session is made: from the client socket it arrived on. The target is the one
 * the connection will reach (`0.0.0.0` is this host), so rules and the loop guard see that.
 */
export function openSession(inbound: InboundKind, mode: SessionMode, socket: Socket, target: Target, user?: string): Session {
  const host = reachedAddress(target.host);
  const session: Session = {
    id: nextId++,
    inbound,
    mode,
    client: { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
    target: host === target.host ? target : { host, port: target.port },
    socket,
  };
  if (user !== undefined) session.user = user;
  return session;
}
