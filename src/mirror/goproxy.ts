// The GOPROXY protocol (https://go.dev/ref/mod#goproxy-protocol) and the checksum database
// passed through under /sumdb/<name>/. Module paths and versions arrive case-encoded (`!a` for
// `A`); anything else is refused before an upstream is asked. A zip or go.mod is stored only when
// its hash is the one a verified checksum-database lookup gives (sumdb/).
import type { Body } from './body.js';
import { checkModuleZip, goModHash, MAX_GO_MOD_BYTES, MAX_ZIP_BYTES, ZipError } from './gozip.js';
import { VERIFIED, unknown, wrong, type Classified, type MergeResult, type Protocol, type Verdict, type VerifyContext } from './protocol.js';
import { compareSemver, isSemver } from './semver.js';
import { MAX_LOOKUP, type SumdbVerifier } from './sumdb/lookup.js';
import { TILE_HEIGHT } from './sumdb/tlog.js';

/** the checksum database the go command uses by default */
const GO_SUMDB_NAME = 'sum.golang.org';
const MAX_PATH = 1024;
/** version info, @latest, the database's latest and supported */
const SMALL = 64 * 1024;
/** a version list: a line per version */
const MAX_LIST = 4 * 1024 * 1024;
const MAX_TILE = (1 << TILE_HEIGHT) * 32;

/** an escaped module path: lower-case letters, `!x` for upper case, digits, `-._~/`; no empty or dot-only element */
const ESCAPED = /^(?:[a-z0-9._~-]|![a-z])+(?:\/(?:[a-z0-9._~-]|![a-z])+)*$/;
const ESCAPED_VERSION = /^(?:[a-z0-9._+-]|![a-z])+$/;

function unescapePath(escaped: string): string {
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

/**
 * The goproxy kind. `sumdb`: the checksum database that zips and go.mod files are checked against
 * (its lookups verified by its key); undefined (`sumdb-key: off`) trusts the upstreams: artifacts
 * are checked for their layout only.
 */
export function goproxyProtocol(sumdb: SumdbVerifier | undefined): Protocol {
  const name = sumdb?.key.name ?? GO_SUMDB_NAME;
  return {
    classify(rel): Classified {
      if (rel.startsWith('/sumdb/')) return sumdbPath(rel.slice('/sumdb'.length));
      const p = parse(rel);
      if (!p) return rel === '/' || rel === '' ? { type: 'pass', maxBytes: SMALL } : { type: 'invalid', reason: `not a GOPROXY path: ${rel}` };
      if ('error' in p) return { type: 'invalid', reason: p.error };
      if (p.rest === '@latest') return { type: 'mutable', key: `latest ${p.module}`, merge: true, maxBytes: SMALL };
      if (p.rest === '@v/list') return { type: 'mutable', key: `list ${p.module}`, merge: true, maxBytes: MAX_LIST };
      const m = p.rest.match(/^@v\/(.+)\.(info|mod|zip)$/);
      if (!m || !ESCAPED_VERSION.test(m[1]!)) return { type: 'invalid', reason: `not a GOPROXY path: ${rel}` };
      const version = unescapePath(m[1]!);
      // a canonical version never changes; a query (`master.info`) does
      const maxBytes = m[2] === 'zip' ? MAX_ZIP_BYTES : m[2] === 'mod' ? MAX_GO_MOD_BYTES : SMALL;
      if (isSemver(version) && version.startsWith('v')) return { type: 'immutable', key: `go ${p.module}@${m[1]}.${m[2]}`, maxBytes };
      return m[2] === 'info' ? { type: 'mutable', key: `query ${p.module}@${m[1]}`, maxBytes } : { type: 'invalid', reason: `"${version}" is not a canonical version` };
    },

    absent: (status) => status === 404 || status === 410,

    check(rel, body) {
      if (rel.endsWith('/@v/list')) {
        const bad = body.toString().split('\n').map((l) => l.trim()).find((l) => l && !/^v\S+$/.test(l));
        return bad === undefined ? undefined : `a version list with "${bad.slice(0, 40)}" in it`;
      }
      if (rel.endsWith('/@latest') || rel.endsWith('.info')) {
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

    async verify(rel, body, ctx): Promise<Verdict> {
      if (rel.startsWith('/sumdb/')) return verifySumdbPath(rel, `/sumdb/${name}/`, body, ctx, sumdb);
      const p = parse(rel) as Parsed;
      const [, escapedVersion, ext] = p.rest.match(/^@v\/(.+)\.(info|mod|zip)$/)!;
      const module = unescapePath(p.module);
      const version = unescapePath(escapedVersion!);
      if (ext === 'info') {
        // no database lists an .info: it is what the version says, or garbage
        try {
          const info = JSON.parse((await body.bytes()).toString()) as { Version?: unknown };
          return info.Version === version ? VERIFIED : wrong(`its .info names version ${JSON.stringify(info.Version)}, not ${version}`);
        } catch {
          return wrong('its .info is not JSON');
        }
      }
      let hash: string;
      try {
        hash = ext === 'zip' ? await checkModuleZip(body, module, version) : goModHash(body.sha256);
      } catch (err) {
        if (err instanceof ZipError) return wrong(`not a valid module zip: ${err.message}`);
        throw err;
      }
      if (!sumdb) return VERIFIED; // sumdb-key: off: the upstreams are trusted
      const want = await goSum(ctx, name, p.module, escapedVersion!, `${module} ${version}${ext === 'mod' ? '/go.mod' : ''} `);
      if (want === undefined) return unknown(`the checksum database ${name} has no record of ${module}@${version} that verifies`);
      return want === hash ? VERIFIED : wrong(`its hash ${hash} is not the checksum database's ${want}`);
    },

    contentType: (rel) => (rel.endsWith('.zip') ? 'application/zip' : rel.endsWith('.info') || rel.endsWith('@latest') ? 'application/json' : 'text/plain; charset=utf-8'),
  };

  /** the checksum database's paths: lookups and tiles never change; `latest` and `supported` are passed on */
  function sumdbPath(path: string): Classified {
    const m = path.match(/^\/([a-z0-9.-]+)\/(supported|latest|lookup\/.+|tile\/.+)$/);
    if (!m) return { type: 'invalid', reason: `not a checksum database path: ${path}` };
    if (m[2] === 'supported' || m[2] === 'latest') return { type: 'pass', maxBytes: SMALL };
    if (m[2]!.includes('..') || m[2]!.length > MAX_PATH) return { type: 'invalid', reason: `not a checksum database path: ${path}` };
    return { type: 'immutable', key: `sumdb ${m[1]}/${m[2]}`, maxBytes: m[2]!.startsWith('lookup/') ? MAX_LOOKUP : MAX_TILE };
  }
}

/** The `sumdb` kind: a checksum database mirrored at its own path (`/lookup/…`, `/tile/…`), its lookups verified by its key. */
export function sumdbProtocol(sumdb: SumdbVerifier | undefined): Protocol {
  const go = goproxyProtocol(sumdb);
  const name = sumdb?.key.name ?? GO_SUMDB_NAME;
  return {
    classify: (rel) => {
      const c = go.classify(`/sumdb/${name}${rel}`, undefined);
      return c.type === 'invalid' ? { type: 'invalid', reason: `not a checksum database path: ${rel}` } : c;
    },
    absent: (status) => status === 404 || status === 410,
    verify: (rel, body, ctx) => verifySumdbPath(rel, '/', body, ctx, sumdb),
    contentType: () => 'text/plain; charset=utf-8',
  };
}

/** A lookup is verified by the database's key and a proof from tiles of the same upstream; a tile alone cannot be. */
async function verifySumdbPath(rel: string, root: string, body: Body, ctx: VerifyContext, sumdb: SumdbVerifier | undefined): Promise<Verdict> {
  if (!rel.slice(root.length).startsWith('lookup/')) return unknown('a tile is proved only as part of a lookup (the go command checks it against its signed tree)');
  if (!sumdb) return unknown('no checksum database key (sumdb-key: off)');
  try {
    await sumdb.verify(await body.bytes(), (path) => ctx.sameUpstream(`${root}${path}`));
    return VERIFIED;
  } catch (err) {
    return wrong(`a lookup that does not verify against ${sumdb.key.name}'s key: ${(err as Error).message}`);
  }
}

/** the checksum database's go.sum hash for a line starting with `want`, from a verified lookup */
async function goSum(ctx: VerifyContext, name: string, escapedModule: string, escapedVersion: string, want: string): Promise<string | undefined> {
  const body = await ctx.artifact(`/sumdb/${name}/lookup/${escapedModule}@${escapedVersion}`);
  const line = body?.toString().split('\n').find((l) => l.startsWith(want));
  return line?.slice(want.length).trim();
}
