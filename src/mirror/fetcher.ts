// The mirror's HTTP client: one keep-alive pool per (endpoint, route, origin), each connection
// dialled through the route (the mirror's `via` for its upstreams, its `fallback` for the
// origins) under a connect deadline, counted against the daemon's descriptors, with TLS
// on top for https://, and each answer read whole (into memory or a file, body.ts): a mirror checks
// a body before any byte of it reaches a client, so a failed or garbled one can still be retried
// on the next upstream.
import type { Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Pool } from 'undici';
import { formatTarget, normalizeHost } from '../address/index.js';
import { Deadline } from '../deadline.js';
import { classify, ProxyError } from '../errors.js';
import type { Dialer, OutboundDeps } from '../outbound/index.js';
import type { Figures } from '../stats/figures.js';
import { tlsOver } from '../tls-client.js';
import type { Body } from './body.js';

export interface Fetched {
  status: number;
  headers: Record<string, string>;
  body: Body;
  /** ms from asking to the whole body */
  ms: number;
}

export interface FetchOptions {
  /** to connect, to the head, and the longest pause in the body */
  timeoutMs: number;
  /** the whole fetch, body included: a body that trickles in forever ends here */
  deadlineMs: number;
  /** larger bodies are a failure (a module zip is at most 500 MiB; a version list far less) */
  maxBytes: number;
  /** bytes of the body that may be kept in memory; a larger one goes to a file */
  memoryBytes: number;
  headers?: Record<string, string>;
  /** ask for the body gzipped (documents: JSON and HTML shrink tenfold); it is unzipped as it comes */
  gzip?: boolean;
  /** take the body's sha256 as it comes (an artifact's) */
  hash?: boolean;
}

const KEEP_ALIVE_MS = 30_000;

export class Fetcher {
  readonly #pools = new Map<string, Pool>();
  readonly #deps: OutboundDeps;
  #closed = false;

  constructor(deps: OutboundDeps) {
    this.#deps = deps;
  }

  /**
   * GET `url` through `route` for the endpoint whose `figures` it joins (a request, its time to
   * first byte, its bytes, its error); rejects with a classified ProxyError (hop: origin) on any
   * failure to get an answer.
   */
  async get(url: URL, route: Dialer, options: FetchOptions, figures: Figures): Promise<Fetched> {
    const started = performance.now();
    figures.connections++;
    figures.active++;
    let down = 0;
    let ttfbUs: number | undefined;
    try {
      const fetched = await this.#get(url, route, options, figures, () => (ttfbUs = (performance.now() - started) * 1000));
      down = fetched.body.size;
      figures.settle({ up: 0, down }, ttfbUs);
      return fetched;
    } catch (err) {
      const error = classify(err, 'origin');
      figures.settle({ up: 0, down, error }, ttfbUs);
      throw error;
    }
  }

  async #get(url: URL, route: Dialer, options: FetchOptions, figures: Figures, headed: () => void): Promise<Fetched> {
    const started = performance.now();
    const { spool } = await this.#deps.artifactCache();
    const pool = this.#pool(url, route, options.timeoutMs, figures);
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), options.deadlineMs);
    const writer = spool.writer(options.memoryBytes, options.hash ?? false);
    try {
      // the timeout is per phase: connecting, the head, and each pause in the body; the deadline
      // bounds the whole (a large zip over a slow link takes long, but not forever)
      const res = await pool.request({
        method: 'GET',
        path: url.pathname + url.search,
        headers: { 'user-agent': 'proxyd-mirror', ...(options.gzip ? { 'accept-encoding': 'gzip' } : {}), ...options.headers },
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
        signal: deadline.signal,
      });
      headed();
      const headers = headersOf(res.headers);
      const gzipped = /^\s*gzip\s*$/i.test(headers['content-encoding'] ?? '');
      let sent = 0;
      const counted = async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          sent += chunk.length;
          yield chunk;
        }
      };
      const store = async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) {
          if (writer.size + chunk.length > options.maxBytes) {
            throw new ProxyError('protocol', `${url.origin} sent more than ${options.maxBytes} bytes for ${url.pathname}`, undefined, 'origin');
          }
          await writer.write(chunk);
        }
      };
      try {
        await (gzipped ? pipeline(res.body, counted, createGunzip(), store) : pipeline(res.body, counted, store));
      } catch (err) {
        if (gzipped && !(err instanceof ProxyError) && (err as NodeJS.ErrnoException).code?.startsWith('Z_')) {
          throw new ProxyError('protocol', `${url.origin} sent a gzip body that does not unzip for ${url.pathname}`, undefined, 'origin');
        }
        throw err;
      }
      const declared = Number(headers['content-length']);
      if (headers['content-length'] !== undefined && declared !== sent) {
        throw new ProxyError('protocol', `${url.origin} sent ${sent} of ${declared} bytes`, undefined, 'origin');
      }
      if (gzipped) {
        delete headers['content-encoding'];
        delete headers['content-length'];
      }
      return { status: res.statusCode, headers, body: await writer.finish(), ms: performance.now() - started };
    } catch (err) {
      await writer.abort();
      if (deadline.signal.aborted) throw new ProxyError('timeout', `${url.origin} did not finish ${url.pathname} within ${Math.round(options.deadlineMs / 1000)} s`, undefined, 'origin');
      throw classify(err, 'origin');
    } finally {
      clearTimeout(timer);
    }
  }

  /** GET `url` for a health check: the status and how long the head took; the body is not kept. */
  async status(url: URL, route: Dialer, timeoutMs: number, figures: Figures): Promise<{ status: number; ms: number }> {
    const started = performance.now();
    const pool = this.#pool(url, route, timeoutMs, figures);
    try {
      const res = await pool.request({
        method: 'GET', path: url.pathname + url.search, headers: { 'user-agent': 'proxyd-mirror' }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
      });
      const ms = performance.now() - started;
      await res.body.dump();
      return { status: res.statusCode, ms };
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

  /** The pool of one endpoint's connections to one origin through one route (its own or a CDN's it redirects to). */
  #pool(url: URL, route: Dialer, connectTimeoutMs: number, figures: Figures): Pool {
    if (this.#closed) throw new ProxyError('reset', 'the mirror was closed (a reload or shutdown)', undefined, 'proxyd');
    const key = `${figures.name} ${route.name} ${url.origin}`;
    let pool = this.#pools.get(key);
    if (pool) return pool;
    pool = new Pool(url.origin, {
      connections: 8,
      keepAliveTimeout: KEEP_ALIVE_MS,
      connect: (opts, callback) => {
        const { files } = this.#deps;
        if (files.used >= files.max) {
          callback(new ProxyError('unreachable', `proxyd is at its open-file limit (${files.max} connections): no connection to ${url.origin} now`, 'EMFILE', 'proxyd'), null);
          return;
        }
        const host = normalizeHost(opts.hostname) ?? opts.hostname;
        const https = opts.protocol === 'https:';
        const target = { host, port: Number(opts.port) || (https ? 443 : 80) };
        const deadline = new Deadline(connectTimeoutMs, `connect to ${formatTarget(target)}`);
        const started = performance.now();
        route.dial(target, { resolver: this.#deps.resolver(), cancel: deadline })
          .then(({ socket }): Socket | Promise<Socket> => (https ? deadline.race(tlsOver(socket, opts.servername || host, deadline)) : socket))
          .then((socket) => {
            deadline.done();
            figures.connect.record((performance.now() - started) * 1000);
            files.used++;
            socket.once('close', () => files.used--);
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

function headersOf(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  return headers;
}
