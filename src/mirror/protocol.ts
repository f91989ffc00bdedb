// What a mirror kind knows about its package protocol: which paths exist, which answers never
// change (cached on disk, verified) and which do (cached a minute, merged with the origin's),
// how bodies are rewritten so that follow-up downloads come through proxyd too, and how an
// artifact is checked before any byte of it reaches a client.
import type { Body } from './body.js';

/** the largest answer read, by kind of path, unless the protocol says otherwise */
export const MAX_BYTES = { immutable: 512 * 1024 * 1024, mutable: 16 * 1024 * 1024, pass: 64 * 1024 * 1024 };

/** `maxBytes`: a longer answer is that upstream's failure (a version list is not a gigabyte) */
export type Classified =
  /** not a valid request of this protocol: 400 before any upstream is asked */
  | { type: 'invalid'; reason: string }
  /** a versioned artifact: cached on disk under `key`, verified */
  | { type: 'immutable'; key: string; maxBytes?: number }
  /** an answer that changes (version lists, packuments, index pages): cached a minute */
  | { type: 'mutable'; key: string; merge?: boolean; maxBytes?: number }
  /** passed on, not cached */
  | { type: 'pass'; maxBytes?: number };

/** What checking an artifact found. */
export type Verdict =
  /** it is what the index page, packument or checksum database says it is: served and stored */
  | { verified: true }
  /** nothing says what it should be (no page or packument lists it, no checksum record): served to this client, never stored */
  | { verified: false; unknown: string }
  /** it is not what it should be: that upstream's failure, the next one is asked */
  | { verified: false; wrong: string };

export const VERIFIED: Verdict = { verified: true };
export const unknown = (why: string): Verdict => ({ verified: false, unknown: why });
export const wrong = (why: string): Verdict => ({ verified: false, wrong: why });

/** What verifying an artifact may consult. */
export interface VerifyContext {
  /** a mutable document of this mirror (a packument, an index page), from its minute cache or fetched */
  mutable(rel: string): Promise<Buffer | undefined>;
  /** a verified artifact of this mirror (a checksum-database lookup), from the cache or fetched, or undefined when none could be had */
  artifact(rel: string): Promise<Buffer | undefined>;
  /** `rel` from the upstream that served what is being verified (the tiles that prove its lookup); throws when it does not answer */
  sameUpstream(rel: string): Promise<Buffer>;
}

export interface MergeResult {
  body: Buffer;
  /** the origin knows a version the mirror does not */
  behind: boolean;
}

export interface Protocol {
  /** `rel`: the path below the mirror's endpoint (`/golang.org/x/mod/@v/list`); `accept`: the client's Accept */
  classify(rel: string, accept: string | undefined): Classified;
  /** the URL of `rel` on an upstream whose base URL is `base` (default: base + rel) */
  urlFor?(base: URL, rel: string): URL;
  /** request headers for the upstream (an Accept that picks the full document) */
  requestHeaders?(rel: string, accept: string | undefined): Record<string, string>;
  /** is this answer "not here, ask the next" (GOPROXY: 404 and 410) */
  absent(status: number): boolean;
  /** why a 2xx answer to a document path is garbage (not this protocol's), or undefined; garbage is that upstream's failure */
  check?(rel: string, body: Buffer): string | undefined;
  /** the union of a mirror's and the origin's answer for a mergeable mutable path */
  merge?(rel: string, mirror: Buffer, origin: Buffer): MergeResult;
  /** the body as the client gets it: links pointing back at `clientBase` (proxyd's endpoint as the client named it) */
  rewrite?(rel: string, body: Buffer, clientBase: string, fetchedFrom: URL): Buffer;
  /** whether the artifact is what it should be (without verify, no artifact is ever stored) */
  verify?(rel: string, body: Body, ctx: VerifyContext): Promise<Verdict>;
  /** the Content-Type to answer with when the upstream gave none */
  contentType(rel: string): string;
}

/** `base` + `rel`, keeping base's own path (`https://mirrors.aliyun.com/goproxy/` + `/x/@v/list`) */
export function joinUrl(base: URL, rel: string): URL {
  const url = new URL(base.href);
  url.pathname = url.pathname.replace(/\/$/, '') + rel.split('?')[0];
  url.search = rel.includes('?') ? rel.slice(rel.indexOf('?')) : '';
  return url;
}
