// A listening port. Each accepts both protocols: the first byte tells SOCKS5 (0x05) from an HTTP
// method, so a client configured with the wrong scheme still works.
//
//   accept ─► allow list ─► connection limits ─► handshake timer ─► first byte ─► socks5 | http handler
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { isLoopback, type Target } from '../address/index.js';
import type { AllowList } from '../access/allow-list.js';
import { ConnectionCount, type FileBudget } from '../access/connection-count.js';
import type { Limits, ListenerName } from '../config/index.js';
import type { Logger } from '../log/logger.js';
import { onAcceptError } from '../log/out-of-files.js';

export interface ProtocolHandlers {
  /** `first`: the bytes read so far (the socket keeps flowing) */
  socks5(socket: Socket, first: Buffer): void;
  http(socket: Socket): void;
}

/** What a listener reads from the current state at each accept (a reload changes it). */
export interface ListenerSettings {
  readonly allow: AllowList;
  readonly limits: Limits;
}

interface ListenerOptions {
  name: ListenerName;
  address: Target;
  settings: () => ListenerSettings;
  handlers: ProtocolHandlers;
  log: Logger;
  /** descriptors all listeners share */
  files: FileBudget;
}

const handshakeTimers = new WeakMap<Socket, NodeJS.Timeout>();

/** The protocol handler calls this once the client has said what it wants. */
export function endHandshake(socket: Socket): void {
  clearTimeout(handshakeTimers.get(socket));
  handshakeTimers.delete(socket);
}

export class Listener {
  readonly #server: Server;
  readonly #options: ListenerOptions;
  readonly #count: ConnectionCount;
  /** open client sockets, for draining on shutdown */
  readonly sockets = new Set<Socket>();
  /** the bound address, once listening */
  address: AddressInfo | undefined;
  /** called when the last open socket closes */
  #emptied: (() => void) | undefined;

  constructor(options: ListenerOptions) {
    this.#options = options;
    this.#count = new ConnectionCount(options.name, options.log, options.files);
    this.#server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#accept(socket));
  }

  /** clients and the upstream connections made for them */
  get connections(): number {
    return this.#count.total;
  }

  listen(): Promise<AddressInfo> {
    const { address } = this.#options;
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(address.port, address.host, () => {
        this.#server.removeListener('error', reject);
        this.#server.on('error', onAcceptError(this.#options.log, `listen.${this.#options.name}`));
        this.address = this.#server.address() as AddressInfo;
        resolve(this.address);
      });
    });
  }

  /** Stops accepting at once; open connections go on (the caller drains them). */
  stopAccepting(): void {
    this.#count.close();
    this.#server.close(); // its callback would wait for every open connection: not awaited
  }

  /** resolves once no client connection of this listener is open */
  whenEmpty(): Promise<void> {
    if (this.sockets.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const before = this.#emptied;
      this.#emptied = () => {
        before?.();
        resolve();
      };
    });
  }

  #accept(socket: Socket): void {
    const { log, name, handlers } = this.#options;
    const { allow, limits } = this.#options.settings();
    const client = socket.remoteAddress ?? '';
    socket.on('error', () => undefined); // a reset before a handler takes over is not worth a crash
    const admitted = allow.allows(client) ? this.#count.admit(socket, client, isLoopback(client), limits) : this.#count.refuse(client, 'allow');
    if (!admitted) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.on('close', () => { // 'close' comes once: `on` spares once()'s wrapper for the connection's life
      this.sockets.delete(socket);
      if (this.sockets.size === 0 && this.#emptied) {
        const emptied = this.#emptied;
        this.#emptied = undefined;
        emptied();
      }
      this.#count.release(client);
      endHandshake(socket);
    });
    handshakeTimers.set(socket, setTimeout(() => {
      log.info({ listener: name, client, error: 'timeout' }, `no complete handshake within ${limits.handshakeTimeoutMs} ms; closed`);
      socket.destroy();
    }, limits.handshakeTimeoutMs));
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
