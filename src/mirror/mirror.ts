// A mirror: a route target that answers a package protocol itself, from its upstreams in order
// of health, failing over inside one request, with the origin (through `fallback`) last.
//
//   request ─► classify ─► invalid: 400
//                       ├► immutable: memory or disk cache ─hit─► serve
//                       │             └miss─► one fetch for all who ask ─► verify ─► verified: store, serve
//                       │                                                         └► unknown: serve, never store
//                       ├► mutable: minute cache, or mirror + origin (2 s) merged ─► rewrite links ─► serve
//                       └► pass: first upstream that has it
//
// Every fetch is bounded: by its kind's size limit, a deadline for the whole, and the daemon's
// memory budget for bodies (beyond it they go to a file: body.ts). A client that leaves ends its
// session at once; the fetch it started goes on for whoever else waits, within its deadline.
import { isIP } from 'node:net';
import { isHostLocal, isLoopback } from '../address/index.js';
import { classify, ProxyError } from '../errors.js';
import type { Dialer, HealthChecked, HealthState, OutboundDeps, Responder } from '../outbound/index.js';
import type { HttpAnswer, HttpRequest } from '../protocol/http-exchange.js';
import type { Session } from '../session.js';
import { decodePath, headerOf, loopbackName, readAll, send, stream } from './answer.js';
import { Body } from './body.js';
import type { ArtifactCache, CachedArtifact } from './cache.js';
import type { MirrorDef } from './definition.js';
import { conditional, DocumentStore, FRESH_MS, KeptDocument, type Part } from './documents.js';
import { Endpoints, type Endpoint } from './endpoints.js';
import { Fetcher, type Fetched } from './fetcher.js';
import { HOT_MAX_ITEM, HotArtifacts } from './hot.js';
import { joinUrl, MAX_BYTES, type Classified, type Protocol, type Verdict, type VerifyContext } from './protocol.js';

/** how long the origin is waited for, once a mirror has answered, to merge its answer in */
const FRESHNESS_MS = 2_000;
/**
 * The longest a whole fetch may take, in check timeouts (5 s by default: 15 minutes for an artifact
 * of hundreds of megabytes, 2 minutes for a document); each phase gets 6.
 */
const PHASE_TIMEOUTS = 6;
const ARTIFACT_TIMEOUTS = 180;
const DOCUMENT_TIMEOUTS = 24;
const MAX_REDIRECTS = 3;

interface Got {
  fetched: Fetched;
  url: URL;
  from: Endpoint;
  /** for artifacts: what their check found */
  verdict?: Verdict;
}

/** every endpoint answered "not here" (the last of those answers), or all failed */
type Outcome = Got | { absent: Fetched } | { failed: string[] };
type DocumentOutcome = KeptDocument<Endpoint> | { absent: Fetched } | { failed: string[] };

/** what is asked of an endpoint: an artifact (verified), a document (checked, read into memory), or a pass-through */
type Want = { kind: 'artifact' | 'document' | 'pass'; maxBytes: number };

export class Mirror implements Responder, HealthChecked {
  readonly kind = 'responder';
  readonly name: string;
  readonly paths: readonly string[];
  readonly tunnelVia: Dialer;
  readonly intercepts: readonly string[];
  readonly #def: MirrorDef;
  readonly #protocol: Protocol;
  readonly #endpoints: Endpoints;
  readonly #fetcher: Fetcher;
  readonly #deps: OutboundDeps;
  readonly #documents = new DocumentStore<Endpoint>();
  readonly #hot = new HotArtifacts();
  /** artifacts being written to the disk cache */
  readonly #storing = new Map<string, Promise<void>>();

  /** `via`: the route to the upstreams; `fallback`: the route to the origins */
  constructor(def: MirrorDef, protocol: Protocol, via: Dialer, fallback: Dialer, deps: OutboundDeps, previous?: Mirror) {
    this.name = def.name;
    this.paths = [def.path];
    this.tunnelVia = fallback;
    this.intercepts = def.intercept ? def.origins.filter((o) => o.startsWith('https://')).map((o) => new URL(o).hostname.toLowerCase()) : [];
    this.#def = def;
    this.#protocol = protocol;
    this.#deps = deps;
    this.#fetcher = new Fetcher(deps);
    this.#endpoints = new Endpoints(def, { via, fallback }, deps, previous && previous.#endpoints);
  }

  /** Answers one request; resolves as soon as the client leaves (what it started goes on for others). */
  async respond(request: HttpRequest, answer: HttpAnswer, session: Session): Promise<void> {
    let left: () => void = () => {};
    const gone = new Promise<void>((resolve) => (left = resolve));
    answer.onClose(() => left());
    await Promise.race([this.#respond(request, answer, session), gone]);
  }

  async #respond(request: HttpRequest, answer: HttpAnswer, session: Session): Promise<void> {
    this.#endpoints.startChecks(this.#probe);
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
    if (decoded === undefined) return text(400, 'the path is not valid (bad percent-encoding, a . or .. segment, a backslash, an encoded ? or #)');
    if (request.method !== 'GET' && request.method !== 'HEAD') return text(405, 'a mirror answers GET and HEAD only', { allow: 'GET, HEAD' });
    const c = this.#protocol.classify(decoded.path, header('accept'));
    if (c.type === 'invalid') return text(400, c.reason);
    // a query is passed on only where nothing is kept; a kept answer is the path's alone
    const rel = c.type === 'pass' ? decoded.path + decoded.query : decoded.path;
    const outcome = c.type === 'immutable' ? await this.#artifact(rel, c, request, answer, header('accept'))
      : c.type === 'mutable' ? await this.#document(rel, c, header('accept'))
        : await this.#first(rel, this.#endpoints.order(true), header('accept'), { kind: 'pass', maxBytes: c.maxBytes ?? MAX_BYTES.pass });
    if (outcome === 'served') return;
    if ('failed' in outcome) throw new ProxyError('unreachable', `${this.name}: no upstream could answer ${decoded.path} (${outcome.failed.join('; ')})`, undefined, 'upstream');
    if ('absent' in outcome) return text(outcome.absent.status, `not found on any upstream or the origin: ${decoded.path}`);
    if (outcome instanceof KeptDocument) {
      // where follow-up downloads are sent: proxyd's endpoint as this client named it, or the origin it asked for
      const base = served ? `http://${header('host') ?? '127.0.0.1'}${this.#def.path}` : request.origin;
      return this.#sendDocument(rel, outcome, base, request, answer);
    }
    const { status, headers, body } = outcome.fetched;
    const type = headers['content-type'] ?? this.#protocol.contentType(rel);
    if (body.buffer) return send(answer, request, status, type, body.buffer);
    await stream(answer, request, status, type, body.size, body.stream());
    body.discard();
  }

  /** A kept document as the client asked for it: 304 when it has it already, gzipped when it takes that. */
  #sendDocument(rel: string, doc: KeptDocument<Endpoint>, base: string, request: HttpRequest, answer: HttpAnswer): void {
    const { rewrite } = this.#protocol;
    const before = doc.size;
    const s = doc.served(base, (body) => (rewrite ? rewrite(rel, body, base, doc.primary.url) : body));
    this.#documents.grew(doc, before);
    const header = (name: string) => headerOf(request.headers, name);
    const type = doc.primary.headers['content-type'] ?? this.#protocol.contentType(rel);
    const validators = { etag: s.etag, vary: 'Accept-Encoding' };
    if (header('if-none-match')?.split(/\s*,\s*/).includes(s.etag)) {
      answer.head(304, Object.entries(validators).flat());
      return answer.end();
    }
    const gzip = /\bgzip\b/.test(header('accept-encoding') ?? '') ? s.gzip() : undefined;
    send(answer, request, doc.primary.status, type, gzip ?? s.body, gzip ? { ...validators, 'content-encoding': 'gzip' } : validators);
  }

  /**
   * A versioned artifact: from memory (small ones) or the disk cache, or fetched once however many
   * ask and verified. A verified one is stored (a small one in the background: the client does not
   * wait for the disk); one that nothing could verify is served to those who asked and forgotten.
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
    const outcome = await this.#fetchArtifact(key, rel, c, accept, cache);
    if (!('fetched' in outcome)) return outcome;
    const { body } = outcome.fetched;
    const type = outcome.fetched.headers['content-type'] ?? this.#protocol.contentType(rel);
    if (body.buffer) send(answer, request, 200, type, body.buffer);
    // in a file: stream it now, before the fetch's owner lets the file go (Body.discard)
    else if (body.file) await stream(answer, request, 200, type, body.size, body.stream());
    else {
      const stored = cache.get(key); // the cache took the file
      if (!stored || !(await this.#serveCached(key, stored, rel, request, answer))) return { failed: [`${rel} left the cache before it was served`] };
    }
    return 'served';
  }

  /** One fetch of an artifact, however many ask; stored when verified. */
  #fetchArtifact(key: string, rel: string, c: Extract<Classified, { type: 'immutable' }>, accept: string | undefined, cache: ArtifactCache): Promise<Outcome> {
    return cache.once(key, async () => {
      const outcome = await this.#first(rel, this.#endpoints.order(true), accept, { kind: 'artifact', maxBytes: c.maxBytes ?? MAX_BYTES.immutable });
      if (!('fetched' in outcome)) return outcome;
      const { body } = outcome.fetched;
      const verdict = outcome.verdict!;
      if (!verdict.verified) {
        this.#deps.log.info({ mirror: this.name, upstream: outcome.from.name, path: rel }, `${this.name}: ${rel} served without storing it: ${'unknown' in verdict ? verdict.unknown : ''}`);
        body.discard();
        return outcome;
      }
      const meta = { type: outcome.fetched.headers['content-type'] ?? this.#protocol.contentType(rel), from: outcome.from.name };
      if (body.buffer) {
        this.#hot.set(key, { body: body.buffer, type: meta.type });
        const storing = cache.put(key, body, meta).then(() => undefined);
        this.#storing.set(key, storing);
        void storing.then(() => this.#storing.delete(key));
      } else {
        // a large one moves into the cache by a rename before anyone is served it
        await cache.put(key, body, meta);
        body.discard();
      }
      return outcome;
    });
  }

  /**
   * A disk-cache hit: a small artifact is read whole and kept in memory, a large one streamed.
   * False when the file is not the one stored (the cache dropped it) before a byte went out:
   * fetch again. A file that fails while it streams cuts the answer.
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
    const file = hit.open();
    file.on('error', () => {}); // a failure is told by `opened`, or cuts the answer in `stream`
    // the file is opened and its stamp checked before the head goes out
    if (!(await file.opened)) return false;
    await stream(answer, request, 200, type, hit.size, file);
    return true;
  }

  /**
   * A document that changes: fresh a minute, then revalidated with its upstream; merged with the
   * origin's when the protocol merges it.
   */
  async #document(rel: string, c: Extract<Classified, { type: 'mutable' }>, accept: string | undefined): Promise<DocumentOutcome> {
    const kept = this.#documents.get(c.key);
    if (kept && kept.expires > Date.now()) return kept;
    const want: Want = { kind: 'document', maxBytes: c.maxBytes ?? MAX_BYTES.mutable };
    const revalidated = kept && (await this.#revalidate(rel, kept, accept, want));
    if (revalidated) return revalidated;
    const outcome = c.merge && this.#endpoints.origins.length ? await this.#fresh(rel, accept, want) : await this.#first(rel, this.#endpoints.order(true), accept, want);
    if (!('parts' in outcome) && !('fetched' in outcome)) return outcome;
    return this.#keep(rel, c.key, 'parts' in outcome ? outcome.parts : [partOf(outcome)]);
  }

  /** A new kept document from its parts: the mirror's, merged with the origin's when there are two. */
  #keep(rel: string, key: string, parts: Part<Endpoint>[]): KeptDocument<Endpoint> {
    let body = parts[0]!.body;
    if (parts.length > 1) {
      // both passed the protocol's check (#first): a merge that throws is a bug, and surfaces as one
      const merged = this.#protocol.merge!(rel, parts[0]!.body, parts[1]!.body);
      if (merged.behind) parts[0]!.from.counters.behind++;
      body = merged.body;
    }
    const doc = new KeptDocument(key, body, parts, Date.now());
    this.#documents.keep(rel, doc);
    return doc;
  }

  /**
   * Asks each part's upstream whether it changed (If-None-Match, If-Modified-Since): all 304, the
   * kept document is fresh again; a changed part is fetched whole in the same request. Undefined
   * when a part cannot be revalidated (no validators, a failure): then it is fetched anew.
   */
  async #revalidate(rel: string, kept: KeptDocument<Endpoint>, accept: string | undefined, want: Want): Promise<KeptDocument<Endpoint> | undefined> {
    const asked = kept.parts.map(async (part, i): Promise<Part<Endpoint> | 'same' | undefined> => {
      const headers = conditional(part);
      if (!headers) return undefined;
      const answer = this.#get(part.from, rel, accept, want, headers).then(async (got) => {
        if (got.fetched.status === 304) return 'same' as const;
        got.fetched.body = await inMemory(got.fetched.body);
        const ok = got.fetched.status === 200 && !this.#protocol.check?.(rel, got.fetched.body.buffer!);
        return ok ? partOf(got) : undefined;
      }, () => undefined);
      // the origin's part of a merged document is waited for as long as a fetch waits for it
      return i === 0 ? answer : Promise.race([answer, new Promise<'same'>((r) => setTimeout(() => r('same'), FRESHNESS_MS).unref())]);
    });
    const answers = await Promise.all(asked);
    if (answers.some((a) => a === undefined)) return undefined;
    for (const part of kept.parts) this.#endpoints.passed(part.from);
    if (answers.every((a) => a === 'same')) {
      kept.expires = Date.now() + FRESH_MS;
      return kept;
    }
    return this.#keep(rel, kept.key, answers.map((a, i) => (a === 'same' ? kept.parts[i]! : a!)));
  }

  /** The mirrors' answer, and the origin's when it comes within 2 s: their union, so a version published a minute ago is found. */
  async #fresh(rel: string, accept: string | undefined, want: Want): Promise<{ parts: Part<Endpoint>[] } | Outcome> {
    const fromOrigin = this.#first(rel, [...this.#endpoints.origins], accept, want);
    const mirrored = await this.#first(rel, this.#endpoints.order(false), accept, want);
    if (!('fetched' in mirrored)) return fromOrigin; // no mirror has it: the origin is the answer, however long it takes
    let timer: ReturnType<typeof setTimeout> | undefined;
    const origin = await Promise.race([fromOrigin, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), FRESHNESS_MS)))]);
    clearTimeout(timer);
    return { parts: origin && 'fetched' in origin ? [partOf(mirrored), partOf(origin)] : [partOf(mirrored)] };
  }

  /**
   * The first endpoint that has `rel`: a connect error, timeout, 5xx, garbled document or an
   * artifact that is not what it should be is a failure of that endpoint, and the next is asked;
   * "not here" (404/410) asks the next too.
   */
  async #first(rel: string, order: Endpoint[], accept: string | undefined, want: Want): Promise<Outcome> {
    const failed: string[] = [];
    let absent: Fetched | undefined;
    for (const ep of order) {
      let got: Got;
      try {
        got = await this.#get(ep, rel, accept, want);
      } catch (err) {
        const e = classify(err, 'upstream');
        failed.push(`${ep.name}: ${e.message}`);
        this.#endpoints.failed(ep, e);
        continue;
      }
      const { status, body } = got.fetched;
      if (this.#protocol.absent(status) || status < 200 || status >= 300) {
        body.discard();
        if (this.#protocol.absent(status)) {
          ep.counters.misses++;
          absent = got.fetched;
        } else {
          failed.push(`${ep.name}: HTTP ${status}`);
          this.#endpoints.failed(ep, new ProxyError(status >= 500 ? 'unreachable' : 'protocol', `HTTP ${status}`, undefined, 'upstream'));
        }
        continue;
      }
      let bad: string | undefined;
      if (want.kind === 'artifact') {
        got.verdict = this.#protocol.verify ? await this.#protocol.verify(rel, body, this.#verifyContext(ep, accept)) : { verified: false, unknown: 'this kind of mirror checks nothing' };
        if ('wrong' in got.verdict) bad = got.verdict.wrong;
      } else if (want.kind === 'document') {
        got.fetched.body = await inMemory(body);
        bad = this.#protocol.check?.(rel, got.fetched.body.buffer!);
      }
      if (bad) {
        got.fetched.body.discard();
        ep.counters.bad++;
        failed.push(`${ep.name}: ${bad}`);
        this.#endpoints.failed(ep, new ProxyError('protocol', bad, undefined, 'upstream'));
        this.#deps.log.warn({ mirror: this.name, upstream: ep.name, path: rel }, `${this.name}: ${ep.name} served a bad ${want.kind === 'artifact' ? 'artifact' : 'answer'} (${bad}); trying the next`);
        continue;
      }
      ep.counters.hits++;
      ep.counters.bytes += body.size;
      this.#endpoints.passed(ep);
      return got;
    }
    // "not here" from any of them outweighs failures of others: the client may look elsewhere
    return absent ? { absent } : { failed };
  }

  /** GET rel from one endpoint, following a few redirects (registries send tarballs to a CDN); `conditional`: its validators. */
  async #get(ep: Endpoint, rel: string, accept: string | undefined, want: Want, conditional: Record<string, string> = {}): Promise<Got> {
    let url = this.#protocol.urlFor?.(ep.base, rel) ?? joinUrl(ep.base, rel);
    const options = {
      timeoutMs: this.#def.check.timeoutMs * PHASE_TIMEOUTS,
      deadlineMs: this.#def.check.timeoutMs * (want.kind === 'artifact' ? ARTIFACT_TIMEOUTS : DOCUMENT_TIMEOUTS),
      maxBytes: want.maxBytes,
      // documents are parsed whole anyway; an artifact past the hot cache's size goes to a file
      memoryBytes: want.kind === 'document' ? want.maxBytes : HOT_MAX_ITEM,
      gzip: want.kind === 'document',
      hash: want.kind === 'artifact',
      headers: { ...this.#protocol.requestHeaders?.(rel, accept), ...conditional },
    };
    for (let hop = 0; ; hop++) {
      const fetched = await this.#fetcher.get(url, ep.route, options, ep.figures);
      const location = fetched.headers.location;
      if (fetched.status < 300 || fetched.status >= 400 || !location || hop === MAX_REDIRECTS) return { fetched, url, from: ep };
      fetched.body.discard();
      const next = new URL(location, url);
      if (next.origin !== url.origin) await this.#checkRedirect(ep, next);
      url = next;
    }
  }

  /** An upstream may send a download to its CDN, but not proxyd to an address of its choosing (this host, its link). */
  async #checkRedirect(ep: Endpoint, next: URL): Promise<void> {
    const refuse = (why: string) => new ProxyError('protocol', `${ep.name} redirected to ${next.origin}: ${why}`, undefined, 'upstream');
    if (next.protocol !== 'https:' || isIP(next.hostname.replace(/^\[|\]$/g, '')) !== 0) throw refuse('only https:// to a host name is followed');
    const addresses = await this.#deps.resolver().resolve(next.hostname).catch(() => [] as string[]);
    if (next.hostname === 'localhost' || next.hostname.endsWith('.localhost') || addresses.some(isHostLocal)) {
      throw refuse('it names this host or its link (loopback, link-local or unspecified address)');
    }
  }

  #verifyContext(ep: Endpoint, accept: string | undefined): VerifyContext {
    return {
      mutable: async (rel) => {
        // the page or packument the client just read, in whatever form it asked for it
        const fresh = this.#documents.freshAt(rel, Date.now());
        if (fresh) return fresh.body;
        const c = this.#protocol.classify(rel, accept);
        if (c.type !== 'mutable') return undefined;
        const outcome = await this.#document(rel, c, accept);
        return outcome instanceof KeptDocument ? outcome.body : undefined;
      },
      artifact: async (rel) => {
        const c = this.#protocol.classify(rel, undefined);
        if (c.type !== 'immutable') return undefined;
        const key = `${this.name} ${c.key}`;
        const hot = this.#hot.get(key);
        if (hot) return hot.body;
        const cache = await this.#deps.artifactCache();
        const hit = cache.get(key);
        const cached = hit && hit.size <= HOT_MAX_ITEM ? await readAll(hit.open()).catch(() => undefined) : undefined;
        if (cached) return cached;
        const outcome = await this.#fetchArtifact(key, rel, c, undefined, cache);
        return 'fetched' in outcome && outcome.verdict?.verified ? outcome.fetched.body.bytes() : undefined;
      },
      sameUpstream: async (rel) => {
        const got = await this.#get(ep, rel, undefined, { kind: 'document', maxBytes: MAX_BYTES.mutable });
        const body = await inMemory(got.fetched.body);
        if (got.fetched.status !== 200) throw new Error(`${rel}: HTTP ${got.fetched.status}`);
        return body.buffer!;
      },
    };
  }

  health(): HealthState {
    return this.#endpoints.health();
  }

  async checkNow(): Promise<void> {
    await this.#endpoints.checkNow(this.#probe);
  }

  async close(): Promise<void> {
    this.#endpoints.close();
    await Promise.all(this.#storing.values()); // what was fetched is on disk before the daemon goes
    await this.#fetcher.close();
  }

  /** a health check: a GET of the check path, its status and how long the head took */
  readonly #probe = async (ep: Endpoint) => {
    const url = joinUrl(ep.base, this.#def.check.path);
    return { ...(await this.#fetcher.status(url, ep.route, this.#def.check.timeoutMs, ep.figures)), url: `${url.origin}${url.pathname}` };
  };
}

/** a document's body in memory (read from its file, which then goes) */
async function inMemory(body: Body): Promise<Body> {
  if (body.buffer) return body;
  const bytes = await body.bytes();
  body.discard();
  return new Body(body.size, undefined, { buffer: bytes });
}

function partOf(got: Got): Part<Endpoint> {
  return { from: got.from, url: got.url, status: got.fetched.status, headers: got.fetched.headers, body: got.fetched.body.buffer! };
}
