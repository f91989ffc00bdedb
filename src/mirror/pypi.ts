// PyPI's simple repository API: project pages (PEP 503 HTML, or PEP 691 JSON when the client asks)
// with their file links pointed back at proxyd, and the files themselves as artifacts, verified
// against the sha256 that their project's page gives for them (the page is read first when it is
// not in the minute cache). Upstreams are given by their root (https://pypi.tuna.tsinghua.edu.cn);
// PyPI's own files live on files.pythonhosted.org.
import type { Body } from './body.js';
import { joinUrl, unknown, VERIFIED, wrong, type Classified, type Protocol, type Verdict, type VerifyContext } from './protocol.js';

const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';
const FILES_HOST = 'https://files.pythonhosted.org';
/** wheels, sdists and eggs, and their PEP 658 metadata */
const DIST_FILE = /\.(whl|tar\.gz|tgz|zip|tar\.bz2|tar\.xz|egg)(\.metadata)?$/;
/** a project page lists every file of every release: large for some projects, but not without end */
const MAX_PAGE = 32 * 1024 * 1024;

/** PEP 503 normalized name */
const NORMALIZED = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const normalize = (name: string) => name.toLowerCase().replace(/[-_.]+/g, '-');

function wantsJson(accept: string | undefined): boolean {
  return !!accept && accept.includes(JSON_TYPE) && !/text\/html/.test(accept.split(',')[0] ?? '');
}

interface PageFile {
  name: string;
  sha256?: string;
  /** of its PEP 658 metadata */
  metadataSha256?: string;
}

export const PYPI: Protocol = {
  classify(rel: string, accept: string | undefined): Classified {
    if (/[?#]/.test(rel)) return { type: 'invalid', reason: 'a ? or # in a simple-index path' };
    if (rel === '/simple/' || rel === '/simple') return { type: 'pass' };
    const page = rel.match(/^\/simple\/([^/]+)\/?$/);
    if (page) {
      const name = normalize(page[1]!);
      if (!NORMALIZED.test(name) || name.length > 200) return { type: 'invalid', reason: `"${page[1]}" is not a project name` };
      return { type: 'mutable', key: `pypi ${wantsJson(accept) ? 'json' : 'html'} ${name}`, maxBytes: MAX_PAGE };
    }
    // a file the pages link to: /packages/… on PyPI and most mirrors, wherever else a mirror keeps them
    const segments = rel.split('/');
    if (DIST_FILE.test(segments[segments.length - 1]!) && !segments.slice(1).some((p) => p === '' || p === '.' || p === '..')) {
      return { type: 'immutable', key: `pypi ${rel}` };
    }
    return { type: 'invalid', reason: `not a simple-index page or a distribution file: ${rel}` };
  },

  /** upstreams are given by their root (a trailing /simple is dropped); PyPI's own files are on files.pythonhosted.org */
  urlFor(base: URL, rel: string): URL {
    if (rel.startsWith('/packages/') && base.hostname === 'pypi.org') return joinUrl(new URL(FILES_HOST), rel);
    const root = new URL(base.href);
    root.pathname = root.pathname.replace(/\/simple\/?$/, '');
    return joinUrl(root, rel);
  },

  requestHeaders(_rel: string, accept: string | undefined): Record<string, string> {
    return { accept: wantsJson(accept) ? JSON_TYPE : 'text/html' };
  },

  absent(status: number): boolean {
    return status === 404 || status === 410;
  },

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
      if (url.origin === FILES_HOST) return `${clientBase}${url.pathname}${url.hash}`;
      // the upstream's own files: their path below its root (https://mirrors.aliyun.com/pypi/packages/… → /packages/…)
      const root = fetchedFrom.pathname.slice(0, fetchedFrom.pathname.indexOf('/simple/'));
      if (url.origin !== fetchedFrom.origin || !url.pathname.startsWith(`${root}/`)) return url.href;
      return `${clientBase}${url.pathname.slice(root.length)}${url.hash}`;
    };
    const text = body.toString();
    if (text.trimStart().startsWith('{')) {
      const doc = JSON.parse(text) as { files?: Array<{ url: string }> };
      for (const f of doc.files ?? []) if (typeof f.url === 'string') f.url = local(f.url);
      return Buffer.from(JSON.stringify(doc));
    }
    return Buffer.from(text.replace(/href="([^"]+)"/g, (_, href: string) => `href="${local(href.replace(/&amp;/g, '&'))}"`));
  },

  async verify(rel: string, body: Body, ctx: VerifyContext): Promise<Verdict> {
    const file = rel.slice(rel.lastIndexOf('/') + 1);
    const metadata = file.endsWith('.metadata');
    const dist = metadata ? file.slice(0, -'.metadata'.length) : file;
    const project = projectOf(dist);
    const page = project ? await ctx.mutable(`/simple/${project}/`) : undefined;
    if (!page) return unknown(`no index page lists ${dist}`);
    const listed = filesOf(page).find((f) => f.name === dist);
    const want = metadata ? listed?.metadataSha256 : listed?.sha256;
    if (!want) return unknown(`the index page of ${project} gives no sha256 for ${file}`);
    return body.sha256 === want ? VERIFIED : wrong(`its sha256 is not the one the index page of ${project} gives`);
  },

  contentType(rel: string): string {
    return rel.startsWith('/simple') ? 'text/html; charset=utf-8' : 'application/octet-stream';
  },
};

/** The project a distribution file belongs to: a wheel's name is up to its first `-`, an sdist's up to its last. */
function projectOf(file: string): string | undefined {
  const stem = file.replace(DIST_FILE, '');
  const name = file.endsWith('.whl') ? stem.split('-')[0]! : stem.slice(0, Math.max(0, stem.lastIndexOf('-')));
  const normalized = normalize(name);
  return NORMALIZED.test(normalized) ? normalized : undefined;
}

/** The files a project page lists, with their hashes (HTML `#sha256=` and data-core-metadata, or PEP 691 JSON). */
function filesOf(page: Buffer): PageFile[] {
  const text = page.toString();
  const nameOf = (url: string) => {
    const path = url.split(/[?#]/)[0]!;
    try {
      return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1));
    } catch {
      return path.slice(path.lastIndexOf('/') + 1);
    }
  };
  const hex = (v: unknown) => (typeof v === 'string' && /^[0-9a-f]{64}$/i.test(v) ? v.toLowerCase() : undefined);
  if (text.trimStart().startsWith('{')) {
    try {
      const doc = JSON.parse(text) as { files?: Array<Record<string, unknown>> };
      return (doc.files ?? []).filter((f) => typeof f.url === 'string').map((f) => {
        const meta = (f['core-metadata'] ?? f['dist-info-metadata']) as { sha256?: unknown } | undefined;
        return {
          name: typeof f.filename === 'string' ? f.filename : nameOf(f.url as string),
          sha256: hex((f.hashes as { sha256?: unknown } | undefined)?.sha256),
          metadataSha256: hex(meta?.sha256),
        };
      });
    } catch {
      return [];
    }
  }
  return [...text.matchAll(/<a\s([^>]*)>/gi)].flatMap(([, attrs]) => {
    const attr = (name: string) => attrs!.match(new RegExp(`(?:^|\\s)${name}="([^"]*)"`, 'i'))?.[1]?.replace(/&amp;/g, '&');
    const href = attr('href');
    if (!href) return [];
    const meta = attr('data-core-metadata') ?? attr('data-dist-info-metadata');
    return [{ name: nameOf(href), sha256: hex(href.match(/#sha256=([0-9a-f]{64})/i)?.[1]), metadataSha256: hex(meta?.match(/^sha256=([0-9a-f]{64})$/i)?.[1]) }];
  });
}
