// The mirrors' changing documents as registries and npm expect them: fetched in the form the
// client asked for (npm's abbreviated packument), gzipped on the wire both ways, revalidated with
// the upstream's ETag once their minute has passed (a 304 instead of the whole document), and
// answered 304 to a client that already has them. The minute passes by moving Date.now.
import { get, type IncomingHttpHeaders } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { startModuleOrigin, testSumdb, type ModuleOrigin } from '../fixtures/module-origin.js';
import { startNpmRegistry, type NpmRegistry } from '../fixtures/npm-registry.js';
import { startPypiIndex, type PypiIndex } from '../fixtures/pypi-index.js';

const ABBREVIATED = 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*';
/** what npm install sends */
const NPM_HEADERS = { accept: ABBREVIATED, 'accept-encoding': 'gzip' };

let root: string;
let d: TestDaemon;
let npm: NpmRegistry;
let npmOrigin: NpmRegistry;
let pypi: PypiIndex;
let go: ModuleOrigin;
let goOrigin: ModuleOrigin;
const realNow = Date.now;
/** the minute every kept document is fresh for has passed */
const minutesLater = (minutes: number) => {
  const shift = minutes * 60_000;
  vi.spyOn(Date, 'now').mockImplementation(() => realNow() + shift);
};
const url = (path: string) => `http://127.0.0.1:${d.httpPort}${path}`;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'proxyd-documents-'));
  const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`1.0.${i}`, {}]));
  const pkgs = { 'hello-fixture': { '1.0.0': {}, '1.1.0': {} }, 'many-fixture': many };
  [npm, npmOrigin] = await Promise.all([startNpmRegistry(structuredClone(pkgs)), startNpmRegistry(structuredClone(pkgs))]);
  pypi = await startPypiIndex({ 'Hello.Fixture': { '1.0.0': {} } });
  const mods = { 'example.com/hello': { 'v1.0.0': { files: { 'hello.go': 'package hello\n' } } } };
  [go, goOrigin] = await Promise.all([startModuleOrigin(structuredClone(mods)), startModuleOrigin(structuredClone(mods))]);
  d = await startTestDaemon(`mirrors:
  - { name: npm, kind: npm, path: /npm, upstreams: ['${npm.base}'], origins: ['${npmOrigin.base}'], check: { interval: 1h } }
  - { name: pypi, kind: pypi, path: /pypi, upstreams: ['${pypi.base}'], check: { interval: 1h } }
  - { name: go, kind: goproxy, sumdb-key: '${testSumdb().key}', path: /go, upstreams: ['${go.goproxy}'], origins: ['${goOrigin.goproxy}'], check: { interval: 1h } }
cache: { dir: ${join(root, 'cache')} }
`);
});
afterAll(async () => {
  await d?.stop({ now: true });
  await Promise.all([npm, npmOrigin, pypi, go, goOrigin].map((f) => f?.close()));
  if (root) rmSync(root, { recursive: true, force: true });
});
afterEach(() => vi.restoreAllMocks());

describe('documents', () => {
  test('npm\'s abbreviated packument is asked for upstream as npm asked, gzipped both ways, its tarballs pointed at proxyd', async () => {
    const res = await fetch(url('/npm/hello-fixture'), { headers: NPM_HEADERS });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.npm.install-v1+json');
    const doc = (await res.json()) as { versions: Record<string, { dist: { tarball: string } }>; time?: unknown };
    expect(Object.keys(doc.versions)).toEqual(['1.0.0', '1.1.0']);
    expect(doc.versions['1.1.0']!.dist.tarball).toBe(url('/npm/hello-fixture/-/hello-fixture-1.1.0.tgz'));
    expect(doc.time).toBeUndefined(); // the abbreviated form has none
    const asked = npm.requests.filter((r) => r.path === '/hello-fixture');
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ accept: ABBREVIATED, acceptEncoding: 'gzip', gzipped: true });
  });

  test('a document of some size goes to a client that takes gzip gzipped: the bytes on the wire unzip to the JSON', async () => {
    const raw = await new Promise<{ headers: IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      get(url('/npm/many-fixture'), { headers: NPM_HEADERS }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      }).on('error', reject);
    });
    expect(raw.headers['content-encoding']).toBe('gzip');
    expect(raw.headers.vary).toBe('Accept-Encoding');
    const doc = JSON.parse(gunzipSync(raw.body).toString()) as { versions: Record<string, unknown> };
    expect(Object.keys(doc.versions)).toHaveLength(40);
  });

  test('a client that has the document gets 304 for its ETag', async () => {
    const first = await fetch(url('/npm/hello-fixture'), { headers: NPM_HEADERS });
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]{22}"$/);
    const again = await fetch(url('/npm/hello-fixture'), { headers: { ...NPM_HEADERS, 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
  });

  test('after its minute, each part of a merged document is revalidated: 304s from the mirror and the origin, the same bytes for the client', async () => {
    const before = await (await fetch(url('/npm/hello-fixture'), { headers: NPM_HEADERS })).text();
    const marks = [npm.requests.length, npmOrigin.requests.length];
    minutesLater(2);
    const after = await (await fetch(url('/npm/hello-fixture'), { headers: NPM_HEADERS })).text();
    expect(after).toBe(before);
    for (const [i, upstream] of [npm, npmOrigin].entries()) {
      const asked = upstream.requests.slice(marks[i]).filter((r) => r.path === '/hello-fixture');
      expect(asked).toHaveLength(1);
      expect(asked[0]!.ifNoneMatch).toMatch(/^"[0-9a-f]{16}"$/);
      expect(asked[0]!.status).toBe(304);
    }
  });

  test('a version published meanwhile: the origin answers 200 to the revalidation, and the merged document has it', async () => {
    await fetch(url('/npm/hello-fixture'), { headers: NPM_HEADERS });
    npmOrigin.addVersion('hello-fixture', '1.2.0');
    minutesLater(4);
    const doc = (await (await fetch(url('/npm/hello-fixture'), { headers: NPM_HEADERS })).json()) as { versions: Record<string, unknown> };
    expect(Object.keys(doc.versions).sort()).toEqual(['1.0.0', '1.1.0', '1.2.0']);
    expect(npmOrigin.requests.at(-1)).toMatchObject({ path: '/hello-fixture', status: 200 });
  });

  test('a PyPI index page and a Go version list are revalidated the same way', async () => {
    const page = () => fetch(url('/pypi/simple/hello-fixture/'), { headers: { accept: 'application/vnd.pypi.simple.v1+json' } });
    const list = () => fetch(url('/go/example.com/hello/@v/list'));
    const [p1, l1] = [await (await page()).text(), await (await list()).text()];
    const marks = [pypi.requests.length, go.requests.length, goOrigin.requests.length];
    minutesLater(6);
    expect(await (await page()).text()).toBe(p1);
    expect(await (await list()).text()).toBe(l1);
    const last = (reqs: typeof pypi.requests, from: number, path: string) => reqs.slice(from).filter((r) => r.path === path);
    expect(last(pypi.requests, marks[0]!, '/simple/hello-fixture/').map((r) => r.status)).toEqual([304]);
    expect(last(go.requests, marks[1]!, '/example.com/hello/@v/list').map((r) => r.status)).toEqual([304]);
    expect(last(goOrigin.requests, marks[2]!, '/example.com/hello/@v/list').map((r) => r.status)).toEqual([304]);
  });

  test('a wheel verified against the page the client read, whatever form it asked for: the page is not fetched again', async () => {
    const wheel = pypi.files('Hello.Fixture', '1.0.0')[0]!;
    minutesLater(8); // what was kept is stale: the page is read once more, as JSON, by the client
    await fetch(url('/pypi/simple/hello-fixture/'), { headers: { accept: 'application/vnd.pypi.simple.v1+json' } });
    const mark = pypi.requests.length;
    const got = await fetch(url(`/pypi/files/${wheel.filename}`));
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).length).toBe(wheel.bytes.length);
    expect(pypi.requests.slice(mark).map((r) => r.path)).toEqual([`/files/${wheel.filename}`]);
  });
});
