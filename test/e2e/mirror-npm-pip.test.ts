// `npm install` and `pip download` through proxyd's npm and pypi mirrors: registry=http://…/npm/,
// --index-url http://…/pypi/simple. Each mirror's first upstream is dead, its second a local
// fixture standing in for npmmirror / TUNA, and the origin a third fixture reached through fallback.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { CI, haveNpm, havePip, npmArgs, npmEnv, pipDownloadArgs, pipEnv, writeNpmProject } from '../fixtures/mirror-clients.js';
import { startNpmRegistry, type NpmPackages, type NpmRegistry } from '../fixtures/npm-registry.js';
import { startPypiIndex, type PypiIndex, type PypiProjects } from '../fixtures/pypi-index.js';
import { run } from '../fixtures/run.js';

const SLOW = 180_000;
const HAVE = { npm: haveNpm(), pip: havePip() };
for (const [tool, ok] of Object.entries(HAVE)) if (!ok && !CI) console.warn(`mirror-npm-pip: skipping the ${tool} tests: it is not installed`);

const PACKAGES: NpmPackages = {
  'hello-fixture': { '1.0.0': {}, '1.1.0': { dependencies: { '@fixture/dep': '^2.0.0' } } },
  '@fixture/dep': { '2.0.0': { files: { 'lib/x.js': 'exports.x = 42;\n' } } },
  'fresh-fixture': { '1.0.0': {} },
};
const PROJECTS: PypiProjects = { 'Hello.Fixture': { '1.0.0': {}, '1.1.0': {} } };

let root: string;
let d: TestDaemon;
let npmMirror: NpmRegistry;
let npmOrigin: NpmRegistry;
let pyMirror: PypiIndex;
let pyOrigin: PypiIndex;
let runs = 0;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'proxyd-mirror-np-'));
  [npmMirror, npmOrigin] = await Promise.all([startNpmRegistry(structuredClone(PACKAGES)), startNpmRegistry(structuredClone(PACKAGES))]);
  [pyMirror, pyOrigin] = await Promise.all([startPypiIndex(structuredClone(PROJECTS)), startPypiIndex(structuredClone(PROJECTS))]);
  d = await startTestDaemon(`mirrors:
  - { name: npm, kind: npm, path: /npm, upstreams: ['http://127.0.0.1:1', '${npmMirror.base}'], origins: ['${npmOrigin.base}'], check: { interval: 1h } }
  - { name: pypi, kind: pypi, path: /pypi, upstreams: ['http://127.0.0.1:1', '${pyMirror.base}'], origins: ['${pyOrigin.base}'], check: { interval: 1h } }
cache: { dir: ${join(root, 'cache')} }
rules:
  - MATCH,DIRECT
`);
});
afterAll(async () => {
  await d?.stop({ now: true });
  await Promise.all([npmMirror, npmOrigin, pyMirror, pyOrigin].map((f) => f?.close()));
  if (root) rmSync(root, { recursive: true, force: true });
});

describe.skipIf(!HAVE.npm && !CI)('npm install through the npm mirror', () => {
  const registry = () => `http://127.0.0.1:${d.httpPort}/npm/`;
  const install = async (spec: string) => {
    const dir = join(root, `npm-${runs++}`);
    const project = join(dir, 'project');
    writeNpmProject(project);
    const env = npmEnv(dir);
    const r = await run('npm', ['install', spec, ...npmArgs(registry(), dir)], { cwd: project, env, timeoutMs: 120_000 });
    const load = async (what: string) => JSON.parse((await run('node', ['-e', `console.log(JSON.stringify(require(${JSON.stringify(what)})))`], { cwd: project, env })).stdout) as unknown;
    return { ...r, load };
  };

  test('installs a package and its scoped dependency; the packument sends tarballs through proxyd', { timeout: SLOW }, async () => {
    if (!HAVE.npm) throw new Error('npm is not installed');
    const r = await install('hello-fixture');
    expect(r.code, r.stderr).toBe(0);
    expect(await r.load('hello-fixture')).toEqual({ name: 'hello-fixture', version: '1.1.0' });
    expect(await r.load('@fixture/dep/lib/x.js')).toEqual({ x: 42 });
    const doc = (await (await fetch(`${registry()}hello-fixture`)).json()) as { versions: Record<string, { dist: { tarball: string } }> };
    expect(doc.versions['1.1.0']!.dist.tarball).toBe(`${registry()}hello-fixture/-/hello-fixture-1.1.0.tgz`);
    expect(npmMirror.requests.map((q) => q.path)).toContain('/hello-fixture/-/hello-fixture-1.1.0.tgz'); // fetched by proxyd from the mirror
  });

  test('a version published at the origin only is installed (the packuments are merged)', { timeout: SLOW }, async () => {
    // (before anyone asked for this packument: a packument proxyd has served is kept a minute)
    npmOrigin.addVersion('fresh-fixture', '1.1.0', { indexJs: 'module.exports = "fresh";\n' });
    const r = await install('fresh-fixture@1.1.0');
    expect(r.code, r.stderr).toBe(0);
    expect(await r.load('fresh-fixture')).toBe('fresh');
  });

  test('a tarball that fails dist.integrity at the mirror is served from the origin', { timeout: SLOW }, async () => {
    npmMirror.corrupt('hello-fixture', '1.0.0', 'content');
    const r = await install('hello-fixture@1.0.0');
    expect(r.code, r.stderr).toBe(0);
    expect(await r.load('hello-fixture')).toEqual({ name: 'hello-fixture', version: '1.0.0' });
    expect(npmOrigin.requests.map((q) => q.path)).toContain('/hello-fixture/-/hello-fixture-1.0.0.tgz');
    expect(d.logs.some((l) => l.mirror === 'npm' && String(l.msg).includes('served a bad artifact'))).toBe(true);
  });
});

describe.skipIf(!HAVE.pip && !CI)('pip download through the pypi mirror', () => {
  const download = async (reqs: string[]) => {
    const dir = join(root, `pip-${runs++}`);
    const r = await run('python3', pipDownloadArgs(`http://127.0.0.1:${d.httpPort}/pypi/simple`, join(dir, 'dl'), reqs), { env: pipEnv(dir), timeoutMs: 120_000 });
    return { ...r, dir: join(dir, 'dl') };
  };
  const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  test('downloads a wheel: the page\'s links lead back to proxyd, the bytes are the index\'s', { timeout: SLOW }, async () => {
    if (!HAVE.pip) throw new Error('python3 -m pip is not available');
    const r = await download(['hello-fixture==1.0.0', '--no-deps']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const wheel = pyMirror.files('hello-fixture', '1.0.0')[0]!;
    expect(readdirSync(r.dir)).toEqual([wheel.filename]);
    expect(sha256(readFileSync(join(r.dir, wheel.filename)))).toBe(wheel.sha256);
    const page = await (await fetch(`http://127.0.0.1:${d.httpPort}/pypi/simple/hello-fixture/`)).text();
    expect(page).toContain(`href="http://127.0.0.1:${d.httpPort}/pypi/files/${wheel.filename}#sha256=${wheel.sha256}"`);
    expect(pyMirror.requests.map((q) => q.path)).toContain(`/files/${wheel.filename}`);
  });

  test('a wheel that fails the page\'s sha256 at the mirror is served from the origin', { timeout: SLOW }, async () => {
    pyMirror.corrupt('hello-fixture', '1.1.0', 'content');
    const r = await download(['hello-fixture==1.1.0', '--no-deps']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const wheel = pyOrigin.files('hello-fixture', '1.1.0')[0]!;
    expect(sha256(readFileSync(join(r.dir, wheel.filename)))).toBe(wheel.sha256);
    expect(d.logs.some((l) => l.mirror === 'pypi' && String(l.msg).includes('served a bad artifact'))).toBe(true);
  });
});
