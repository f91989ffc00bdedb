// The mirror's HTTP client: one keep-alive pool per (route, origin), each connection dialled
// through the route (DIRECT for the mirror's upstreams, its `fallback` for the origin) with TLS
// on top for https://, and each answer read whole: a mirror checks a body before any byte of it
// reaches a client, so a failed or garbled one can still be retried on the next upstream.
import type { Socket } from 'node:net';
import { Pool } from 'undici';
import { formatTarget, normalizeHost } from '../address/index.js';
import { Deadline } from '../deadline.js';
import { classify, ProxyError } from '../errors.js';
import type { Dialer, OutboundDeps } from '../outbound/index.js';
import { tlsOver } from '../tls-client.js';

export interface Fetched {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** ms from asking to the whole body */
  ms: number;
}

export interface FetchOptions {
  /** to connect, to the head, and the longest pause in the body */
  timeoutMs: number;
  /** larger bodies are a failure (a module zip is at most 500 MiB) */
  maxBytes: number;
  headers?: Record<string, string>;
  /** HEAD-like checks: the head is enough, the body is not read */
  headOnly?: boolean;
}

const KEEP_ALIVE_MS = 30_000;

export class Fetcher {
  readonly #pools = new Map<string, Pool>();
  readonly #deps: OutboundDeps;
  #closed = false;

  constructor(deps: OutboundDeps) {
    this.#deps = deps;
  }

  /** GET `url` through `route`; rejects with a classified ProxyError (hop: origin) on any failure to get an answer. */
  async get(url: URL, route: Dialer, options: FetchOptions): Promise<Fetched> {
    const started = performance.now();
    const pool = this.#pool(url, route, options.timeoutMs);
    try {
      // the timeout is per phase: connecting, the head, and each pause in the body (a large zip
      // over a slow link takes as long as it takes while bytes keep coming)
      const res = await pool.request({
        method: 'GET',
        path: url.pathname + url.search,
        headers: { 'user-agent': 'proxyd-mirror', ...options.headers },
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      });
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      if (options.headOnly) {
        await res.body.dump();
        return { status: res.statusCode, headers, body: Buffer.alloc(0), ms: performance.now() - started };
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > options.maxBytes) {
          res.body.destroy();
          throw new ProxyError('protocol', `${url.origin} sent more than ${options.maxBytes} bytes`, undefined, 'origin');
        }
        chunks.push(chunk);
      }
      const declared = Number(headers['content-length']);
      if (headers['content-length'] !== undefined && declared !== size) {
        throw new ProxyError('protocol', `${url.origin} sent ${size} of ${declared} bytes`, undefined, 'origin');
      }
      return { status: res.statusCode, headers, body: Buffer.concat(chunks, size), ms: performance.now() - started };
    } catch (err) {
      throw classify(err, 'origin');
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));
  }

  #pool(url: URL, route: Dialer, connectTimeoutMs: number): Pool {
    if (this.#closed) throw new ProxyError('reset', 'the mirror was closed (a reload or shutdown)', undefined, 'proxyd');
    const key = `${route.name} ${url.origin}`;
    let pool = this.#pools.get(key);
    if (pool) return pool;
    pool = new Pool(url.origin, {
      connections: 8,
      keepAliveTimeout: KEEP_ALIVE_MS,
      connect: (opts, callback) => {
        const host = normalizeHost(opts.hostname) ?? opts.hostname;
        const https = opts.protocol === 'https:';
        const target = { host, port: Number(opts.port) || (https ? 443 : 80) };
        const deadline = new Deadline(connectTimeoutMs, `connect to ${formatTarget(target)}`);
        route.dial(target, { resolver: this.#deps.resolver(), cancel: deadline })
          .then(({ socket }): Socket | Promise<Socket> => (https ? deadline.race(tlsOver(socket, opts.servername || host, deadline)) : socket))
          .then((socket) => {
            deadline.done();
            callback(null, socket);
          }, (err: unknown) => {
            deadline.done();
            callback(classify(err, 'origin'), null);
          });
      },
    });
    this.#pools.set(key, pool);
    return pool;
  }
}
