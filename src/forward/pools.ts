// The upstream connections of one client connection's forwarded requests: keep-alive pools per
// (route, origin, checked addresses), each connection dialled through the route's dialer with
// TLS on top for https://. They belong to the client connection: at most MAX_IN_FLIGHT
// connections per pool, and all of them closed (in-flight exchanges aborted) when it goes.
//
//   client connection ─► ForwardPools ─► Pool(route, origin, addresses) ─► dialer.dial (+ TLS)
import type { Socket } from 'node:net';
import type { Pool } from 'undici';
import { formatTarget, normalizeHost, type Target } from '../address/index.js';
import { Deadline, type Cancel } from '../deadline.js';
import { classify, ProxyError } from '../errors.js';
import type { DialContext, Dialed, Dialer } from '../outbound/index.js';
import { MAX_IN_FLIGHT, type HttpAnswer, type HttpRequest } from '../protocol/http-exchange.js';
import { tlsOver } from '../tls-client.js';
import { exchange } from './exchange.js';

/** an idle upstream keep-alive connection is closed after this */
const KEEP_ALIVE_MS = 4_000;
/** distinct pools one client connection keeps; the least recently used is closed beyond */
const MAX_POOLS = 32;
/** the origin of a pool whose connections go to an HTTP proxy (its requests name their own origin) */
const PROXY_ORIGIN = 'http://upstream-proxy.invalid';

interface PoolSettings {
  connectTimeoutMs: number;
  /** no response head, or no body bytes, for this long: 504 */
  idleTimeoutMs: number;
  headerMaxBytes: number;
}

/**
 * Opens a pooled connection through a route: `open` with the context the engine gives it (its
 * resolver, the deadline); the engine times it and counts it against the client's listener.
 */
type PoolDial = (dialer: Dialer, open: (ctx: DialContext) => Promise<Dialed>, cancel: Cancel) => Promise<Dialed>;

/** A pool and what carried each of its open connections (a group's member), for the log line. */
interface CarryingPool {
  pool: Pool;
  carried: Map<Socket, string[]>;
}

/** undici, loaded at the first forwarded request: a daemon that only tunnels never needs it (about 5 MB) */
let PoolClass: typeof Pool | undefined;

export class ForwardPools {
  readonly #pools = new Map<string, CarryingPool>();
  readonly #ids = new WeakMap<Dialer, number>();
  #nextId = 0;
  #closed = false;
  /** deadlines of connections being made: the client leaving ends them */
  readonly #connecting = new Set<Deadline>();
  readonly #dial: PoolDial;

  constructor(dial: PoolDial) {
    this.#dial = dial;
  }

  /**
   * Forwards one request through the route's dialer, reusing a kept-alive connection when there is
   * one. Through an HTTP proxy, a plain-HTTP request goes to the proxy itself in absolute form.
   * Resolves with what carried it (['group', 'member']) when all the pool's connections agree.
   */
  async exchange(dialer: Dialer, resolved: string[] | undefined, settings: PoolSettings, request: HttpRequest, answer: HttpAnswer): Promise<string[] | undefined> {
    PoolClass ??= (await import('undici')).Pool;
    if (this.#closed) throw new ProxyError('reset', 'client connection closed', undefined, 'client');
    const proxy = dialer.httpProxy;
    if (proxy && request.origin.startsWith('http:')) {
      const p = this.#pool(dialer, 'proxy', settings, PROXY_ORIGIN, (ctx) => proxy.connect(ctx));
      const headers = proxy.authorization ? [...request.headers, 'Proxy-Authorization', proxy.authorization] : request.headers;
      try {
        await exchange(p.pool, { ...request, path: request.origin + request.path, headers }, answer, settings.idleTimeoutMs, proxy.refuses);
      } catch (err) {
        const e = err as ProxyError;
        // the answer came from the upstream proxy: a garbled one is its fault, not the origin's
        if (e.cls === 'protocol' && e.hop === 'origin') throw new ProxyError('protocol', `upstream ${dialer.name}: ${e.message}`, e.code, 'upstream', e);
        throw e;
      }
      return [dialer.name];
    }
    const key = `${request.origin} ${resolved?.join(',') ?? '*'}`;
    const p = this.#pool(dialer, key, settings, request.origin, (ctx, target) => dialer.dial(target, resolved ? { ...ctx, resolved } : ctx));
    await exchange(p.pool, request, answer, settings.idleTimeoutMs);
    const chains = new Set([...p.carried.values()].map((c) => c.join('/')));
    return chains.size === 1 ? [...p.carried.values()][0] : undefined;
  }

  /** The client connection closed: abort every exchange and close every upstream connection. */
  close(): void {
    this.#closed = true;
    const left = new ProxyError('reset', 'client connection closed', undefined, 'client');
    for (const d of this.#connecting) d.abort(left);
    for (const { pool } of this.#pools.values()) void pool.destroy(new ProxyError('reset', 'client connection closed', undefined, 'client')).catch(() => undefined);
    this.#pools.clear();
  }

  /** The pool of `dialer` for `what`; its connections are made by `open` (given the origin's host and port). */
  #pool(dialer: Dialer, what: string, settings: PoolSettings, origin: string, open: (ctx: DialContext, target: Target) => Promise<Dialed>): CarryingPool {
    let id = this.#ids.get(dialer);
    if (id === undefined) this.#ids.set(dialer, (id = this.#nextId++));
    const key = `${id} ${what}`;
    const existing = this.#pools.get(key);
    if (existing) {
      this.#pools.delete(key); // re-inserted: the map's order is least recently used first
      this.#pools.set(key, existing);
      return existing;
    }
    if (this.#pools.size >= MAX_POOLS) {
      const [oldKey, oldest] = this.#pools.entries().next().value!;
      this.#pools.delete(oldKey);
      void oldest.pool.close().catch(() => undefined);
    }
    const carried = new Map<Socket, string[]>();
    const pool = new PoolClass!(origin, {
      connections: MAX_IN_FLIGHT,
      pipelining: 1,
      keepAliveTimeout: KEEP_ALIVE_MS,
      keepAliveMaxTimeout: KEEP_ALIVE_MS,
      headersTimeout: settings.idleTimeoutMs,
      bodyTimeout: settings.idleTimeoutMs,
      maxHeaderSize: settings.headerMaxBytes,
      connect: (opts, callback) => {
        const host = normalizeHost(opts.hostname) ?? opts.hostname;
        const https = opts.protocol === 'https:';
        const target = { host, port: Number(opts.port) || (https ? 443 : 80) };
        // one deadline for the dial and the TLS handshake on top of it
        const deadline = new Deadline(settings.connectTimeoutMs, `connect to ${formatTarget(target)}`);
        this.#connecting.add(deadline);
        this.#dial(dialer, (ctx) => open(ctx, target), deadline)
          .then(({ socket, chain }): Socket | Promise<Socket> => {
            carried.set(socket, chain);
            socket.once('close', () => carried.delete(socket));
            return https ? deadline.race(tlsOver(socket, opts.servername || host, deadline)) : socket;
          })
          .then((socket) => {
            deadline.done();
            this.#connecting.delete(deadline);
            callback(null, socket);
          }, (err: unknown) => {
            deadline.done();
            this.#connecting.delete(deadline);
            callback(classify(err, 'origin'), null);
          });
      },
    });
    const entry = { pool, carried };
    this.#pools.set(key, entry);
    return entry;
  }
}
