// The npm registry protocol: packuments (`/name`, `/@scope%2fname`) are merged with the origin's
// and have their tarball URLs pointed back at proxyd; tarballs (`/name/-/name-1.0.0.tgz`) are
// artifacts, verified against the packument's `dist.integrity` (or `shasum`).
import { unknown, VERIFIED, wrong, type Classified, type MergeResult, type Protocol, type Verdict } from './protocol.js';
import { compareSemver } from './semver.js';

/** a package name: optional @scope/, then url-safe lower-case characters */
const NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;
const MAX_NAME = 214;
/** a full packument of a package with thousands of versions runs to tens of megabytes */
const MAX_PACKUMENT = 64 * 1024 * 1024;
/** the abbreviated packument npm install asks for: versions with their dist and dependencies, much smaller */
const ABBREVIATED = 'application/vnd.npm.install-v1+json';
const wantsAbbreviated = (accept: string | undefined) => !!accept?.includes(ABBREVIATED);

interface Packument {
  name?: string;
  versions?: Record<string, { dist?: { tarball?: string; integrity?: string; shasum?: string } }>;
  'dist-tags'?: Record<string, string>;
  time?: Record<string, string>;
}

/** `/@scope%2fname` and `/@scope/name` both name @scope/name */
function packageName(segment: string): string {
  return decodeURIComponent(segment.replace(/%2f/i, '/'));
}

function parse(rel: string): { name: string; tarball?: string } | { error: string } | undefined {
  const path = rel.split('?')[0]!;
  if (path === '/' || path.startsWith('/-/')) return undefined;
  const m = path.match(/^\/((?:@[^/]+(?:\/|%2[fF]))?[^/@][^/]*)(?:\/-\/([^/]+\.tgz))?\/?$/);
  if (!m) return { error: `not an npm registry path: ${path}` };
  let name: string;
  try {
    name = packageName(m[1]!);
  } catch {
    return { error: `not an npm package name: ${m[1]}` };
  }
  if (name.length > MAX_NAME || !NAME.test(name) || name.split('/').some((p) => p === '.' || p === '..')) return { error: `"${name}" is not an npm package name` };
  return m[2] ? { name, tarball: m[2] } : { name };
}

export const NPM: Protocol = {
  classify(rel, accept): Classified {
    const p = parse(rel);
    if (!p) return { type: 'pass' };
    if ('error' in p) return { type: 'invalid', reason: p.error };
    if (p.tarball) return { type: 'immutable', key: `npm ${p.name}/-/${p.tarball}` };
    return { type: 'mutable', key: `packument ${wantsAbbreviated(accept) ? 'abbreviated' : 'full'} ${p.name}`, merge: true, maxBytes: MAX_PACKUMENT };
  },

  // what the client asked for: the abbreviated form when it takes it (both verify a tarball)
  requestHeaders: (_rel, accept) => ({ accept: wantsAbbreviated(accept) ? `${ABBREVIATED}; q=1.0, application/json; q=0.8, */*` : 'application/json' }),

  absent: (status) => status === 404 || status === 410,

  check(rel, body) {
    const p = parse(rel);
    if (!p || 'error' in p || p.tarball) return undefined;
    try {
      const doc = JSON.parse(body.toString()) as Packument;
      return doc && typeof doc === 'object' && typeof doc.versions === 'object' ? undefined : 'a packument without versions';
    } catch {
      return 'a packument that is not JSON';
    }
  },

  merge(_rel, mirror, origin): MergeResult {
    const a = JSON.parse(mirror.toString()) as Packument;
    const b = JSON.parse(origin.toString()) as Packument;
    const missing = Object.keys(b.versions ?? {}).filter((v) => !a.versions?.[v]);
    if (!missing.length) return { body: mirror, behind: false };
    const merged: Packument = { ...a, versions: { ...b.versions, ...a.versions }, time: { ...b.time, ...a.time } };
    const latest = [a['dist-tags']?.latest, b['dist-tags']?.latest].filter((v): v is string => !!v).sort(compareSemver).pop();
    merged['dist-tags'] = { ...b['dist-tags'], ...a['dist-tags'], ...(latest ? { latest } : {}) };
    return { body: Buffer.from(JSON.stringify(merged)), behind: true };
  },

  rewrite(_rel, body, clientBase): Buffer {
    const doc = JSON.parse(body.toString()) as Packument;
    for (const v of Object.values(doc.versions ?? {})) {
      const tarball = v?.dist?.tarball;
      if (typeof tarball !== 'string') continue;
      let path: string;
      try {
        path = new URL(tarball).pathname;
      } catch {
        continue; // not a URL: left as it is
      }
      // the registry's own layout: …/<name>/-/<file>.tgz, whichever host served it
      const m = path.match(/\/((?:@[^/]+\/)?[^/]+\/-\/[^/]+\.tgz)$/);
      if (m) v.dist!.tarball = `${clientBase}/${m[1]}`;
    }
    return Buffer.from(JSON.stringify(doc));
  },

  async verify(rel, body, ctx): Promise<Verdict> {
    const p = parse(rel) as { name: string; tarball: string };
    const packument = await ctx.mutable(`/${p.name.replace('/', '%2f')}`);
    if (!packument) return unknown(`no packument of ${p.name} could be read`);
    const doc = JSON.parse(packument.toString()) as Packument;
    const dist = Object.values(doc.versions ?? {}).map((v) => v?.dist).find((d) => typeof d?.tarball === 'string' && d.tarball.endsWith(`/-/${p.tarball}`));
    if (!dist) return unknown(`the packument of ${p.name} does not list ${p.tarball}`);
    for (const sri of (dist.integrity ?? '').split(/\s+/)) {
      const [alg, want] = [sri.slice(0, sri.indexOf('-')), sri.slice(sri.indexOf('-') + 1)];
      if (!['sha512', 'sha384', 'sha256', 'sha1'].includes(alg)) continue;
      return (await body.digest(alg)).toString('base64') === want ? VERIFIED : wrong(`its ${alg} is not the packument's dist.integrity`);
    }
    if (dist.shasum) {
      return (await body.digest('sha1')).toString('hex') === dist.shasum ? VERIFIED : wrong("its sha1 is not the packument's dist.shasum");
    }
    return unknown(`the packument of ${p.name} gives no hash for ${p.tarball}`);
  },

  contentType: (rel) => (rel.endsWith('.tgz') ? 'application/octet-stream' : 'application/json'),
};
