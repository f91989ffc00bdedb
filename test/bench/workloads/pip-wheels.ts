// The pip workload's data: 50 projects, one real wheel each (the fixtures' wheel builder: modules,
// METADATA, WHEEL and a RECORD of every file's sha256), under a PEP 503 simple index written to
// disk (simple/index.html, simple/<project>/index.html, files/<wheel> and files/<wheel>.metadata
// for PEP 658) so that nginx can serve it as it is, and served from memory by the delayed origin.
// The index is HTML only: the same bytes from the origin and from nginx.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildWheel, distName } from '../../fixtures/python-dist.ts';
import type { Route, Served } from './origin.ts';

export const PIP_PROJECTS = 50;

export interface PipWheels {
  /** the project names, as `pip download` takes them */
  projects: string[];
  /** the index's root on disk: simple/ and files/ */
  dir: string;
  route: Route;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const page = (title: string, links: string) => `<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="1.0">\n`
  + `    <title>${title}</title>\n  </head>\n  <body>\n${links}  </body>\n</html>\n`;

export function makePipWheels(dir: string): PipWheels {
  const files = new Map<string, Served>();
  const put = (path: string, body: Buffer | string, type: string, doc = false) => {
    const served = { body: Buffer.from(body), type, doc };
    files.set(path, served);
    const onDisk = join(dir, path.endsWith('/') ? `${path}index.html` : path);
    mkdirSync(dirname(onDisk), { recursive: true });
    writeFileSync(onDisk, served.body);
  };
  const projects: string[] = [];
  for (let i = 0; i < PIP_PROJECTS; i++) {
    const name = `wl-py-${String(i).padStart(3, '0')}`;
    const mod = distName(name);
    const data = randomBytes(4096 + ((i * 7919) % 60) * 1024).toString('base64');
    const wheel = buildWheel({
      name, version: '1.0.0',
      modules: { [`${mod}/__init__.py`]: `__version__ = "1.0.0"\n`, [`${mod}/_data.py`]: `DATA = ${JSON.stringify(data)}\n` },
      requiresPython: '>=3.7',
    });
    put(`/files/${wheel.filename}`, wheel.bytes, 'application/octet-stream');
    put(`/files/${wheel.filename}.metadata`, wheel.metadata, 'application/octet-stream');
    const link = `    <a href="../../files/${wheel.filename}#sha256=${sha256(wheel.bytes)}" data-requires-python="&gt;=3.7" `
      + `data-dist-info-metadata="sha256=${sha256(wheel.metadata)}" data-core-metadata="sha256=${sha256(wheel.metadata)}">${wheel.filename}</a><br/>\n`;
    put(`/simple/${name}/`, page(`Links for ${name}`, link), 'text/html', true);
    projects.push(name);
  }
  put('/simple/', page('Simple index', projects.map((p) => `    <a href="${p}/">${p}</a><br/>\n`).join('')), 'text/html', true);
  const route: Route = (path) => files.get(path) ?? (path === '/' ? { body: Buffer.from(''), type: 'text/plain' } : undefined);
  return { projects, dir, route };
}
