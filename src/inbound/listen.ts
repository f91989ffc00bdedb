// A listening port. Each accepts both protocols: the first byte tells SOCKS5 (0x05) from an HTTP
// method, so a client configured with the wrong scheme still works.
//
//   accept ─► allow list ─► handshake timer ─► first byte ─► socks5 handler | http handler
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { cidrContains, type Cidr } from '../ip.js';
import type { Logger } from '../log/logger.js';
import type { Target } from '../session.js';

export interface ProtocolHandlers {
  /** `first`: the bytes read so far (the socket keeps flowing) */
  socks5(socket: Socket, first: Buffer): void;
  http(socket: Socket): void;
}

export interface ListenerOptions {
  name: 'socks' | 'http';
  address: Target;
  allow: Cidr[];
  maxConnections: number;
  handshakeTimeoutMs: number;
  handlers: ProtocolHandlers;
  log: Logger;
}

const handshakeTimers = new WeakMap<Socket, NodeJS.Timeout>();

/** The protocol handler calls this once the client has said what it wants. */
export function endHandshake(socket: Socket): void {
  clearTimeout(handshakeTimers.get(socket));
  handshakeTimers.delete(socket);
}

/** Sends a last message and closes; a client that never closes its side is cut off after a grace period. */
export function closeWith(socket: Socket, last: Buffer | string): void {
  socket.end(last);
  socket.resume(); // discard whatever else the client sends
  socket.setTimeout(CLOSE_GRACE_MS, () => socket.destroy());
}

const CLOSE_GRACE_MS = 2_000;

export class Listener {
  readonly #server: Server;
  readonly #options: ListenerOptions;
  /** open client sockets, for draining on shutdown */
  readonly sockets = new Set<Socket>();

  constructor(options: ListenerOptions) {
    this.#options = options;
    this.#server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#accept(socket));
    this.#server.maxConnections = options.maxConnections;
    this.#server.on('drop', (d) => options.log.warn({ listener: options.name, client: d?.remoteAddress }, 'max-connections reached; connection dropped'));
  }

  listen(): Promise<AddressInfo> {
    const { address } = this.#options;
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(address.port, address.host, () => {
        this.#server.removeListener('error', reject);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting; open connections go on. */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    const { allow, log, name, handshakeTimeoutMs, handlers } = this.#options;
    const client = socket.remoteAddress ?? '';
    socket.on('error', () => undefined); // a reset before a handler takes over is not worth a crash
    if (allow.length && !allow.some((c) => cidrContains(c, client))) {
      log.warn({ listener: name, client }, 'client not in allow list; closed');
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      endHandshake(socket);
    });
    handshakeTimers.set(socket, setTimeout(() => {
      log.info({ listener: name, client, error: 'timeout' }, `no complete handshake within ${handshakeTimeoutMs} ms; closed`);
      socket.destroy();
    }, handshakeTimeoutMs));
    const endedEarly = () => socket.destroy(); // FIN before a single byte: nothing to serve
    socket.once('end', endedEarly);
    socket.once('data', (first: Buffer) => {
      socket.removeListener('end', endedEarly);
      if (first[0] === 0x05) return handlers.socks5(socket, first);
      socket.pause();
      socket.unshift(first); // Node's HTTP parser reads it from the stream buffer
      handlers.http(socket);
    });
  }
}
