// The npm workload's data: a generated project whose dependency tree holds 300+ package versions,
// each a real tarball (gzip of ustar, as npm pack makes them) with its packument (full, and the
// abbreviated form for `Accept: application/vnd.npm.install-v1+json`) carrying real
// dist.integrity (sha512) and shasum.
//
// The tree: the project depends on wl-000…wl-019 and on wl-040…wl-049 at ^2; wl-i depends on
// wl-(20+2i) and wl-(21+2i), and on one package further on (shared, so a DAG rather than a tree);
// wl-040…wl-049 are published as 1.0.0 and 2.0.0, the 1.x ones wanted deep in the tree, so npm
// nests them (node_modules/wl-010/node_modules/wl-040). Every package carries a few KiB to 40 KiB
// of incompressible text, like the minified code of real packages.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { tgz } from '../../fixtures/archive.ts';
import type { Route, Served } from './origin.ts';

export const NPM_PACKAGES = 300;
const TOP = 20;
const TWO_VERSIONS = { from: 40, to: 49 };
const ABBREVIATED = 'application/vnd.npm.install-v1+json';

const nameOf = (i: number) => `wl-${String(i).padStart(3, '0')}`;

interface Version {
  name: string;
  version: string;
  dependencies: Record<string, string>;
  tarball: Buffer;
  shasum: string;
  integrity: string;
}

export interface NpmProject {
  /** every published version, package name → versions */
  packages: Map<string, Version[]>;
  /** how many tarballs `npm ci` installs */
  installs: number;
  /** the project's package.json */
  manifest: string;
  /** the origin's answers; tarball URLs in packuments name `base()` */
  route(base: () => string): Route;
}

function children(i: number): number[] {
  const out = [20 + 2 * i, 21 + 2 * i];
  const shared = (i * 37 + 11) % NPM_PACKAGES;
  if (shared > i + 1 && shared >= TOP) out.push(shared);
  return [...new Set(out)].filter((c) => c < NPM_PACKAGES);
}

export function makeNpmProject(): NpmProject {
  const packages = new Map<string, Version[]>();
  for (let i = 0; i < NPM_PACKAGES; i++) {
    const name = nameOf(i);
    const versions = i >= TWO_VERSIONS.from && i <= TWO_VERSIONS.to ? ['1.0.0', '2.0.0'] : ['1.0.0'];
    packages.set(name, versions.map((version) => {
      const dependencies = Object.fromEntries(children(i).map((c) => [nameOf(c), '^1.0.0']));
      const pkg = { name, version, description: 'a proxyd workload package', main: 'index.js', license: 'MIT', dependencies };
      const payload = randomBytes(1024 + ((i * 7919) % 30) * 1024).toString('base64');
      const tarball = tgz([
        { name: 'package/package.json', data: `${JSON.stringify(pkg, null, 2)}\n` },
        { name: 'package/index.js', data: `${Object.keys(dependencies).map((d) => `require(${JSON.stringify(d)});\n`).join('')}module.exports = require('./lib/data.js');\n` },
        { name: 'package/lib/data.js', data: `module.exports = ${JSON.stringify(payload)};\n` },
        { name: 'package/README.md', data: `# ${name}\n\nGenerated for proxyd's workload benchmark.\n` },
      ]);
      return {
        name, version, dependencies, tarball,
        shasum: createHash('sha1').update(tarball).digest('hex'),
        integrity: `sha512-${createHash('sha512').update(tarball).digest('base64')}`,
      };
    }));
  }
  const wanted: Record<string, string> = {};
  for (let i = 0; i < TOP; i++) wanted[nameOf(i)] = '^1.0.0';
  for (let i = TWO_VERSIONS.from; i <= TWO_VERSIONS.to; i++) wanted[nameOf(i)] = '^2.0.0';
  const manifest = `${JSON.stringify({ name: 'workload-project', version: '1.0.0', private: true, dependencies: wanted }, null, 2)}\n`;
  const installs = [...packages.values()].reduce((n, v) => n + v.length, 0);

  const route = (base: () => string): Route => {
    const docs = new Map<string, { full: Served; corgi: Served }>();
    const tarballs = new Map<string, Buffer>();
    for (const [name, versions] of packages) for (const v of versions) tarballs.set(`/${name}/-/${name}-${v.version}.tgz`, v.tarball);
    const packument = (name: string) => {
      const known = docs.get(name);
      if (known) return known;
      const versions = packages.get(name)!;
      const dist = (v: Version) => ({ tarball: `${base()}/${name}/-/${name}-${v.version}.tgz`, shasum: v.shasum, integrity: v.integrity });
      const latest = versions[versions.length - 1]!.version;
      const time = Object.fromEntries(versions.map((v, k) => [v.version, new Date(Date.UTC(2024, 0, 1 + k)).toISOString()]));
      const full = {
        _id: name, name, 'dist-tags': { latest },
        versions: Object.fromEntries(versions.map((v) => [v.version, {
          name, version: v.version, description: 'a proxyd workload package', main: 'index.js', license: 'MIT',
          dependencies: v.dependencies, _id: `${name}@${v.version}`, dist: dist(v),
        }])),
        time: { created: time[versions[0]!.version], modified: time[latest], ...time },
      };
      const corgi = {
        name, modified: time[latest], 'dist-tags': { latest },
        versions: Object.fromEntries(versions.map((v) => [v.version, { name, version: v.version, dependencies: v.dependencies, dist: dist(v) }])),
      };
      const made = {
        full: { body: Buffer.from(JSON.stringify(full)), type: 'application/json', doc: true },
        corgi: { body: Buffer.from(JSON.stringify(corgi)), type: ABBREVIATED, doc: true },
      };
      docs.set(name, made);
      return made;
    };
    return (path: string, req: IncomingMessage) => {
      if (path === '/' || path === '/-/ping') return { body: Buffer.from('{}'), type: 'application/json', doc: true };
      const tarball = tarballs.get(path);
      if (tarball) return { body: tarball, type: 'application/octet-stream' };
      const name = path.slice(1);
      if (!packages.has(name)) return undefined;
      const doc = packument(name);
      return String(req.headers.accept ?? '').includes(ABBREVIATED) ? doc.corgi : doc.full;
    };
  };
  return { packages, installs, manifest, route };
}

/**
 * A copy of the project in `dir` whose package-lock names `registry` (ending in /) where the lock
 * made once names `lockRegistry`: npm ci fetches each tarball from its `resolved` URL (npm rewrites
 * only registry.npmjs.org ones to the configured registry), so each target needs its own copy.
 * With no `lock`, package.json only.
 */
export function writeProjectFor(dir: string, project: NpmProject, lock: string, lockRegistry: string, registry: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), project.manifest);
  if (lock) writeFileSync(join(dir, 'package-lock.json'), lock.split(lockRegistry).join(registry));
}

/** The tarball URLs of a lock (to check that it was rewritten and is complete). */
export function lockedTarballs(dir: string): string[] {
  const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, { resolved?: string }> };
  return Object.values(lock.packages).flatMap((p) => (p.resolved ? [p.resolved] : []));
}
