// What the clients of one control socket may hold, so that no local user can starve the daemon
// through it (the system service's status.sock is open to everyone): a cap on open connections
// whose descriptors are kept out of the listeners' budget (src/access/file-limit.ts), a deadline
// for a complete request, and an idle timeout.
//
// The cap is per socket, not per user: Node cannot tell who is at the other end of a Unix socket
// (SO_PEERCRED and getpeereid are not exposed, and a native addon is not worth it), so a flood
// of status.sock can keep other users' reports waiting, but never control.sock, the proxy
// listeners, or proxyd's own descriptors.
import { createServer, type RequestListener, type Server } from 'node:http';
import { CONTROL_SOCKET_CONNECTIONS } from '../access/file-limit.js';
import type { Logger } from '../log/logger.js';
import { ThrottledWarning } from '../log/throttled.js';

export interface ControlBounds {
  /** connections open at once; more are closed as they arrive */
  maxConnections: number;
  /** from connecting, or from the previous answer, to a complete request */
  requestTimeoutMs: number;
  /** no byte moving while proxyd waits on the client (not while it works on an answer) */
  idleTimeoutMs: number;
}

export const CONTROL_BOUNDS: ControlBounds = { maxConnections: CONTROL_SOCKET_CONNECTIONS, requestTimeoutMs: 5_000, idleTimeoutMs: 30_000 };

const REFUSALS_SUMMARY_MS = 10_000;

/** An HTTP server for the control socket `name`, bounded as above. */
export function boundedServer(name: string, bounds: ControlBounds, log: Logger, handler: RequestListener): Server {
  // Node checks the request deadlines on this interval
  const server = createServer({ connectionsCheckingInterval: Math.min(1_000, bounds.requestTimeoutMs) }, handler);
  server.maxConnections = bounds.maxConnections;
  server.headersTimeout = bounds.requestTimeoutMs;
  server.requestTimeout = bounds.requestTimeoutMs;
  server.keepAliveTimeout = 1_000;
  server.timeout = bounds.idleTimeoutMs;
  // Node closes an idle socket unless its response hears the timeout: one whose answer is still
  // being worked on (a reload, a health check) is not idle; one whose answer the client does not
  // read is
  server.on('request', (_req, res) => res.on('timeout', () => {
    if (res.writableEnded) res.destroy();
  }));
  const refusals = new ThrottledWarning<void>(REFUSALS_SUMMARY_MS, (count) => log.warn(
    { control: name, refused: count, maxConnections: bounds.maxConnections },
    `${count} connection(s) to ${name} refused${count > 1 ? ` in the last ${REFUSALS_SUMMARY_MS / 1000} s` : ''}: ` +
    `it holds at most ${bounds.maxConnections} at once (the proxy listeners and proxyd's other sockets are not affected)`,
  ));
  server.on('drop', () => refusals.hit());
  server.on('close', () => refusals.close());
  return server;
}
