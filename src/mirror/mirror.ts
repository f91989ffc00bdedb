// A mirror: a route target that answers a package protocol itself, from its upstreams in order
// of health, failing over inside one request, with the origin (through `fallback`) last.
//
//   request ─► classify ─► invalid: 400
//                       ├► immutable: disk cache ─hit─► stream (hash checked as it flows)
//                       │                         └miss─► one fetch for all who ask ─► verify ─► store ─► serve
//                       ├► mutable: minute cache, or mirror + origin (2 s) merged ─► rewrite links ─► serve
//                       └► pass: first upstream that has it
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { isLoopback } from '../address/index.js';
import { classify, ProxyError } from '../errors.js';
import type { Dialer, HealthChecked, HealthState, OutboundDeps, Responder } from '../outbound/index.js';
import { MemberHealth, type HealthSettings } from '../outbound/group/health.js';
import { fallbackOrder, type Candidate } from '../outbound/group/order.js';
import type { HttpAnswer, HttpRequest } from '../protocol/http-exchange.js';
import type { Session } from '../session.js';
import type { MirrorDef } from './definition.js';
import type { CachedArtifact } from './cache.js';
import { Fetcher, type Fetched } from './fetcher.js';
import { HOT_MAX_ITEM, HotArtifacts } from './hot.js';
import { joinUrl, type Classified, type Protocol } from './protocol.js';

/** mutable answers are kept this long */
const MUTABLE_MS = 60_000;
/** and at most this many bytes of them (npm packuments run to megabytes) */
const MUTABLE_BYTES = 64 * 1024 * 1024;
/** how long the origin is waited for, once a mirror has answered, to merge its answer in */
const FRESHNESS_MS = 2_000;
/** a module zip is at most 500 MiB; nothing larger is read */
const MAX_BODY = 512 * 1024 * 1024;
const MAX_REDIRECTS = 3;

interface Endpoint extends Candidate {
  base: URL;
  route: Dialer;
  origin: boolean;
  counters: { hits: number; misses: number; bytes: number; behind: number; bad: number };
}

interface Got {
  fetched: Fetched;
  url: URL;
  from: Endpoint;
}

/** every endpoint answered "not here" (the last of those answers), or all failed */
type Outcome = Got | { absent: Fetched } | { failed: string[] };

export class Mirror implements Responder, HealthChecked {
  readonly kind = 'responder';
  readonly name: string;
  readonly paths: readonly string[];
  readonly tunnelVia: Dialer;
  readonly #def: MirrorDef;
  readonly #protocol: Protocol;
  readonly #upstreams: Endpoint[];
  readonly #origins: Endpoint[];
  readonly #fetcher: Fetcher;
  readonly #deps: OutboundDeps;
  readonly #health: HealthSettings;
  readonly #mutable = new Map<string, { expires: number; got: Got }>();
  #mutableBytes = 0;
  readonly #hot = new HotArtifacts();
  /** large cached artifacts this daemon has read whole through their hash check */
  readonly #checkedOnDisk = new Set<string>();
  /** artifacts being written to the disk cache */
  readonly #storing = new Map<string, Promise<void>>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(def: MirrorDef, protocol: Protocol, direct: Dialer, fallback: Dialer, deps: OutboundDeps, previous?: Mirror) {
    this.name = def.name;
    this.paths = [def.path];
    this.tunnelVia = fallback;
    this.#def = def;
    this.#protocol = protocol;
    this.#deps = deps;
    this.#fetcher = new Fetcher(deps);
    this.#health = { failures: def.check.failures, maxLatencyMs: def.check.maxLatencyMs };
    const endpoint = (url: string, route: Dialer, origin: boolean): Endpoint => {
      const base = new URL(url);
      const name = origin ? `${base.host} (origin)` : base.host + base.pathname.replace(/\/$/, '');
      const health = new MemberHealth();
      const before = previous ? previous.#all().find((e) => e.name === name) : undefined;
      if (before) health.copyFrom(before.health);
      return { name, base, route, origin, health, counters: before ? { ...before.counters } : { hits: 0, misses: 0, bytes: 0, behind: 0, bad: 0 } };
    };
    this.#upstreams = def.upstreams.map((u) => endpoint(u, direct, false));
    this.#origins = def.origins.map((u) => endpoint(u, fallback, true));
  }

  async respond(request: HttpRequest, answer: HttpAnswer, session: Session): Promise<void> {
    this.#startChecks();
    const header = (name: string) => headerOf(request.headers, name);
    const served = session.mode === 'respond';
    const text = (status: number, message: string, extra?: Record<string, string>) =>
      send(answer, request, status, 'text/plain; charset=utf-8', Buffer.from(`${this.name}: ${message}\n`), extra);
    // a page in a browser on this machine, whose name was rebound to 127.0.0.1, must not read the mirror
    if (served && isLoopback(session.client.address) && !loopbackName(header('host'))) {
      return text(403, 'a mirror endpoint answers requests for localhost or an IP address (Host names another site: DNS rebinding?)');
    }
    const raw = served ? request.path.slice(this.#def.path.length) || '/' : request.path;
    // clients percent-encode some characters (go sends `!` as %21): the protocols read decoded paths
    const decoded = decodePath(raw);
    if (decoded === undefined) return text(400, 'the path is not valid (bad percent-encoding, a . or .. segment, a backslash)');
    if (request.method !== 'GET' && request.method !== 'HEAD') return text(405, 'a mirror answers GET and HEAD only', { allow: 'GET, HEAD' });
    const c = this.#protocol.classify(decoded.path, header('accept'));
    if (c.type === 'invalid') return text(400, c.reason);
    // a query is passed on only where nothing is kept; a kept answer is the path's alone
    const rel = c.type === 'pass' ? decoded.path + decoded.query : decoded.path;
    const outcome = c.type === 'immutable' ? await this.#artifact(rel, c, request, answer, header('accept'))
      : c.type === 'mutable' ? await this.#document(rel, c, header('accept'))
        : await this.#first(rel, this.#order(true), header('accept'));
    if (outcome === 'served') return;
    if ('failed' in outcome) throw new ProxyError('unreachable', `${this.name}: no upstream could answer ${decoded.path} (${outcome.failed.join('; ')})`, undefined, 'upstream');
    if ('absent' in outcome) return text(outcome.absent.status, `not found on any upstream or the origin: ${decoded.path}`);
    let body = outcome.fetched.body;
    // where follow-up downloads are sent: proxyd's endpoint as this client named it, or the origin it asked for
    const clientBase = served ? `http://${header('host') ?? '127.0.0.1'}${this.#def.path}` : request.origin;
    if (this.#protocol.rewrite && c.type === 'mutable') body = this.#protocol.rewrite(rel, body, clientBase, outcome.url);
    return send(answer, request, outcome.fetched.status, outcome.fetched.headers['content-type'] ?? this.#protocol.contentType(rel), body);
  }

  /**
   * A versioned artifact: from memory (small ones) or the disk cache, or fetched once however many
   * ask, verified, and stored in the background (the client does not wait for the disk).
   */
  async #artifact(rel: string, c: Extract<Classified, { type: 'immutable' }>, request: HttpRequest, answer: HttpAnswer, accept: string | undefined): Promise<Outcome | 'served'> {
    // the disk cache is shared: an artifact is this mirror's own (two npm registries may both have utils@1.0.0)
    const key = `${this.name} ${c.key}`;
    const hot = this.#hot.get(key);
    if (hot) {
      send(answer, request, 200, hot.type, hot.body);
      return 'served';
    }
    const cache = await this.#deps.artifactCache();
    await this.#storing.get(key); // a store in progress: the disk will have it
    const hit = cache.get(key);
    if (hit && (await this.#serveCached(key, hit, rel, request, answer))) return 'served';
    return cache.once(key, async () => {
      const outcome = await this.#first(rel, this.#order(true), accept, true);
      if ('fetched' in outcome) {
        const type = outcome.fetched.headers['content-type'] ?? this.#protocol.contentType(rel);
        this.#hot.set(key, { body: outcome.fetched.body, type });
        const storing = cache.put(key, outcome.fetched.body, { type, from: outcome.from.name }).then(() => undefined);
        this.#storing.set(key, storing);
        void storing.then(() => this.#storing.delete(key));
      }
      return outcome;
    });
  }

  /**
   * A disk-cache hit: small artifacts are read whole through the hash check and kept in memory;
   * the first time this daemon serves a large one it is checked whole before a byte goes out, and
   * after that as it flows. False when the file failed its check (the cache dropped it): fetch again.
   */
  async #serveCached(key: string, hit: CachedArtifact, rel: string, request: HttpRequest, answer: HttpAnswer): Promise<boolean> {
    const type = hit.meta.type ?? this.#protocol.contentType(rel);
    if (hit.size <= HOT_MAX_ITEM) {
      const body = await readAll(hit.open()).catch(() => undefined);
      if (!body) return false;
      this.#hot.set(key, { body, type });
      send(answer, request, 200, type, body);
      return true;
    }
    if (!this.#checkedOnDisk.has(key)) {
      if (!(await readAll(hit.open(), true).then(() => true, () => false))) return false;
      this.#checkedOnDisk.add(key);
    }
    await stream(answer, request, type, hit.size, hit.open());
    return true;
  }

  /** A document that changes: kept a minute; merged with the origin's when the protocol merges it. */
  async #document(rel: string, c: Extract<Classified, { type: 'mutable' }>, accept: string | undefined): Promise<Outcome> {
    const kept = this.#mutable.get(c.key);
    if (kept && kept.expires > Date.now()) return kept.got;
    const outcome = c.merge && this.#origins.length ? await this.#fresh(rel, accept) : await this.#first(rel, this.#order(true), accept);
    if ('fetched' in outcome) this.#keep(c.key, outcome);
    return outcome;
  }

  /** Keeps a document a minute: expired ones leave first, then the oldest beyond the byte budget. */
  #keep(key: string, got: Got): void {
    const drop = (k: string) => {
      this.#mutableBytes -= this.#mutable.get(k)!.got.fetched.body.length;
      this.#mutable.delete(k);
    };
    if (this.#mutable.has(key)) drop(key);
    const now = Date.now();
    for (const [k, v] of this.#mutable) {
      if (v.expires > now && this.#mutableBytes + got.fetched.body.length <= MUTABLE_BYTES) break;
      drop(k); // the map is in insertion order, which is expiry order: the oldest go first
    }
    if (got.fetched.body.length > MUTABLE_BYTES) return;
    this.#mutable.set(key, { expires: now + MUTABLE_MS, got });
    this.#mutableBytes += got.fetched.body.length;
  }

  /** The mirrors' answer, and the origin's when it comes within 2 s: their union, so a version published a minute ago is found. */
  async #fresh(rel: string, accept: string | undefined): Promise<Outcome> {
    const fromOrigin = this.#first(rel, this.#origins, accept);
    const mirrored = await this.#first(rel, this.#order(false), accept);
    if (!('fetched' in mirrored)) return fromOrigin; // no mirror has it: the origin is the answer, however long it takes
    let timer: ReturnType<typeof setTimeout> | undefined;
    const origin = await Promise.race([fromOrigin, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), FRESHNESS_MS)))]);
    clearTimeout(timer);
    if (!origin || !('fetched' in origin)) return mirrored;
    try {
      const merged = this.#protocol.merge!(rel, mirrored.fetched.body, origin.fetched.body);
      if (merged.behind) mirrored.from.counters.behind++;
      return { ...mirrored, fetched: { ...mirrored.fetched, body: merged.body } };
    } catch {
      return mirrored; // an origin answer that does not parse adds nothing
    }
  }

  /**
   * The first endpoint that has `rel`: a connect error, timeout, 5xx, garbled answer or (with
   * `verify`) an artifact that does not check out is a failure of that endpoint, and the next is
   * asked; "not here" (404/410) asks the next too.
   */
  async #first(rel: string, order: Endpoint[], accept: string | undefined, verify = false): Promise<Outcome> {
    const failed: string[] = [];
    let absent: Fetched | undefined;
    for (const ep of order) {
      let got: Got;
      try {
        got = await this.#get(ep, rel, accept);
      } catch (err) {
        const e = classify(err, 'upstream');
        failed.push(`${ep.name}: ${e.message}`);
        this.#failed(ep, e);
        continue;
      }
      const { status } = got.fetched;
      if (this.#protocol.absent(status)) {
        ep.counters.misses++;
        absent = got.fetched;
        continue;
      }
      if (status < 200 || status >= 300) {
        failed.push(`${ep.name}: HTTP ${status}`);
        this.#failed(ep, new ProxyError(status >= 500 ? 'unreachable' : 'protocol', `HTTP ${status}`, undefined, 'upstream'));
        continue;
      }
      const wrong = verify ? await this.#protocol.verify?.(rel, got.fetched, this.#verifyContext(accept)) : this.#protocol.check?.(rel, got.fetched.body);
      if (wrong) {
        ep.counters.bad++;
        failed.push(`${ep.name}: ${wrong}`);
        this.#failed(ep, new ProxyError('protocol', wrong, undefined, 'upstream'));
        this.#deps.log.warn({ mirror: this.name, upstream: ep.name, path: rel }, `${this.name}: ${ep.name} served a bad ${verify ? 'artifact' : 'answer'} (${wrong}); trying the next`);
        continue;
      }
      ep.counters.hits++;
      ep.counters.bytes += got.fetched.body.length;
      ep.health.pass(Date.now(), undefined, this.#health);
      return got;
    }
    // "not here" from any of them outweighs failures of others: the client may look elsewhere
    return absent ? { absent } : { failed };
  }

  /** GET rel from one endpoint, following a few redirects (registries send tarballs to a CDN). */
  async #get(ep: Endpoint, rel: string, accept: string | undefined): Promise<Got> {
    let url = this.#protocol.urlFor?.(ep.base, rel) ?? joinUrl(ep.base, rel);
    const options = { timeoutMs: this.#def.check.timeoutMs * 6, maxBytes: MAX_BODY, headers: this.#protocol.requestHeaders?.(rel, accept) ?? {} };
    for (let hop = 0; ; hop++) {
      const fetched = await this.#fetcher.get(url, ep.route, options);
      const location = fetched.headers.location;
      if (fetched.status < 300 || fetched.status >= 400 || !location || hop === MAX_REDIRECTS) return { fetched, url, from: ep };
      const next = new URL(location, url);
      // an upstream may send a download to its CDN, but not proxyd to an address of its choosing
      if (next.origin !== url.origin && (next.protocol !== 'https:' || isIP(next.hostname.replace(/^\[|\]$/g, '')) !== 0)) {
        throw new ProxyError('protocol', `${ep.name} redirected to ${next.origin}: only https:// to a host name is followed`, undefined, 'upstream');
      }
      url = next;
    }
  }

  #verifyContext(accept: string | undefined) {
    return {
      mutable: async (rel: string) => {
        const c = this.#protocol.classify(rel, accept);
        if (c.type !== 'mutable') return undefined;
        const outcome = await this.#document(rel, c, accept);
        return 'fetched' in outcome ? outcome.fetched.body : undefined;
      },
      lookup: async (rel: string) => {
        const outcome = await this.#first(rel, this.#order(true), undefined);
        return 'fetched' in outcome ? outcome.fetched.body : undefined;
      },
    };
  }

  #failed(ep: Endpoint, e: ProxyError): void {
    const t = ep.health.fail(Date.now(), e.cls, e.message, this.#health, false);
    if (t === 'down') this.#deps.log.warn({ mirror: this.name, upstream: ep.name, reason: e.message }, `${this.name}/${ep.name} is down`);
  }

  /** upstreams by health (the fallback order of groups), then (`withOrigins`) the origins through fallback */
  #order(withOrigins: boolean): Endpoint[] {
    const names = fallbackOrder(this.#upstreams.length ? this.#upstreams : this.#origins).order;
    const ordered = names.map((n) => this.#all().find((e) => e.name === n)!);
    return withOrigins && this.#upstreams.length ? [...ordered, ...this.#origins] : ordered;
  }

  #all(): Endpoint[] {
    return [...this.#upstreams, ...this.#origins];
  }

  health(): HealthState {
    const { order, why } = fallbackOrder(this.#upstreams.length ? this.#upstreams : this.#origins);
    return {
      type: this.#def.type,
      current: order[0],
      why,
      members: this.#all().map((e) => ({
        name: e.name, status: e.health.status, slow: e.health.slow, lastCheck: e.health.lastCheck,
        recentLatencyMs: e.health.recentLatencyMs, errors: { ...e.health.errors }, counters: { ...e.counters },
      })),
    };
  }

  async checkNow(): Promise<void> {
    await Promise.all(this.#upstreams.map((ep) => this.#check(ep)));
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await Promise.all(this.#storing.values()); // what was fetched is on disk before the daemon goes
    await this.#fetcher.close();
  }

  /** health checks start with the first request: a mirror nobody uses contacts nothing */
  #startChecks(): void {
    if (this.#timer || this.#closed || !this.#upstreams.length) return;
    this.#timer = setInterval(() => void this.checkNow(), this.#def.check.intervalMs).unref();
    void this.checkNow();
  }

  async #check(ep: Endpoint): Promise<void> {
    if (this.#closed) return;
    const url = joinUrl(ep.base, this.#def.check.path);
    try {
      const fetched = await this.#fetcher.get(url, ep.route, { timeoutMs: this.#def.check.timeoutMs, maxBytes: 0, headOnly: true });
      if (fetched.status >= 500) throw new ProxyError('unreachable', `check ${url.origin}${url.pathname}: HTTP ${fetched.status}`, undefined, 'upstream');
      const t = ep.health.pass(Date.now(), Math.round(fetched.ms), this.#health);
      if (t === 'up' || t === 'slow') this.#deps.log.info({ mirror: this.name, upstream: ep.name, ms: Math.round(fetched.ms) }, `${this.name}/${ep.name} is ${t}`);
    } catch (err) {
      const e = classify(err, 'upstream');
      const t = ep.health.fail(Date.now(), e.cls, e.message, this.#health, true);
      if (t === 'down') this.#deps.log.warn({ mirror: this.name, upstream: ep.name, reason: e.message }, `${this.name}/${ep.name} is down`);
    }
  }
}

/**
 * The path decoded, and its query as sent; undefined when it does not decode or, decoded, could
 * step out of an upstream's base path (`.` or `..` segments, a backslash, a `%` left over from
 * double encoding: URL parsers resolve those).
 */
function decodePath(raw: string): { path: string; query: string } | undefined {
  const q = raw.indexOf('?');
  let path: string;
  try {
    path = decodeURIComponent(q < 0 ? raw : raw.slice(0, q));
  } catch {
    return undefined;
  }
  if (/[\\%\0]/.test(path) || path.split('/').some((s) => s === '.' || s === '..')) return undefined;
  return { path, query: q < 0 ? '' : raw.slice(q) };
}

/** a Host header that names this machine: an IP address, localhost (with any port) */
function loopbackName(host: string | undefined): boolean {
  if (!host) return true;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d*$/, '');
  return isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost');
}

/** a whole cached artifact through the cache's hash check (`discard`: only the check, no bytes kept) */
async function readAll(body: Readable, discard = false): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) if (!discard) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function headerOf(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === name) return headers[i + 1];
  return undefined;
}

function send(answer: HttpAnswer, request: HttpRequest, status: number, type: string, body: Buffer, extra: Record<string, string> = {}): void {
  const headers = ['Content-Type', type, 'Content-Length', String(body.length), ...Object.entries(extra).flat()];
  answer.head(status, headers);
  if (request.method !== 'HEAD') answer.write(body);
  answer.end();
}

/** A cached artifact to the client, with backpressure; a file that fails its hash cuts the answer (the client sees it broken). */
function stream(answer: HttpAnswer, request: HttpRequest, type: string, size: number, body: Readable): Promise<void> {
  if (answer.closed) {
    body.destroy(); // the client left while the file was being checked
    return Promise.resolve();
  }
  answer.head(200, ['Content-Type', type, 'Content-Length', String(size)]);
  if (request.method === 'HEAD') {
    body.destroy();
    answer.end();
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (err?: ProxyError) => {
      if (settled) return;
      settled = true;
      body.destroy();
      if (err) reject(err);
      else resolve();
    };
    answer.onDrain(() => body.resume());
    answer.onClose(() => settle()); // the client left (or the answer ended): the file is closed either way
    body.on('data', (chunk: Buffer) => {
      if (!answer.write(chunk)) body.pause();
    });
    body.once('end', () => {
      answer.end();
      settle();
    });
    // the cache quarantined the file: this answer is cut, the next request fetches it again
    body.once('error', (err) => settle(new ProxyError('reset', `cached artifact failed its check: ${err.message}`, undefined, 'proxyd')));
    body.once('close', () => settle());
  });
}

