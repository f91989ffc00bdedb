// PyPI's simple repository API: project pages (PEP 503 HTML, or PEP 691 JSON when the client asks)
// with their file links pointed back at proxyd, and the files themselves as artifacts, verified
// against the `#sha256=` the page gave for them. Upstreams are given by their root
// (https://pypi.tuna.tsinghua.edu.cn); PyPI's own files live on files.pythonhosted.org.
import { createHash } from 'node:crypto';
import type { Classified, Protocol } from './protocol.js';
import { joinUrl } from './protocol.js';

const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';
/** file name → sha256 hex, learned from the pages served (a bounded memory) */
const MAX_KNOWN = 100_000;

/** PEP 503 normalized name */
const NORMALIZED = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

function wantsJson(accept: string | undefined): boolean {
  return !!accept && accept.includes(JSON_TYPE) && !/text\/html/.test(accept.split(',')[0] ?? '');
}

export class PypiProtocol implements Protocol {
  readonly #sha256 = new Map<string, string>();

  classify(rel: string, accept: string | undefined): Classified {
    const path = rel.split('?')[0]!;
    if (path === '/simple/' || path === '/simple') return { type: 'pass' };
    const page = path.match(/^\/simple\/([^/]+)\/?$/);
    if (page) {
      const name = page[1]!.toLowerCase().replace(/[-_.]+/g, '-');
      if (!NORMALIZED.test(name) || name.length > 200) return { type: 'invalid', reason: `"${page[1]}" is not a project name` };
      return { type: 'mutable', key: `pypi ${wantsJson(accept) ? 'json' : 'html'} ${name}` };
    }
    const file = path.match(/^\/packages\/([A-Za-z0-9._/+-]+)$/);
    if (file && !file[1]!.split('/').some((p) => p === '' || p === '.' || p === '..')) return { type: 'immutable', key: `pypi ${file[1]}` };
    return { type: 'invalid', reason: `not a simple-index path: ${path}` };
  }

  urlFor(base: URL, rel: string): URL {
    if (rel.startsWith('/packages/') && base.hostname === 'pypi.org') return joinUrl(new URL('https://files.pythonhosted.org'), rel);
    return joinUrl(base, rel);
  }

  requestHeaders(_rel: string, accept: string | undefined): Record<string, string> {
    return { accept: wantsJson(accept) ? JSON_TYPE : 'text/html' };
  }

  absent(status: number): boolean {
    return status === 404 || status === 410;
  }

  rewrite(rel: string, body: Buffer, clientBase: string, fetchedFrom: URL): Buffer {
    if (!rel.startsWith('/simple/')) return body;
    const local = (href: string): string => {
      const url = new URL(href, fetchedFrom);
      const at = url.pathname.indexOf('/packages/');
      const hash = url.hash.match(/sha256=([0-9a-f]{64})/i);
      if (hash) this.#learn(url.pathname.slice(url.pathname.lastIndexOf('/') + 1), hash[1]!.toLowerCase());
      return at < 0 ? url.href : `${clientBase}${url.pathname.slice(at)}${url.hash}`;
    };
    const text = body.toString();
    if (text.trimStart().startsWith('{')) {
      const doc = JSON.parse(text) as { files?: Array<{ url: string; hashes?: Record<string, string> }> };
      for (const f of doc.files ?? []) {
        if (f.hashes?.sha256) f.url = `${f.url.split('#')[0]}#sha256=${f.hashes.sha256}`;
        f.url = local(f.url).split('#')[0]!;
      }
      return Buffer.from(JSON.stringify(doc));
    }
    return Buffer.from(text.replace(/href="([^"]+)"/g, (_, href: string) => `href="${local(href.replace(/&amp;/g, '&'))}"`));
  }

  async verify(rel: string, fetched: { body: Buffer }): Promise<string | undefined> {
    const want = this.#sha256.get(rel.slice(rel.lastIndexOf('/') + 1));
    if (!want) return undefined;
    return createHash('sha256').update(fetched.body).digest('hex') === want ? undefined : 'its sha256 is not the one the index page gave';
  }

  contentType(rel: string): string {
    return rel.startsWith('/packages/') ? 'application/octet-stream' : 'text/html; charset=utf-8';
  }

  #learn(file: string, sha256: string): void {
    if (this.#sha256.size >= MAX_KNOWN) this.#sha256.delete(this.#sha256.keys().next().value!);
    this.#sha256.set(file, sha256);
  }
}
