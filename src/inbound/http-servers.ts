// The HTTP servers that parse client connections: one per set of the limits it is built with, so
// that a reload that changes them applies to new connections while open ones keep theirs. A
// server whose limits a reload replaced is closed with its last connection.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Limits } from '../config/index.js';

interface Serving {
  server: Server;
  /** its connections still open */
  open: number;
}

export class HttpServers {
  readonly #make: (limits: Limits) => Server;
  readonly #servers = new Map<string, Serving>();
  /** the key of the limits the latest connection came with: that server stays, even with no connection */
  #current = '';

  constructor(make: (limits: Limits) => Server) {
    this.#make = make;
  }

  /** servers held: the current one and those that still have connections */
  get size(): number {
    return this.#servers.size;
  }

  /** Hands a connection to the server for `limits`. */
  serve(socket: Socket, limits: Limits): void {
    const key = `${limits.headerMaxBytes} ${limits.handshakeTimeoutMs} ${limits.idleTimeoutMs}`;
    if (key !== this.#current) {
      this.#current = key;
      for (const [k, s] of this.#servers) if (s.open === 0) this.#close(k);
    }
    let serving = this.#servers.get(key);
    if (!serving) this.#servers.set(key, (serving = { server: this.#make(limits), open: 0 }));
    const counted = serving;
    counted.open++;
    socket.once('close', () => {
      counted.open--;
      if (counted.open === 0 && key !== this.#current && this.#servers.get(key) === counted) this.#close(key);
    });
    counted.server.emit('connection', socket);
  }

  /** Closes every idle keep-alive connection (a drain). */
  closeIdleConnections(): void {
    for (const { server } of this.#servers.values()) server.closeIdleConnections();
  }

  /** Stops every server's connection tracking (after draining). */
  close(): void {
    for (const key of [...this.#servers.keys()]) this.#close(key);
  }

  #close(key: string): void {
    this.#servers.get(key)?.server.close(() => undefined); // never listened: clears the tracking interval
    this.#servers.delete(key);
  }
}
