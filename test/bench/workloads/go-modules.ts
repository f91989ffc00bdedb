// The Go workload's data: 100 module versions (80 modules, the first 20 at two versions), each a
// real module zip by the module zip rules (every file under "<module>@<version>/", deflated; the
// fixtures' zip writer and dirhash), with its .info, .mod and @v/list, written to disk as a
// GOPROXY tree (what GOPROXY=file:// reads) and served from memory by the delayed origin, beside
// a checksum database signed with the fixtures' test key (proxyd's goproxy mirror checks every
// zip and go.mod against a verified lookup, `sumdb-key:` set to that key).
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { zip } from '../../fixtures/archive.ts';
import { hash1 } from '../../fixtures/module-origin.ts';
import { startSumdb } from '../../fixtures/sumdb.ts';
import type { Route, Served } from './origin.ts';

export const GO_MODULES = 80;
const TWO_VERSIONS = 20;

export interface GoModules {
  /** `module@version` of every version, as `go mod download` takes them */
  versions: string[];
  /** the GOPROXY tree on disk (GOPROXY=file://DIR) */
  dir: string;
  /** the checksum database's verifier key (GOSUMDB / sumdb-key) and name */
  sumdbKey: string;
  sumdbName: string;
  route: Route;
}

export function makeGoModules(dir: string): GoModules {
  const sumdb = startSumdb();
  const files = new Map<string, Served>();
  const lookups = new Map<string, number>();
  const versions: string[] = [];
  const put = (path: string, body: Buffer | string, type: string, doc = false) => {
    const served = { body: Buffer.from(body), type, doc };
    files.set(path, served);
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), served.body);
  };
  for (let i = 0; i < GO_MODULES; i++) {
    const module = `example.com/wl/m${String(i).padStart(3, '0')}`;
    const list = i < TWO_VERSIONS ? ['v1.0.0', 'v1.1.0'] : ['v1.0.0'];
    for (const [k, version] of list.entries()) {
      const goMod = `module ${module}\n\ngo 1.19\n`;
      const data = randomBytes(2048 + ((i * 7919 + k) % 40) * 1024).toString('base64');
      const sources: Record<string, string> = {
        'go.mod': goMod,
        'LICENSE': 'MIT License\n\nGenerated for proxyd\'s workload benchmark.\n',
        [`m${i}.go`]: `// Package m${i} is generated.\npackage m${i}\n\n// Version is this module's version.\nconst Version = ${JSON.stringify(version)}\n`,
        'data.go': `package m${i}\n\n// Data stands for the bulk of a real module's code.\nconst Data = ${JSON.stringify(data)}\n`,
        'internal/util/util.go': `package util\n\n// Twice doubles n.\nfunc Twice(n int) int { return 2 * n }\n`,
      };
      const entries = Object.entries(sources).sort(([a], [b]) => (a < b ? -1 : 1)).map(([p, d]) => ({ name: `${module}@${version}/${p}`, data: Buffer.from(d) }));
      const zipHash = hash1(entries.map((e) => [e.name, e.data]));
      const modHash = hash1([['go.mod', goMod]]);
      lookups.set(`${module}@${version}`, sumdb.add(`${module} ${version} ${zipHash}\n${module} ${version}/go.mod ${modHash}\n`));
      put(`/${module}/@v/${version}.info`, JSON.stringify({ Version: version, Time: `2024-01-0${k + 1}T00:00:00Z` }), 'application/json', true);
      put(`/${module}/@v/${version}.mod`, goMod, 'text/plain; charset=utf-8', true);
      put(`/${module}/@v/${version}.zip`, zip(entries), 'application/zip');
      versions.push(`${module}@${version}`);
    }
    put(`/${module}/@v/list`, list.map((v) => `${v}\n`).join(''), 'text/plain; charset=utf-8', true);
  }
  const prefix = `/sumdb/${sumdb.name}/`;
  const text = (body: string | Buffer): Served => ({ body: Buffer.from(body), type: 'text/plain; charset=utf-8' });
  const route: Route = (path) => {
    const file = files.get(path);
    if (file) return file;
    if (path === '/') return text('');
    if (!path.startsWith(prefix)) return undefined;
    const rest = path.slice(prefix.length);
    if (rest === 'latest') return text(sumdb.latest());
    if (rest.startsWith('tile/')) {
      const tile = sumdb.tile(rest);
      return tile ? { body: tile, type: 'application/octet-stream' } : undefined;
    }
    const id = rest.startsWith('lookup/') ? lookups.get(rest.slice('lookup/'.length)) : undefined;
    return id === undefined ? undefined : text(sumdb.lookup(id));
  };
  return { versions, dir, sumdbKey: sumdb.key, sumdbName: sumdb.name, route };
}
