// PyPI's simple repository API: project pages (PEP 503 HTML, or PEP 691 JSON when the client asks)
// with their file links pointed back at proxyd, and the files themselves as artifacts, verified
// against the `#sha256=` the page gave for them. Upstreams are given by their root
// (https://pypi.tuna.tsinghua.edu.cn); PyPI's own files live on files.pythonhosted.org.
import { createHash } from 'node:crypto';
import type { Classified, Protocol } from './protocol.js';
import { joinUrl } from './protocol.js';

const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';
const FILES_HOST = 'https://files.pythonhosted.org';
/** wheels, sdists and eggs, and their PEP 658 metadata */
const DIST_FILE = /\.(whl|tar\.gz|tgz|zip|tar\.bz2|tar\.xz|egg)(\.metadata)?$/;
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
    // a file the pages link to: /packages/… on PyPI and most mirrors, wherever else a mirror keeps them
    const segments = path.split('/');
    if (DIST_FILE.test(segments[segments.length - 1]!) && !segments.slice(1).some((p) => p === '' || p === '.' || p === '..')) {
      return { type: 'immutable', key: `pypi ${path}` };
    }
    return { type: 'invalid', reason: `not a simple-index page or a distribution file: ${path}` };
  }

  /** upstreams are given by their root (a trailing /simple is dropped); PyPI's own files are on files.pythonhosted.org */
  urlFor(base: URL, rel: string): URL {
    if (rel.startsWith('/packages/') && base.hostname === 'pypi.org') return joinUrl(new URL(FILES_HOST), rel);
    const root = new URL(base.href);
    root.pathname = root.pathname.replace(/\/simple\/?$/, '');
    return joinUrl(root, rel);
  }

  requestHeaders(_rel: string, accept: string | undefined): Record<string, string> {
    return { accept: wantsJson(accept) ? JSON_TYPE : 'text/html' };
  }

  absent(status: number): boolean {
    return status === 404 || status === 410;
  }

  rewrite(rel: string, body: Buffer, clientBase: string, fetchedFrom: URL): Buffer {
    if (!rel.startsWith('/simple/')) return body;
    // links to the upstream's own files (or PyPI's file host) come back through proxyd; others stay as they are
    const local = (href: string): string => {
      let url: URL;
      try {
        url = new URL(href, fetchedFrom);
      } catch {
        return href; // not a URL: left as it is
      }
      const hash = url.hash.match(/sha256=([0-9a-f]{64})/i);
      if (hash) this.#learn(url.pathname.slice(url.pathname.lastIndexOf('/') + 1), hash[1]!.toLowerCase());
      if (url.origin === FILES_HOST) return `${clientBase}${url.pathname}${url.hash}`;
      // the upstream's own files: their path below its root (https://mirrors.aliyun.com/pypi/packages/… → /packages/…)
      const root = fetchedFrom.pathname.slice(0, fetchedFrom.pathname.indexOf('/simple/'));
      if (url.origin !== fetchedFrom.origin || !url.pathname.startsWith(`${root}/`)) return url.href;
      return `${clientBase}${url.pathname.slice(root.length)}${url.hash}`;
    };
    const text = body.toString();
    if (text.trimStart().startsWith('{')) {
      const doc = JSON.parse(text) as { files?: Array<{ url: string; hashes?: Record<string, string> }> };
      for (const f of doc.files ?? []) {
        if (typeof f.url !== 'string') continue;
        if (typeof f.hashes?.sha256 === 'string') f.url = `${f.url.split('#')[0]}#sha256=${f.hashes.sha256}`;
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
    return rel.startsWith('/simple') ? 'text/html; charset=utf-8' : 'application/octet-stream';
  }

  #learn(file: string, sha256: string): void {
    if (this.#sha256.size >= MAX_KNOWN) this.#sha256.delete(this.#sha256.keys().next().value!);
    this.#sha256.set(file, sha256);
  }
}
