// Connection accounting for one listener: its client connections (in all and per client
// address) and the upstream connections made on their behalf, which count against the same
// `max-connections`, and against the daemon's file budget shared by all listeners (so that no
// flood runs the process out of descriptors). The admission rule for a new client lives here;
// drops are summarised.
import type { Socket } from 'node:net';
import type { Logger } from '../log/logger.js';

/** slots kept for loopback clients when others fill the listener */
const LOOPBACK_RESERVE = 16;
const DROP_SUMMARY_MS = 10_000;

export interface ConnectionLimits {
  maxConnections: number;
  maxConnectionsPerClient: number;
}

type DropReason = 'listener' | 'client' | 'allow' | 'files';

/** Descriptors all listeners together may use for connections (the open-file limit, less proxyd's own). */
export class FileBudget {
  used = 0;
  constructor(readonly max: number) {}
}

export class ConnectionCount {
  #total = 0;
  readonly #perClient = new Map<string, number>();
  readonly #drops = new Map<string, Record<DropReason, number>>();
  #summary: NodeJS.Timeout | undefined;
  readonly #name: string;
  readonly #log: Logger;
  readonly #files: FileBudget;

  constructor(name: string, log: Logger, files = new FileBudget(Infinity)) {
    this.#name = name;
    this.#log = log;
    this.#files = files;
  }

  /** clients plus upstream connections */
  get total(): number {
    return this.#total;
  }

  /** Counts an accepted client until it closes; false (and a counted drop) when over a limit. */
  admit(socket: Socket, address: string, loopback: boolean, limits: ConnectionLimits): boolean {
    const reserve = loopback ? 0 : Math.min(LOOPBACK_RESERVE, Math.floor(limits.maxConnections / 4));
    const mine = this.#perClient.get(address) ?? 0;
    if (this.#total >= limits.maxConnections - reserve) return this.refuse(address, 'listener');
    if (this.#files.used >= this.#files.max - (loopback ? 0 : LOOPBACK_RESERVE)) return this.refuse(address, 'files');
    if (mine >= limits.maxConnectionsPerClient) return this.refuse(address, 'client');
    this.#perClient.set(address, mine + 1);
    this.#total++;
    this.#files.used++;
    owners.set(socket, this);
    return true;
  }

  /** An admitted client closed (the listener calls this from the close handler it has anyway). */
  release(address: string): void {
    this.#total--;
    this.#files.used--;
    const n = this.#perClient.get(address)! - 1;
    if (n === 0) this.#perClient.delete(address);
    else this.#perClient.set(address, n);
  }

  /** A refused client, counted for the next summary line; always false. */
  refuse(address: string, reason: DropReason): false {
    let d = this.#drops.get(address);
    if (!d) this.#drops.set(address, (d = { listener: 0, client: 0, allow: 0, files: 0 }));
    d[reason]++;
    this.#summary ??= setTimeout(() => this.#summarise(), DROP_SUMMARY_MS).unref();
    return false;
  }

  /** One line per period, however many were dropped: a flood must not become a flood of log lines. */
  #summarise(): void {
    this.#summary = undefined;
    const sum = { listener: 0, client: 0, allow: 0, files: 0 };
    const byClient: Array<[string, number]> = [];
    for (const [address, d] of this.#drops) {
      sum.listener += d.listener;
      sum.client += d.client;
      sum.allow += d.allow;
      sum.files += d.files;
      byClient.push([address, d.listener + d.client + d.allow + d.files]);
    }
    this.#drops.clear();
    const total = sum.listener + sum.client + sum.allow + sum.files;
    const top = byClient.sort((a, b) => b[1] - a[1]).slice(0, 5).map(([a, n]) => `${a} ${n}`);
    this.#log.warn({ listener: this.#name, dropped: total, full: sum.listener, perClient: sum.client, notAllowed: sum.allow, openFiles: sum.files, top },
      `${total} connections refused in the last ${DROP_SUMMARY_MS / 1000} s (listener at max-connections: ${sum.listener}, ` +
      `client at max-connections-per-client: ${sum.client}, client not in allow list: ${sum.allow}, ` +
      `proxyd at its open-file limit: ${sum.files}); most from ${top.join(', ')}`);
  }

  /** Stops the summary timer (shutdown). */
  close(): void {
    clearTimeout(this.#summary);
    this.#summary = undefined;
  }

  /** One more (`+1`) or one fewer (`-1`) upstream connection for a client of this listener. */
  static upstream(client: Socket, change: 1 | -1): void {
    const count = owners.get(client);
    if (!count) return;
    count.#total += change;
    count.#files.used += change;
  }
}

/** which listener's count each accepted client socket is charged to */
const owners = new WeakMap<Socket, ConnectionCount>();

/**
 * An upstream connection made for this client counts against the client's listener until
 * uncountUpstream (a tunnel's relay has ended: both sockets are closed).
 */
export function countUpstream(client: Socket): void {
  ConnectionCount.upstream(client, 1);
}

export function uncountUpstream(client: Socket): void {
  ConnectionCount.upstream(client, -1);
}
