// The mirror origins (module-origin, npm-registry, pypi-index) proven with their REAL clients, directly
// (no proxyd): `go mod download` / `go run` (Go 1.19), `npm install`, `pip download` / `pip install`.
// Each client runs in a clean environment confined to a temp dir and pointed only at the fixture
// (mirror-clients.ts). In CI a missing tool fails the suite; elsewhere it skips, saying which tool.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  CI, goEnv, goModDownload, haveGo, haveNpm, havePip, npmArgs, npmEnv, pipDownloadArgs, pipEnv, writeGoModule, writeNpmProject,
} from '../fixtures/mirror-clients.js';
import { startModuleOrigin, testSumdb, type ModuleOrigin } from '../fixtures/module-origin.js';
import { startNpmRegistry, type NpmRegistry } from '../fixtures/npm-registry.js';
import { startPypiIndex, type PypiIndex } from '../fixtures/pypi-index.js';
import { run } from '../fixtures/run.js';

const SLOW = 180_000;
const HAVE = { go: haveGo(), npm: haveNpm(), pip: havePip() };
for (const [tool, ok] of Object.entries(HAVE)) {
  if (!ok && !CI) console.warn(`mirror-fixtures: skipping the ${tool} tests: ${tool === 'pip' ? 'python3 -m pip' : tool} is not installed`);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `proxyd-mirror-${name}-`));

describe.skipIf(!HAVE.go && !CI)('module origin with go 1.19', () => {
  let origin: ModuleOrigin;
  let root: string;
  let n = 0;
  /** a fresh GOPATH/GOCACHE/HOME for each client run: nothing is served from an earlier download */
  const fresh = (extra: Record<string, string> = {}, goproxy = origin.goproxy) => {
    const dir = join(root, `run-${n++}`);
    return { dir, env: goEnv(dir, goproxy, extra) };
  };
  const hello = (text: string) => `package hello\n\n// Hello greets.\nfunc Hello() string { return ${JSON.stringify(text)} }\n`;

  beforeAll(async () => {
    if (!HAVE.go) throw new Error('go is not installed; CI must install the Debian "golang-go" package');
    root = tmp('go');
    origin = await startModuleOrigin({
      'example.com/hello': {
        'v1.0.0': { files: { 'hello.go': hello('hello v1.0.0') }, time: '2024-03-01T10:00:00Z' },
        'v1.1.0': { files: { 'hello.go': hello('hello v1.1.0'), 'sub/sub.go': 'package sub\n\nconst X = 1\n', 'LICENSE': 'MIT\n' } },
      },
      'example.com/Upper/Mod': { 'v0.1.0-RC1': { files: { 'mod.go': 'package mod\n' } } },
    });
  });
  afterAll(async () => {
    await origin?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test('go mod download -json: Sum and GoModSum are the fixture sums(); the files land in the module cache', { timeout: SLOW }, async () => {
    const { env } = fresh();
    const r = await goModDownload(env, ['example.com/hello@v1.0.0', 'example.com/hello@v1.1.0', 'example.com/Upper/Mod@v0.1.0-RC1']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const got = Object.fromEntries(r.modules.map((m) => [`${m.Path}@${m.Version}`, m]));
    for (const [m, v] of [['example.com/hello', 'v1.0.0'], ['example.com/hello', 'v1.1.0'], ['example.com/Upper/Mod', 'v0.1.0-RC1']] as const) {
      expect(got[`${m}@${v}`]?.Error).toBeUndefined();
      expect({ zip: got[`${m}@${v}`]?.Sum, mod: got[`${m}@${v}`]?.GoModSum }).toEqual(origin.sums(m, v));
      expect(readFileSync(got[`${m}@${v}`]!.Zip!)).toEqual(origin.zipBytes(m, v));
    }
    expect(readFileSync(join(got['example.com/hello@v1.1.0']!.Dir!, 'sub', 'sub.go'), 'utf8')).toContain('const X = 1');
    expect(JSON.parse(readFileSync(got['example.com/hello@v1.0.0']!.Info!, 'utf8'))).toEqual({ Version: 'v1.0.0', Time: '2024-03-01T10:00:00Z' });
    // Go 1.19 case-encodes capitals as '!x' and percent-encodes the '!'
    const paths = origin.requests.map((q) => q.path);
    expect(paths).toContain('/example.com/%21upper/%21mod/@v/v0.1.0-%21r%21c1.zip');
    expect(paths).toContain('/example.com/hello/@v/v1.1.0.zip');
  });

  test('a build with a go.sum from goSumLines(): verified without any sumdb, even with the default GOSUMDB', { timeout: SLOW }, async () => {
    const { dir, env } = fresh({ GOSUMDB: 'sum.golang.org' });
    const app = join(dir, 'app');
    writeGoModule(app, { 'example.com/hello': 'v1.1.0' }, { 'main.go': 'package main\n\nimport "example.com/hello"\n\nfunc main() { println(hello.Hello()) }\n' }, { goSum: origin.goSumLines('example.com/hello', 'v1.1.0') });
    const r = await run('go', ['run', '.'], { cwd: app, env, timeoutMs: 150_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.trim().split('\n').pop()).toBe('hello v1.1.0');
  });

  test('@v/list, @latest and a version published at runtime (addVersion)', { timeout: SLOW }, async () => {
    const latest = async () => {
      const r = await run('go', ['list', '-m', '-json', 'example.com/hello@latest'], { env: fresh().env, timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).Version as string;
    };
    expect(await latest()).toBe('v1.1.0');
    origin.addVersion('example.com/hello', 'v1.2.0', { files: { 'hello.go': hello('hello v1.2.0') } });
    origin.addVersion('example.com/hello', 'v1.3.0-beta.1', { files: { 'hello.go': hello('beta') } });
    expect(await latest()).toBe('v1.2.0');
    const list = await fetch(`${origin.base}/example.com/hello/@v/list`);
    expect((await list.text()).trim().split('\n').sort()).toEqual(['v1.0.0', 'v1.1.0', 'v1.2.0', 'v1.3.0-beta.1']);
    const r = await goModDownload(fresh().env, ['example.com/hello@v1.2.0']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.modules[0]!.Sum).toBe(origin.sums('example.com/hello', 'v1.2.0').zip);
  });

  test('corrupt(): go refuses a zip with a file outside the prefix, go.sum catches other content; repair() heals', { timeout: SLOW }, async () => {
    const M = 'example.com/hello';
    origin.corrupt(M, 'v1.0.0', 'layout');
    let r = await goModDownload(fresh().env, [`${M}@v1.0.0`]);
    expect(r.code).not.toBe(0);
    expect(r.modules[0]!.Error).toMatch(/unexpected file corrupted\.txt/);

    origin.corrupt(M, 'v1.0.0', 'truncated');
    r = await goModDownload(fresh().env, [`${M}@v1.0.0`]);
    expect(r.modules[0]!.Error).toMatch(/not a valid zip file/);

    origin.corrupt(M, 'v1.0.0', 'content'); // a valid zip, only the hash tells
    const { dir, env } = fresh();
    writeGoModule(join(dir, 'app'), { [M]: 'v1.0.0' }, {}, { goSum: origin.goSumLines(M, 'v1.0.0') });
    r = await goModDownload(env, [M], join(dir, 'app'));
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(/checksum mismatch/);

    origin.repair(M, 'v1.0.0');
    r = await goModDownload(env, [M], join(dir, 'app'));
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.modules[0]!.Sum).toBe(origin.sums(M, 'v1.0.0').zip);
  });

  test('down() answers 502 or resets, up() restores; unknown and unencoded paths are 404; the sumdb lookup', { timeout: SLOW }, async () => {
    for (const mode of ['502', 'reset'] as const) {
      origin.down(mode);
      const mark = origin.requests.length;
      const r = await goModDownload(fresh().env, ['example.com/hello@v1.1.0']);
      expect(r.code).not.toBe(0);
      expect(r.modules[0]!.Error).toMatch(mode === '502' ? /502 Bad Gateway/ : /EOF|connection reset/);
      expect(origin.requests.slice(mark).map((q) => q.status)).toContain(mode === '502' ? 502 : 0);
    }
    origin.up();
    const r = await goModDownload(fresh().env, ['example.com/hello@v1.1.0']);
    expect(r.code, r.stderr + r.stdout).toBe(0);

    expect((await fetch(`${origin.base}/example.com/Upper/Mod/@v/list`)).status).toBe(404);
    expect((await fetch(`${origin.base}/example.com/!upper/!mod/@v/list`)).status).toBe(200);
    expect((await fetch(`${origin.base}/example.com/nope/@v/list`)).status).toBe(404);
    expect((await fetch(`${origin.base}/example.com/hello/@v/v9.9.9.info`)).status).toBe(404);
    const s = origin.sums('example.com/Upper/Mod', 'v0.1.0-RC1');
    const lookup = await fetch(`${origin.base}/sumdb/sum.golang.org/lookup/example.com/!upper/!mod@v0.1.0-!r!c1`);
    const lines = (await lookup.text()).split('\n');
    expect(lines.slice(1, 4)).toEqual([`example.com/Upper/Mod v0.1.0-RC1 ${s.zip}`, `example.com/Upper/Mod v0.1.0-RC1/go.mod ${s.mod}`, '']);
    expect(lines.slice(4)).toEqual([
      'go.sum database tree', String(testSumdb().size()), expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/), '',
      expect.stringMatching(/^\u2014 sum\.golang\.org [A-Za-z0-9+/]+=*$/), '',
    ]);
    expect((await fetch(`${origin.base}/sumdb/sum.golang.org/supported`)).status).toBe(404);
  });

  test('the checksum database: go verifies its signed lookups and tiles with the test key; a forged record or key is refused', { timeout: SLOW }, async () => {
    const M = 'example.com/hello';
    const sumdbEnv = () => fresh({ GOSUMDB: `${testSumdb().key} ${origin.base}/sumdb/sum.golang.org` }).env;
    const mark = origin.requests.length;
    let r = await goModDownload(sumdbEnv(), [`${M}@v1.0.0`]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const asked = origin.requests.slice(mark).map((q) => q.path);
    expect(asked).toContain('/sumdb/sum.golang.org/lookup/example.com/hello@v1.0.0');
    expect(asked.some((p) => p.startsWith('/sumdb/sum.golang.org/tile/8/0/'))).toBe(true);
    try {
      for (const how of ['record', 'key'] as const) {
        origin.corrupt(M, 'v1.0.0', 'content');
        origin.forgeLookups(how);
        r = await goModDownload(sumdbEnv(), [`${M}@v1.0.0`]);
        expect(r.code, `${how}: ${r.stderr}`).not.toBe(0);
        expect(r.modules[0]!.Error, how).toMatch(how === 'key' ? /reading tree note: note has no verifiable signatures/ : /cannot authenticate record data in server response/);
      }
    } finally {
      origin.forgeLookups(undefined);
      origin.repair(M, 'v1.0.0');
    }
  });

  test('a prefix: GOPROXY=<base>/api/go works, paths outside it are 404', { timeout: SLOW }, async () => {
    const o = await startModuleOrigin({ 'example.com/hello': { 'v1.0.0': { files: { 'hello.go': hello('prefixed') } } } }, { prefix: '/api/go' });
    try {
      expect(o.goproxy).toMatch(/\/api\/go$/);
      const r = await goModDownload(fresh({}, o.goproxy).env, ['example.com/hello@v1.0.0']);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(r.modules[0]!.Sum).toBe(o.sums('example.com/hello', 'v1.0.0').zip);
      expect((await fetch(`http://127.0.0.1:${o.port}/example.com/hello/@v/list`)).status).toBe(404);
    } finally {
      await o.close();
    }
  });
});

describe.skipIf(!HAVE.npm && !CI)('npm registry with npm install', () => {
  let reg: NpmRegistry;
  let root: string;
  let n = 0;
  const install = async (spec: string, registry = reg.registry) => {
    const dir = join(root, `run-${n++}`);
    const project = join(dir, 'project');
    writeNpmProject(project);
    const env = npmEnv(dir);
    const r = await run('npm', ['install', spec, ...npmArgs(registry, dir)], { cwd: project, env, timeoutMs: 120_000 });
    return { ...r, project, env };
  };
  const requireIn = async (project: string, env: NodeJS.ProcessEnv, what: string) => {
    const r = await run('node', ['-e', `console.log(JSON.stringify(require(${JSON.stringify(what)})))`], { cwd: project, env, timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as unknown;
  };

  beforeAll(async () => {
    if (!HAVE.npm) throw new Error('npm is not installed');
    root = tmp('npm');
    reg = await startNpmRegistry({
      'hello-fixture': { '1.0.0': {}, '1.1.0': { dependencies: { '@fixture/dep': '^2.0.0' } }, '2.0.0-beta.1': {} },
      '@fixture/dep': { '2.0.0': { files: { 'lib/x.js': 'exports.x = 42;\n' } } },
    });
  });
  afterAll(async () => {
    await reg?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test('npm install: dist-tags.latest with a scoped dependency; both packages requireable', { timeout: SLOW }, async () => {
    const r = await install('hello-fixture');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(await requireIn(r.project, r.env, 'hello-fixture')).toEqual({ name: 'hello-fixture', version: '1.1.0' });
    expect(await requireIn(r.project, r.env, '@fixture/dep/lib/x.js')).toEqual({ x: 42 });
    const paths = reg.requests.map((q) => q.path);
    expect(paths).toContain('/@fixture%2fdep'); // npm escapes the scope's slash
    expect(paths).toContain('/@fixture/dep/-/dep-2.0.0.tgz');
    expect(paths).toContain('/hello-fixture/-/hello-fixture-1.1.0.tgz');
  });

  test('the packument and tarball: dist.shasum / dist.integrity match the bytes; /-/ping; 404s', async () => {
    const doc = (await (await fetch(`${reg.base}/hello-fixture`)).json()) as any;
    expect(doc['dist-tags']).toEqual({ latest: '1.1.0' });
    expect(Object.keys(doc.versions)).toEqual(['1.0.0', '1.1.0', '2.0.0-beta.1']);
    const dist = doc.versions['1.0.0'].dist;
    expect(dist).toEqual(reg.dist('hello-fixture', '1.0.0'));
    const tgz = Buffer.from(await (await fetch(dist.tarball)).arrayBuffer());
    expect(createHash('sha1').update(tgz).digest('hex')).toBe(dist.shasum);
    expect(`sha512-${createHash('sha512').update(tgz).digest('base64')}`).toBe(dist.integrity);
    const corgi = await fetch(`${reg.base}/@fixture%2Fdep`, { headers: { accept: 'application/vnd.npm.install-v1+json' } });
    expect(corgi.headers.get('content-type')).toBe('application/vnd.npm.install-v1+json');
    expect(((await corgi.json()) as any).versions['2.0.0'].dist.tarball).toBe(`${reg.base}/@fixture/dep/-/dep-2.0.0.tgz`);
    expect(await (await fetch(`${reg.base}/-/ping`)).json()).toEqual({});
    expect((await fetch(`${reg.base}/nope`)).status).toBe(404);
    expect((await fetch(`${reg.base}/hello-fixture/-/hello-fixture-9.9.9.tgz`)).status).toBe(404);
  });

  test('addVersion moves latest; corrupt() fails npm with EINTEGRITY, repair() heals; down()/up()', { timeout: SLOW }, async () => {
    reg.addVersion('hello-fixture', '1.2.0', { indexJs: 'module.exports = "one point two";\n' });
    let r = await install('hello-fixture');
    expect(r.code, r.stderr).toBe(0);
    expect(await requireIn(r.project, r.env, 'hello-fixture')).toBe('one point two');

    reg.corrupt('hello-fixture', '1.0.0', 'content');
    r = await install('hello-fixture@1.0.0');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/EINTEGRITY/);
    reg.repair('hello-fixture', '1.0.0');

    reg.down('502');
    r = await install('hello-fixture@1.0.0');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/502/);
    reg.up();
    r = await install('hello-fixture@1.0.0');
    expect(r.code, r.stderr).toBe(0);
    expect(await requireIn(r.project, r.env, 'hello-fixture')).toEqual({ name: 'hello-fixture', version: '1.0.0' });
  });
});

describe.skipIf(!HAVE.pip && !CI)('PyPI simple index with pip', () => {
  let index: PypiIndex;
  let root: string;
  let n = 0;
  const pip = async (args: string[]) => {
    const dir = join(root, `run-${n++}`);
    const env = pipEnv(dir);
    const r = await run('python3', args.map((a) => a.replace('{dir}', dir)), { env, timeoutMs: 120_000 });
    return { ...r, dir, env };
  };
  const download = (reqs: string[], more: string[] = [], indexUrl = index.indexUrl) => pip(pipDownloadArgs(indexUrl, '{dir}/dl', reqs, more));

  beforeAll(async () => {
    if (!HAVE.pip) throw new Error('python3 -m pip is not available');
    root = tmp('pip');
    index = await startPypiIndex({
      'Hello.Fixture': { '1.0.0': { sdist: true, requiresPython: '>=3.7' }, '1.1.0': { requires: ['dep-fixture>=2'] } },
      dep_fixture: { '2.0.0': { modules: { 'dep_fixture.py': 'ANSWER = 42\n' } } },
    });
  });
  afterAll(async () => {
    await index?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test('pip download --no-deps writes the wheel (the served bytes); pip installs it and python imports it', { timeout: SLOW }, async () => {
    const r = await download(['hello-fixture==1.0.0', '--no-deps']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const wheel = index.files('hello-fixture', '1.0.0')[0]!;
    const file = join(r.dir, 'dl', wheel.filename);
    expect(readdirSync(join(r.dir, 'dl'))).toEqual([wheel.filename]);
    expect(sha256(readFileSync(file))).toBe(wheel.sha256);
    // pip 23 asks for the PEP 691 JSON page and the PEP 658 metadata first
    expect(index.requests.some((q) => q.path === '/simple/hello-fixture/' && /vnd\.pypi\.simple\.v1\+json/.test(q.accept ?? ''))).toBe(true);
    expect(index.requests.map((q) => q.path)).toContain(`/files/${wheel.filename}.metadata`);

    const target = join(r.dir, 'site');
    const inst = await pip(['-m', 'pip', 'install', '--no-index', '--no-deps', '--no-cache-dir', '--target', target, file]);
    expect(inst.code, inst.stderr).toBe(0);
    const py = await run('python3', ['-c', 'import hello_fixture; print(hello_fixture.__version__)'], { env: { ...inst.env, PYTHONPATH: target }, timeoutMs: 30_000 });
    expect(py.stdout.trim(), py.stderr).toBe('1.0.0');
  });

  test('dependencies (Requires-Dist), a non-normalized name, and an HTML-only index with absolute URLs', { timeout: SLOW }, async () => {
    let r = await download(['Hello.Fixture==1.1.0']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(readdirSync(join(r.dir, 'dl')).sort()).toEqual(['dep_fixture-2.0.0-py3-none-any.whl', 'hello_fixture-1.1.0-py3-none-any.whl']);

    const html = await startPypiIndex({ 'hello-fixture': { '3.0.0': {} } }, { pep691: false, absoluteUrls: true });
    try {
      r = await download(['hello-fixture', '--no-deps'], [], html.indexUrl);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(readdirSync(join(r.dir, 'dl'))).toEqual(['hello_fixture-3.0.0-py3-none-any.whl']);
      const page = await fetch(`${html.indexUrl}/hello-fixture/`, { headers: { accept: 'application/vnd.pypi.simple.v1+json' } });
      expect(page.headers.get('content-type')).toBe('application/vnd.pypi.simple.v1+html');
      expect(await page.text()).toContain(`href="${html.base}/files/hello_fixture-3.0.0-py3-none-any.whl#sha256=`);
    } finally {
      await html.close();
    }
    const redirect = await fetch(`${index.indexUrl}/Hello.Fixture`, { redirect: 'manual' });
    expect([redirect.status, redirect.headers.get('location')]).toEqual([301, `${index.indexUrl}/hello-fixture/`]);
  });

  test('the sdist: pip download --no-binary prepares its metadata offline, pip builds and installs it', { timeout: SLOW }, async () => {
    const r = await download(['hello-fixture==1.0.0', '--no-deps'], ['--no-binary=:all:']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const sdist = index.files('hello-fixture', '1.0.0')[1]!;
    expect(readdirSync(join(r.dir, 'dl'))).toEqual([sdist.filename]);
    expect(sha256(readFileSync(join(r.dir, 'dl', sdist.filename)))).toBe(sdist.sha256);
    const target = join(r.dir, 'site');
    const inst = await pip(['-m', 'pip', 'install', '--no-index', '--no-deps', '--no-cache-dir', '--target', target, join(r.dir, 'dl', sdist.filename)]);
    expect(inst.code, inst.stderr + inst.stdout).toBe(0);
    expect(existsSync(join(target, 'hello_fixture', '__init__.py'))).toBe(true);
  });

  test('addVersion is listed; corrupt() fails pip on the hash, repair() heals; down()/up()', { timeout: SLOW }, async () => {
    index.addVersion('hello-fixture', '1.2.0');
    let r = await download(['hello-fixture', '--no-deps']);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(join(r.dir, 'dl'))).toEqual(['hello_fixture-1.2.0-py3-none-any.whl']);

    index.corrupt('hello-fixture', '1.0.0', 'content');
    r = await download(['hello-fixture==1.0.0', '--no-deps']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/DO NOT MATCH THE HASHES/);
    index.repair('hello-fixture', '1.0.0');

    index.down('reset');
    r = await download(['hello-fixture==1.0.0', '--no-deps']);
    expect(r.code).not.toBe(0);
    index.up();
    r = await download(['hello-fixture==1.0.0', '--no-deps']);
    expect(r.code, r.stderr).toBe(0);
  });
});
