// The documents a mirror keeps (version lists, packuments, index pages): fresh for a minute, then
// revalidated with the validators their sources gave (ETag, Last-Modified), so an unchanged one
// costs its upstream a 304 instead of the whole document. What a client gets is made once per
// way of naming proxyd (links rewritten to that base), and gzipped once for clients that take it.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

/** a document is fresh this long after it was fetched or revalidated */
export const FRESH_MS = 60_000;
/** bytes of kept documents per mirror, every form counted (npm packuments run to megabytes) */
const MAX_BYTES = 64 * 1024 * 1024;
/** shorter bodies are not worth compressing */
const GZIP_MIN = 1024;

/** one part of a document as its upstream gave it, with what revalidates it */
export interface Part<From> {
  from: From;
  url: URL;
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** the answer a client gets: the rewritten bytes, a validator of our own, and the bytes gzipped (made when a client first takes them; undefined: too short to be worth it) */
export interface Served {
  body: Buffer;
  etag: string;
  gzip(): Buffer | undefined;
}

export class KeptDocument<From> {
  readonly key: string;
  /** the bytes as fetched, merged when the protocol merges (the mirror's part first) */
  readonly body: Buffer;
  readonly parts: readonly Part<From>[];
  expires: number;
  readonly #served = new Map<string, Served>();

  constructor(key: string, body: Buffer, parts: readonly Part<From>[], now: number) {
    this.key = key;
    this.body = body;
    this.parts = parts;
    this.expires = now + FRESH_MS;
  }

  get primary(): Part<From> {
    return this.parts[0]!;
  }

  /** The answer for clients that name proxyd as `base`, made on first use. */
  served(base: string, rewrite: (body: Buffer) => Buffer): Served {
    let s = this.#served.get(base);
    if (!s) {
      const body = rewrite(this.body);
      let gzipped: Buffer | undefined;
      s = {
        body,
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
        gzip: () => (body.length < GZIP_MIN ? undefined : (gzipped ??= gzipSync(body))),
      };
      this.#served.set(base, s);
    }
    return s;
  }

  /** the bytes this document holds in memory, every form counted */
  get size(): number {
    let size = this.body.length;
    for (const p of this.parts) if (p.body !== this.body) size += p.body.length;
    for (const s of this.#served.values()) size += s.body.length;
    return size;
  }
}

/** The validators of a part, as request headers (none: it cannot be revalidated, only fetched again). */
export function conditional(part: Part<unknown>): Record<string, string> | undefined {
  const { etag, 'last-modified': modified } = part.headers;
  if (etag) return { 'if-none-match': etag };
  return modified ? { 'if-modified-since': modified } : undefined;
}

/** A mirror's kept documents: oldest first out beyond the byte budget; found by key, or by path for verification. */
export class DocumentStore<From> {
  readonly #docs = new Map<string, KeptDocument<From>>();
  /** the key last kept for each path (one path has a document per form a client may ask for) */
  readonly #byPath = new Map<string, string>();
  #bytes = 0;

  get(key: string): KeptDocument<From> | undefined {
    return this.#docs.get(key);
  }

  /** the fresh document kept for `rel` in any form (an index page as HTML or JSON, a full or abbreviated packument) */
  freshAt(rel: string, now: number): KeptDocument<From> | undefined {
    const key = this.#byPath.get(rel);
    const doc = key === undefined ? undefined : this.#docs.get(key);
    return doc && doc.expires > now ? doc : undefined;
  }

  keep(rel: string, doc: KeptDocument<From>): void {
    this.#drop(doc.key);
    this.#docs.set(doc.key, doc);
    this.#byPath.set(rel, doc.key);
    this.#bytes += doc.size;
    for (const k of this.#docs.keys()) {
      if (this.#bytes <= MAX_BYTES) break;
      this.#drop(k); // insertion order is the order they were fetched in: the oldest go first
    }
  }

  /** Counts what a document grew by since it was kept (an answer made for another base). */
  grew(doc: KeptDocument<From>, before: number): void {
    if (this.#docs.get(doc.key) === doc) this.#bytes += doc.size - before;
  }

  #drop(key: string): void {
    const old = this.#docs.get(key);
    if (!old) return;
    this.#bytes -= old.size;
    this.#docs.delete(key);
  }
}
