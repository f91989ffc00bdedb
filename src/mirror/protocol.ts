// What a mirror kind knows about its package protocol: which paths exist, which answers never
// change (cached on disk, verified) and which do (cached a minute, merged with the origin's),
// how bodies are rewritten so that follow-up downloads come through proxyd too, and how an
// artifact is checked before any byte of it reaches a client.
import type { Fetched } from './fetcher.js';

export type Classified =
  /** not a valid request of this protocol: 400 before any upstream is asked */
  | { type: 'invalid'; reason: string }
  /** a versioned artifact: cached on disk under `key`, verified */
  | { type: 'immutable'; key: string }
  /** an answer that changes (version lists, packuments, index pages): cached a minute */
  | { type: 'mutable'; key: string; merge?: boolean }
  /** passed on, not cached */
  | { type: 'pass' };

/** What verifying an artifact may consult: the (merged) mutable answers of the same mirror, and the checksum database. */
export interface VerifyContext {
  /** a mutable document of this mirror (a packument), from its minute cache or fetched */
  mutable(rel: string): Promise<Buffer | undefined>;
  /** the body of a pass-through path (a checksum-database lookup) from the first upstream that answers it, or undefined */
  lookup(rel: string): Promise<Buffer | undefined>;
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
  /** why a 2xx answer to a document path is garbage (not this protocol's), or undefined: then it is that upstream's failure */
  check?(rel: string, body: Buffer): string | undefined;
  /** the union of a mirror's and the origin's answer for a mergeable mutable path */
  merge?(rel: string, mirror: Buffer, origin: Buffer): MergeResult;
  /** the body as the client gets it: links pointing back at `clientBase` (proxyd's endpoint as the client named it) */
  rewrite?(rel: string, body: Buffer, clientBase: string, fetchedFrom: URL): Buffer;
  /** why the artifact is wrong, or undefined when it checks out */
  verify?(rel: string, fetched: Fetched, ctx: VerifyContext): Promise<string | undefined>;
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
