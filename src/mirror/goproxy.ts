// The GOPROXY protocol (https://go.dev/ref/mod#goproxy-protocol) and the checksum database
// passed through under /sumdb/<name>/. Module paths and versions arrive case-encoded (`!a` for
// `A`); anything else is refused before an upstream is asked.
import { checkModuleZip, goModHash, ZipError } from './gozip.js';
import type { Classified, MergeResult, Protocol, VerifyContext } from './protocol.js';
import { compareSemver, isSemver } from './semver.js';

/** checksum database whose go.sum lines verify zips and go.mod files */
const SUMDB = 'sum.golang.org';
const MAX_PATH = 1024;

/** an escaped module path: lower-case letters, `!x` for upper case, digits, `-._~/`; no empty or dot-only element */
const ESCAPED = /^(?:[a-z0-9._~-]|![a-z])+(?:\/(?:[a-z0-9._~-]|![a-z])+)*$/;
const ESCAPED_VERSION = /^(?:[a-z0-9._+-]|![a-z])+$/;

export function unescapePath(escaped: string): string {
  return escaped.replace(/!([a-z])/g, (_, c: string) => c.toUpperCase());
}

interface Parsed {
  module: string;
  /** escaped */
  rest: string;
}

function parse(rel: string): Parsed | { error: string } | undefined {
  const path = rel.split('?')[0]!;
  if (path.length > MAX_PATH) return { error: `a path of more than ${MAX_PATH} characters` };
  const at = path.indexOf('/@');
  if (at < 1) return undefined;
  const module = path.slice(1, at);
  if (!ESCAPED.test(module) || module.split('/').some((e) => /^\.+$/.test(e))) {
    return { error: `"${module}" is not a case-encoded module path (upper case is written !x)` };
  }
  return { module, rest: path.slice(at + 1) };
}

export const GOPROXY: Protocol = {
  classify(rel): Classified {
    if (rel.startsWith('/sumdb/')) return sumdbPath(rel.slice('/sumdb'.length));
    const p = parse(rel);
    if (!p) return rel === '/' || rel === '' ? { type: 'pass' } : { type: 'invalid', reason: `not a GOPROXY path: ${rel.split('?')[0]}` };
    if ('error' in p) return { type: 'invalid', reason: p.error };
    if (p.rest === '@latest') return { type: 'mutable', key: `latest ${p.module}`, merge: true };
    if (p.rest === '@v/list') return { type: 'mutable', key: `list ${p.module}`, merge: true };
    const m = p.rest.match(/^@v\/(.+)\.(info|mod|zip)$/);
    if (!m || !ESCAPED_VERSION.test(m[1]!)) return { type: 'invalid', reason: `not a GOPROXY path: ${rel.split('?')[0]}` };
    const version = unescapePath(m[1]!);
    // a canonical version never changes; a query (`master.info`) does
    if (isSemver(version) && version.startsWith('v')) return { type: 'immutable', key: `go ${p.module}@${m[1]}.${m[2]}` };
    return m[2] === 'info' ? { type: 'mutable', key: `query ${p.module}@${m[1]}` } : { type: 'invalid', reason: `"${version}" is not a canonical version` };
  },

  absent: (status) => status === 404 || status === 410,

  check(rel, body) {
    const path = rel.split('?')[0]!;
    if (path.endsWith('/@v/list')) {
      const bad = body.toString().split('\n').map((l) => l.trim()).find((l) => l && !/^v\S+$/.test(l));
      return bad === undefined ? undefined : `a version list with "${bad.slice(0, 40)}" in it`;
    }
    if (path.endsWith('/@latest') || path.endsWith('.info')) {
      try {
        return typeof (JSON.parse(body.toString()) as { Version?: unknown }).Version === 'string' ? undefined : 'version info without a Version';
      } catch {
        return 'version info that is not JSON';
      }
    }
    return undefined;
  },

  merge(rel, mirror, origin): MergeResult {
    if (rel.endsWith('/@latest')) {
      const [a, b] = [JSON.parse(mirror.toString()) as { Version: string }, JSON.parse(origin.toString()) as { Version: string }];
      const behind = compareSemver(b.Version, a.Version) > 0;
      return { body: behind ? origin : mirror, behind };
    }
    const lines = (b: Buffer) => b.toString().split('\n').map((l) => l.trim()).filter(Boolean);
    const mine = new Set(lines(mirror));
    const theirs = lines(origin);
    const union = [...new Set([...mine, ...theirs])].sort(compareSemver);
    return { body: Buffer.from(union.map((v) => `${v}\n`).join('')), behind: theirs.some((v) => !mine.has(v)) };
  },

  async verify(rel, fetched, ctx): Promise<string | undefined> {
    // checksum-database lookups and tiles are signed notes the go command checks itself
    if (rel.startsWith('/sumdb/')) return undefined;
    const p = parse(rel) as Parsed;
    const [, escapedVersion, ext] = p.rest.match(/^@v\/(.+)\.(info|mod|zip)$/)!;
    const module = unescapePath(p.module);
    const version = unescapePath(escapedVersion!);
    if (ext === 'info') {
      try {
        const info = JSON.parse(fetched.body.toString()) as { Version?: unknown };
        return info.Version === version ? undefined : `its .info names version ${JSON.stringify(info.Version)}, not ${version}`;
      } catch {
        return 'its .info is not JSON';
      }
    }
    let hash: string;
    try {
      hash = ext === 'zip' ? checkModuleZip(fetched.body, module, version) : goModHash(fetched.body);
    } catch (err) {
      if (err instanceof ZipError) return `not a valid module zip: ${err.message}`;
      throw err;
    }
    const want = await goSum(ctx, p.module, escapedVersion!, module, version, ext === 'mod');
    return want === undefined || want === hash ? undefined : `its hash ${hash} is not the checksum database's ${want}`;
  },

  contentType: (rel) => (rel.endsWith('.zip') ? 'application/zip' : rel.endsWith('.info') || rel.endsWith('@latest') ? 'application/json' : 'text/plain; charset=utf-8'),
};

/** the checksum database's go.sum hash for module@version (or its go.mod), when the database answers */
async function goSum(ctx: VerifyContext, escapedModule: string, escapedVersion: string, module: string, version: string, mod: boolean): Promise<string | undefined> {
  const body = await ctx.lookup(`/sumdb/${SUMDB}/lookup/${escapedModule}@${escapedVersion}`);
  if (!body) return undefined;
  const want = `${module} ${version}${mod ? '/go.mod' : ''} `;
  const line = body.toString().split('\n').find((l) => l.startsWith(want));
  return line?.slice(want.length).trim();
}

/** the checksum database's paths: lookups and tiles never change; `latest` and `supported` are passed on */
function sumdbPath(rel: string): Classified {
  const m = rel.match(/^\/([a-z0-9.-]+)\/(supported|latest|lookup\/.+|tile\/.+)$/);
  if (!m) return { type: 'invalid', reason: `not a checksum database path: ${rel}` };
  if (m[2] === 'supported' || m[2] === 'latest') return { type: 'pass' };
  if (m[2]!.includes('..') || m[2]!.length > MAX_PATH) return { type: 'invalid', reason: `not a checksum database path: ${rel}` };
  return { type: 'immutable', key: `sumdb ${m[1]}/${m[2]}` };
}

/** The `sumdb` kind: a checksum database mirrored at its own path (paths below it as under /sumdb/<name>). */
export const SUMDB_PROTOCOL: Protocol = {
  classify: (rel) => {
    const c = sumdbPath(`/${SUMDB}${rel}`);
    return c.type === 'invalid' ? { type: 'invalid', reason: `not a checksum database path: ${rel}` } : c;
  },
  absent: (status) => status === 404 || status === 410,
  contentType: () => 'text/plain; charset=utf-8',
};

