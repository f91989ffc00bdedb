// The daemon's listening ports, by listener name: bound at start, moved by a reload, closed by
// stop. A reload binds its new addresses as a Rebinding, which changes nothing until it is
// committed with the new state, and is undone (every new port closed) when the reload fails.
import type { AddressInfo } from 'node:net';
import { formatTarget, type Target } from '../address/index.js';
import type { FileBudget } from '../access/connection-count.js';
import { LISTENER_NAMES, type Config, type ListenerName } from '../config/index.js';
import { Listener, type ListenerSettings, type ProtocolHandlers } from '../inbound/listen.js';
import type { Logger } from '../log/logger.js';
import type { LoopGuard } from '../loop-guard.js';

interface ListenersOptions {
  handlers: ProtocolHandlers;
  settings: () => ListenerSettings;
  log: Logger;
  files: FileBudget;
  /** told of every bound address, so that nothing is dialled back into proxyd */
  guard: LoopGuard;
}

/** New listeners bound for a reload, not yet in use. */
export interface Rebinding {
  /** the new listeners replace the old ones (which stop accepting; their connections go on) */
  commit(): void;
  /** the new listeners are closed; nothing changed */
  undo(): void;
}

type Addresses = Config['listen'];

const NONE: Addresses = { socks: null, http: null };

export class Listeners {
  readonly #options: ListenersOptions;
  readonly #current = new Map<ListenerName, Listener>();
  /** replaced by a reload: no longer accepting, their open connections going on */
  readonly #retired = new Set<Listener>();
  /** bound for a reload that has not committed or undone them yet */
  readonly #pending = new Set<Listener>();
  #stopped = false;

  constructor(options: ListenersOptions) {
    this.#options = options;
  }

  /** Binds every listener `listen` turns on; when one cannot be bound, none stays bound. */
  async start(listen: Addresses): Promise<void> {
    (await this.rebind(NONE, listen)).commit();
  }

  /** Binds the listeners whose address changes from `from` to `to`; when one cannot be bound, none stays bound. */
  async rebind(from: Addresses, to: Addresses): Promise<Rebinding> {
    const text = (t: Target | null) => (t ? formatTarget(t) : 'off');
    const moved = LISTENER_NAMES.filter((name) => text(from[name]) !== text(to[name]));
    const bound = new Map<ListenerName, Listener>();
    const undo = () => {
      for (const l of bound.values()) this.#close(l);
    };
    try {
      for (const name of moved) {
        const address = to[name];
        if (address) bound.set(name, await this.#bind(name, address));
      }
    } catch (err) {
      undo();
      throw err;
    }
    const commit = () => {
      for (const name of moved) {
        const old = this.#current.get(name);
        if (old) this.#retire(old);
        this.#current.delete(name);
        const fresh = bound.get(name);
        if (!fresh) continue;
        this.#pending.delete(fresh);
        this.#current.set(name, fresh);
      }
    };
    return { commit, undo };
  }

  /** bound addresses by listener name */
  addresses(): Partial<Record<ListenerName, AddressInfo>> {
    return Object.fromEntries([...this.#current].map(([name, l]) => [name, l.address!]));
  }

  /** connections open per listener in use: its clients plus the upstream connections made for them */
  connections(): Partial<Record<ListenerName, number>> {
    return Object.fromEntries([...this.#current].map(([name, l]) => [name, l.connections]));
  }

  /** the listeners in use as proxyctl shows them */
  report(): Array<{ name: string; address: string; connections: number }> {
    return [...this.#current].map(([name, l]) => ({ name, address: formatTarget({ host: l.address!.address, port: l.address!.port }), connections: l.connections }));
  }

  /** Stops accepting on every port, the ones a reload has bound or is binding too; open connections go on. */
  stopAccepting(): void {
    this.#stopped = true;
    for (const l of this.#all()) l.stopAccepting();
  }

  /** resolves once no client connection of any listener is open */
  async whenEmpty(): Promise<void> {
    await Promise.all(this.#all().map((l) => l.whenEmpty()));
  }

  /** client connections still open on every listener */
  get open(): number {
    return this.#all().reduce((n, l) => n + l.sockets.size, 0);
  }

  /** Closes every client connection still open. */
  destroyAll(): void {
    for (const l of this.#all()) for (const s of l.sockets) s.destroy();
  }

  async #bind(name: ListenerName, address: Target): Promise<Listener> {
    const { handlers, settings, log, files, guard } = this.#options;
    const stopping = () => new Error('proxyd is stopping: no listener is bound any more');
    if (this.#stopped) throw stopping();
    const listener = new Listener({ name, address, settings, handlers, log, files });
    const bound = await listener.listen().catch((err: NodeJS.ErrnoException) => {
      throw new Error(`cannot listen on ${formatTarget(address)} (listen.${name}): ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`);
    });
    // stop() came while it was binding (closing a port before it is bound would leave listen() unanswered)
    if (this.#stopped) {
      listener.stopAccepting();
      throw stopping();
    }
    guard.add(bound.address, bound.port);
    this.#pending.add(listener);
    log.info({ listener: name, address: bound }, `listening on ${formatTarget({ host: bound.address, port: bound.port })} (listen.${name}; SOCKS5 and HTTP both accepted)`);
    return listener;
  }

  #close(l: Listener): void {
    this.#pending.delete(l);
    l.stopAccepting();
    if (l.address) this.#options.guard.remove(l.address.address, l.address.port);
  }

  #retire(old: Listener): void {
    this.#close(old);
    this.#retired.add(old);
    old.whenEmpty().then(() => this.#retired.delete(old), () => undefined);
  }

  #all(): Listener[] {
    return [...this.#current.values(), ...this.#retired, ...this.#pending];
  }
}
