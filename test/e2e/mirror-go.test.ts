// `go mod download` (Go from Debian) through proxyd's goproxy mirror, as the seed guide's user
// runs it: GOPROXY=http://127.0.0.1:PORT/go. The mirror's first upstream is dead, its second is
// a local module origin standing in for goproxy.cn, and the "origin" (proxy.golang.org) is a third,
// reached through fallback: DIRECT.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { CacheVerify, Health, Stats } from '../../src/control/api.js';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { CI, goEnv, goModDownload, haveGo, writeGoModule } from '../fixtures/mirror-clients.js';
import { startModuleOrigin, testSumdb, type ModuleOrigin } from '../fixtures/module-origin.js';
import { proxyctl, proxyctlJson } from '../fixtures/proxyctl.js';
import { curl } from '../fixtures/run.js';
import { missingBinaries, startMicrosocks } from '../fixtures/upstreams.js';

const SLOW = 180_000;
/** the test checksum database's key: the mirror trusts what it signs */
const SUMDB_KEY = testSumdb().key;
const HAVE_GO = haveGo();
if (!HAVE_GO && !CI) console.warn('mirror-go: skipping: go is not installed (Debian golang-go)');

const hello = (text: string) => `package hello\n\nfunc Hello() string { return ${JSON.stringify(text)} }\n`;
const MODULES = {
  'example.com/hello': {
    'v1.0.0': { files: { 'hello.go': hello('v1.0.0') } },
    'v1.1.0': { files: { 'hello.go': hello('v1.1.0') } },
  },
  'example.com/Upper/Mod': { 'v0.1.0-RC1': { files: { 'mod.go': 'package mod\n' } } },
};

describe.skipIf(!HAVE_GO && !CI)('go mod download through the goproxy mirror', () => {
  let root: string;
  let origin: ModuleOrigin;
  let mirror: ModuleOrigin;
  let d: TestDaemon;
  let runs = 0;
  /** a Go client with an empty module cache, GOPROXY at proxyd */
  const client = () => goEnv(join(root, `go-${runs++}`), `http://127.0.0.1:${d.httpPort}/go`);
  const config = (cacheDir: string) => `mirrors:
  - name: go
    kind: goproxy
    sumdb-key: '${SUMDB_KEY}'
    path: /go
    upstreams: [http://127.0.0.1:1, ${mirror.goproxy}]
    origins: [${origin.goproxy}]
    fallback: DIRECT
    check: { interval: 1h, timeout: 2s }
cache: { dir: ${cacheDir}, max-size: 64MiB }
rules:
  - MATCH,DIRECT
`;
  const zipFetches = (o: ModuleOrigin, module: string, version: string) => o.requests.filter((r) => r.path.endsWith(`/@v/${version}.zip`) && r.path.includes(module)).length;

  beforeAll(async () => {
    if (!HAVE_GO) throw new Error('go is not installed; CI must install the Debian "golang-go" package');
    root = mkdtempSync(join(tmpdir(), 'proxyd-mirror-go-'));
    origin = await startModuleOrigin(structuredClone(MODULES));
    mirror = await startModuleOrigin(structuredClone(MODULES));
    d = await startTestDaemon(config(join(root, 'cache')));
  });
  afterAll(async () => {
    await d?.stop({ now: true });
    await origin?.close();
    await mirror?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });
  afterEach(() => {
    origin.up();
    mirror.up();
  });

  test('the first upstream dead: downloads come from the second, with the right go.sum hashes', { timeout: SLOW }, async () => {
    const r = await goModDownload(client(), ['example.com/hello@v1.0.0', 'example.com/Upper/Mod@v0.1.0-RC1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.modules.map((m) => [m.Path, m.Version, m.Sum, m.GoModSum, m.Error])).toEqual([
      ['example.com/hello', 'v1.0.0', origin.sums('example.com/hello', 'v1.0.0').zip, origin.sums('example.com/hello', 'v1.0.0').mod, undefined],
      ['example.com/Upper/Mod', 'v0.1.0-RC1', origin.sums('example.com/Upper/Mod', 'v0.1.0-RC1').zip, origin.sums('example.com/Upper/Mod', 'v0.1.0-RC1').mod, undefined],
    ]);
    expect(zipFetches(mirror, 'hello', 'v1.0.0')).toBe(1);
    expect(zipFetches(origin, 'hello', 'v1.0.0')).toBe(0); // the mirror had it: the origin was not asked for it
    const health = await proxyctlJson(d.controlPath!, ['mirrors'], Health);
    const members = health.groups[0]!.members;
    expect(members.map((m) => m.name)).toEqual(['127.0.0.1:1', mirror.goproxy.replace('http://', ''), `${origin.goproxy.replace('http://', '')} (origin)`]);
    expect(members[0]!.errors.refused).toBeGreaterThan(0);
    expect(members[1]!.counters!.hits).toBeGreaterThanOrEqual(3); // .info, .mod, .zip at least
  });

  test('with the mirror and the origin gone, a fresh module cache is served from proxyd\'s disk cache, after a restart too', { timeout: SLOW }, async () => {
    const first = await goModDownload(client(), ['example.com/hello@v1.0.0']);
    expect(first.code, first.stderr).toBe(0);
    // a new daemon on the same cache directory: nothing in memory, everything on disk
    await d.stop({ now: true });
    d = await startTestDaemon(config(join(root, 'cache')));
    mirror.down('reset');
    origin.down('502');
    const artifacts = () => [...mirror.requests, ...origin.requests].filter((r) => r.path.includes('/@v/v1.0.0.')).length;
    const asked = artifacts();
    const again = await goModDownload(client(), ['example.com/hello@v1.0.0']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.modules[0]!.Sum).toBe(origin.sums('example.com/hello', 'v1.0.0').zip);
    expect(artifacts()).toBe(asked); // no artifact was asked upstream (the restarted mirror's health check may have been)
  });

  test('a version just published at the origin, which no mirror has yet, is found through fallback', { timeout: SLOW }, async () => {
    origin.addVersion('example.com/hello', 'v1.2.0', { files: { 'hello.go': hello('v1.2.0') } });
    const latest = await goModDownload(client(), ['example.com/hello@latest']);
    expect(latest.code, latest.stderr).toBe(0);
    expect(latest.modules.map((m) => [m.Version, m.Sum])).toEqual([['v1.2.0', origin.sums('example.com/hello', 'v1.2.0').zip]]);
    const list = await curl([`http://127.0.0.1:${d.httpPort}/go/example.com/hello/@v/list`]);
    expect(list.stdout).toBe('v1.0.0\nv1.1.0\nv1.2.0\n'); // the union of the mirror's list and the origin's
    const health = await proxyctlJson(d.controlPath!, ['mirrors'], Health);
    expect(health.groups[0]!.members[1]!.counters!.behind).toBeGreaterThanOrEqual(1);
  });

  test('a zip whose hash the checksum database contradicts is refused from that mirror and served from the next', { timeout: SLOW }, async () => {
    mirror.corrupt('example.com/hello', 'v1.1.0', 'content'); // a valid zip with another h1: hash
    const dir = join(root, 'app');
    writeGoModule(dir, { 'example.com/hello': 'v1.1.0' }, {}, { goSum: origin.goSumLines('example.com/hello', 'v1.1.0') });
    const r = await goModDownload(client(), ['example.com/hello'], dir);
    expect(r.code, r.stderr).toBe(0); // go checks the go.sum: the bytes are the origin's
    expect(r.modules[0]!.Sum).toBe(origin.sums('example.com/hello', 'v1.1.0').zip);
    expect(zipFetches(origin, 'hello', 'v1.1.0')).toBe(1);
    await expect.poll(() => d.logs.find((l) => String(l.msg).includes('served a bad artifact'))).toMatchObject({ mirror: 'go', upstream: mirror.goproxy.replace('http://', '') });
  });

  test('a zip outside module@version/ is refused before any byte reaches the client', { timeout: SLOW }, async () => {
    origin.addVersion('example.com/hello', 'v1.3.0', { files: { 'hello.go': hello('v1.3.0') } });
    mirror.addVersion('example.com/hello', 'v1.3.0', { files: { 'hello.go': hello('v1.3.0') } });
    mirror.corrupt('example.com/hello', 'v1.3.0', 'layout');
    const r = await goModDownload(client(), ['example.com/hello@v1.3.0']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.modules[0]!.Sum).toBe(origin.sums('example.com/hello', 'v1.3.0').zip);
  });

  test('50 clients asking for one zip at once make one upstream fetch, and all get the same bytes', async () => {
    origin.addVersion('example.com/hello', 'v1.4.0', { files: { 'hello.go': hello('v1.4.0') } });
    mirror.addVersion('example.com/hello', 'v1.4.0', { files: { 'hello.go': hello('v1.4.0') } });
    const url = `http://127.0.0.1:${d.httpPort}/go/example.com/hello/@v/v1.4.0.zip`;
    const answers = await Promise.all(Array.from({ length: 50 }, () => fetch(url).then(async (r) => [r.status, Buffer.from(await r.arrayBuffer()).toString('base64')] as const)));
    const want = origin.zipBytes('example.com/hello', 'v1.4.0').toString('base64');
    expect(answers.filter(([s, body]) => s === 200 && body === want)).toHaveLength(50);
    expect(zipFetches(mirror, 'hello', 'v1.4.0') + zipFetches(origin, 'hello', 'v1.4.0')).toBe(1);
  });

  test('an upstream that forges its checksum-database lookup (a record under the real signed tree, or a tree signed by another key) has its zip refused; nothing of it is cached', { timeout: SLOW }, async () => {
    const M = 'example.com/hello';
    try {
      for (const [how, version] of [['record', 'v1.5.0'], ['key', 'v1.6.0']] as const) {
        origin.addVersion(M, version, { files: { 'hello.go': hello(version) } });
        mirror.addVersion(M, version, { files: { 'hello.go': hello(version) } });
        mirror.corrupt(M, version, 'content');
        mirror.forgeLookups(how);
        // GOSUMDB=off and no go.sum: proxyd's check is all that stands between this client and the forged zip
        const r = await goModDownload(client(), [`${M}@${version}`]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.modules[0]!.Sum, how).toBe(origin.sums(M, version).zip);
        const refused = d.logs.filter((l) => l.upstream === mirror.goproxy.replace('http://', '') && l.path === `/sumdb/sum.golang.org/lookup/${M}@${version}`
          && String(l.msg).includes("a lookup that does not verify against sum.golang.org's key"));
        expect(refused.length, how).toBeGreaterThan(0);
        // what the cache holds is the origin's zip: asked again with both upstreams gone, the same bytes
        mirror.down('reset');
        origin.down('502');
        const again = await fetch(`http://127.0.0.1:${d.httpPort}/go/${M}/@v/${version}.zip`);
        expect(again.status).toBe(200);
        expect(Buffer.from(await again.arrayBuffer()).equals(origin.zipBytes(M, version)), how).toBe(true);
        mirror.up();
        origin.up();
      }
    } finally {
      mirror.forgeLookups(undefined);
    }
  });

  test('bad input: a path that is not case-encoded is 400 before any upstream is asked; a path outside the mirrors is 404 naming them', async () => {
    const asked = mirror.requests.length + origin.requests.length;
    const upper = await curl(['-w', '\n%{http_code}', `http://127.0.0.1:${d.httpPort}/go/example.com/Upper/Mod/@v/list`]);
    expect(upper.stdout).toBe('go: "example.com/Upper/Mod" is not a case-encoded module path (upper case is written !x)\n\n400');
    const dots = await curl(['--path-as-is', '-w', '\n%{http_code}', `http://127.0.0.1:${d.httpPort}/go/example.com/../x/@v/list`]);
    expect(dots.stdout.split('\n').pop()).toBe('400');
    expect(mirror.requests.length + origin.requests.length).toBe(asked);
    const elsewhere = await curl(['-w', '\n%{http_code}', `http://127.0.0.1:${d.httpPort}/pypi/simple/x/`]);
    expect(elsewhere.stdout).toBe('proxyd: no mirror endpoint at /pypi/simple/x/ (mirrors are at /go) (protocol)\n\n404');
  });
});

describe.skipIf(!HAVE_GO && !CI)('upstreams and a cache that lie', () => {
  test('an upstream that answers every path with 200 and an HTML page (a captive portal) is passed over', { timeout: SLOW }, async () => {
    const root = mkdtempSync(join(tmpdir(), 'proxyd-mirror-portal-'));
    const portal = createServer((_req, res) => res.end('<html>please log in</html>'));
    await new Promise<void>((r) => portal.listen(0, '127.0.0.1', r));
    const mirror = await startModuleOrigin(structuredClone(MODULES));
    const d = await startTestDaemon(`mirrors:
  - { name: go, kind: goproxy, sumdb-key: '${SUMDB_KEY}', upstreams: ['http://127.0.0.1:${(portal.address() as AddressInfo).port}', '${mirror.goproxy}'], check: { interval: 1h } }
cache: { dir: ${join(root, 'cache')} }
`);
    try {
      const r = await goModDownload(goEnv(join(root, 'go'), `http://127.0.0.1:${d.httpPort}/go`), ['example.com/hello@latest', 'example.com/hello@v1.0.0']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.modules.map((m) => [m.Version, m.Sum])).toEqual([
        ['v1.1.0', mirror.sums('example.com/hello', 'v1.1.0').zip],
        ['v1.0.0', mirror.sums('example.com/hello', 'v1.0.0').zip],
      ]);
      const bad = d.logs.filter((l) => String(l.msg).includes('served a bad')).map((l) => String(l.msg).replace(/^go: [^ ]+ /, ''));
      expect(bad).toContain('served a bad answer (a version list with "<html>please log in</html>" in it); trying the next');
      expect(bad).toContain('served a bad artifact (its .info is not JSON); trying the next');
      // its checksum-database lookup is a page too: not signed, so not believed
      expect(bad).toContain("served a bad artifact (a lookup that does not verify against sum.golang.org's key: not a checksum database lookup (record id, go.sum lines, signed tree)); trying the next");
    } finally {
      await d.stop({ now: true });
      await mirror.close();
      portal.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('a large cached zip that went bad on disk is quarantined and served from upstream after a restart', { timeout: SLOW }, async () => {
    const root = mkdtempSync(join(tmpdir(), 'proxyd-mirror-rot-'));
    const big = { 'example.com/big': { 'v1.0.0': { files: { 'big.go': 'package big\n', 'data.bin': randomBytes(3 * 1024 * 1024) } } } };
    const mirror = await startModuleOrigin(big);
    const conf = `mirrors:\n  - { name: go, kind: goproxy, sumdb-key: '${SUMDB_KEY}', upstreams: ['${mirror.goproxy}'], check: { interval: 1h } }\ncache: { dir: ${join(root, 'cache')} }\n`;
    let d = await startTestDaemon(conf);
    try {
      const get = async () => {
        const r = await goModDownload(goEnv(join(root, `go-${Math.random()}`), `http://127.0.0.1:${d.httpPort}/go`), ['example.com/big@v1.0.0']);
        expect(r.code, r.stderr).toBe(0);
        return r.modules[0]!.Sum;
      };
      expect(await get()).toBe(mirror.sums('example.com/big', 'v1.0.0').zip);
      await d.stop({ now: true });
      const file = join(root, 'cache', 'objects', createHash('sha256').update('go go example.com/big@v1.0.0.zip') /* the mirror's name, then its key */.digest('hex'));
      const bytes = readFileSync(file);
      bytes[bytes.length >> 1] ^= 0xff;
      writeFileSync(file, bytes);
      d = await startTestDaemon(conf);
      const zips = () => mirror.requests.filter((r) => r.path.endsWith('v1.0.0.zip')).length;
      const before = zips();
      expect(await get()).toBe(mirror.sums('example.com/big', 'v1.0.0').zip);
      expect(zips()).toBe(before + 1); // fetched again
      // found when the restarted daemon opened its cache: the file's mtime is not the one stored
      expect(d.logs.filter((l) => l.corrupt === 1 && String(l.msg).startsWith('artifact cache: 1 corrupt entry quarantined'))).toHaveLength(1);
      expect(readdirSync(join(root, 'cache', 'quarantine'))).toHaveLength(2);
    } finally {
      await d.stop({ now: true });
      await mirror.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('proxyctl cache verify', () => {
  test('bits changed in place with the mtime put back: reads cannot tell, cache verify hashes, reports and quarantines them', async () => {
    const root = mkdtempSync(join(tmpdir(), 'proxyd-mirror-verify-'));
    const mirror = await startModuleOrigin(structuredClone(MODULES));
    const d = await startTestDaemon(`mirrors:\n  - { name: go, kind: goproxy, sumdb-key: '${SUMDB_KEY}', upstreams: ['${mirror.goproxy}'], check: { interval: 1h } }\ncache: { dir: ${join(root, 'cache')} }\n`);
    try {
      const zipUrl = `http://127.0.0.1:${d.httpPort}/go/example.com/hello/@v/v1.0.0.zip`;
      expect((await fetch(zipUrl)).status).toBe(200);
      const clean = await proxyctl(d.controlPath!, ['cache', 'verify']);
      expect(clean.code, clean.stderr).toBe(0);
      expect(clean.stdout).toMatch(/^\d+ cached artifacts \(.+\) in .+ hashed in [\d.]+ s: every one as stored\n$/);
      const file = join(root, 'cache', 'objects', createHash('sha256').update('go go example.com/hello@v1.0.0.zip').digest('hex'));
      const before = statSync(file);
      const bytes = readFileSync(file);
      bytes[bytes.length >> 1] ^= 0xff;
      writeFileSync(file, bytes);
      utimesSync(file, before.atime, before.mtime);
      const found = await proxyctl(d.controlPath!, ['cache', 'verify', '--json']);
      expect(found.code).toBe(1);
      expect(CacheVerify.parse(JSON.parse(found.stdout)).bad).toEqual([{ key: 'go go example.com/hello@v1.0.0.zip', problem: 'sha256 mismatch' }]);
      expect(readdirSync(join(root, 'cache', 'quarantine'))).toHaveLength(2);
      const after = CacheVerify.parse(JSON.parse((await proxyctl(d.controlPath!, ['cache', 'verify', '--json'])).stdout));
      expect(after).toMatchObject({ checked: CacheVerify.parse(JSON.parse(found.stdout)).checked - 1, bad: [] });
      // what clients get is the zip as verified (this one from memory, a large one fetched again)
      const again = await fetch(zipUrl);
      expect(Buffer.from(await again.arrayBuffer()).equals(mirror.zipBytes('example.com/hello', 'v1.0.0'))).toBe(true);
    } finally {
      await d.stop({ now: true });
      await mirror.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('requests that try to step outside the mirror', () => {
  test('encoded dot segments, a backslash and double encoding are 400 before any upstream is asked; a lookup of the checksum database passes', async () => {
    const mirror = await startModuleOrigin(structuredClone(MODULES), { prefix: '/base' });
    const d = await startTestDaemon(`mirrors:\n  - { name: go, kind: goproxy, sumdb-key: '${SUMDB_KEY}', upstreams: ['${mirror.goproxy}'], check: { interval: 1h } }\ncache: { dir: ${join(mkdtempSync(join(tmpdir(), 'proxyd-mirror-dots-')), 'c')} }\n`);
    try {
      const asked = () => mirror.requests.filter((r) => r.path !== '/base/').length;
      for (const path of ['/go/%2e%2e/%2e%2e/secret/@v/list', '/go/example.com/%252e%252e/x/@v/list', '/go/example.com/..%5c..%5cx/@v/list', '/go/sumdb/sum.golang.org/tile/%2e%2e/x']) {
        const r = await curl(['--path-as-is', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${d.httpPort}${path}`]);
        expect({ path, status: r.stdout }).toEqual({ path, status: '400' });
      }
      expect(asked()).toBe(0);
      // the checksum database's answers are passed on (the go command checks their signatures itself)
      const lookup = await curl(['-w', '%{http_code}', `http://127.0.0.1:${d.httpPort}/go/sumdb/sum.golang.org/lookup/example.com/hello@v1.0.0`]);
      expect(lookup.stdout).toContain(mirror.goSumLines('example.com/hello', 'v1.0.0'));
      expect(lookup.stdout.endsWith('200')).toBe(true);
    } finally {
      await d.stop({ now: true });
      await mirror.close();
    }
  });

  test('a Host that names another site (DNS rebinding from a browser) is 403; an upstream that redirects to an IP address is passed over', async () => {
    const mirror = await startModuleOrigin(structuredClone(MODULES));
    const redirector = createServer((req, res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${mirror.port}${req.url}` });
      res.end();
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    const d = await startTestDaemon(`mirrors:\n  - { name: go, kind: goproxy, sumdb-key: '${SUMDB_KEY}', upstreams: ['http://127.0.0.1:${(redirector.address() as AddressInfo).port}', '${mirror.goproxy}'], check: { interval: 1h } }\ncache: { dir: ${join(mkdtempSync(join(tmpdir(), 'proxyd-mirror-host-')), 'c')} }\n`);
    try {
      const rebound = await curl(['-H', 'Host: evil.example:8080', '-w', '\n%{http_code}', `http://127.0.0.1:${d.httpPort}/go/example.com/hello/@v/list`]);
      expect(rebound.stdout).toBe('go: a mirror endpoint answers requests for localhost or an IP address (Host names another site: DNS rebinding?)\n\n403');
      const local = await curl(['-H', `Host: localhost:${d.httpPort}`, `http://127.0.0.1:${d.httpPort}/go/example.com/hello/@v/list`]);
      expect(local.stdout).toBe('v1.0.0\nv1.1.0\n');
      const health = await proxyctlJson(d.controlPath!, ['mirrors'], Health);
      expect(health.groups[0]!.members[0]!.errors.protocol).toBeGreaterThan(0); // the redirect was refused as that upstream's failure
    } finally {
      await d.stop({ now: true });
      await mirror.close();
      redirector.close();
    }
  });

  test('a client that leaves in the middle of a large cached file: its session ends, nothing stays open', async () => {
    const big = { 'example.com/big': { 'v1.0.0': { files: { 'big.go': 'package big\n', 'data.bin': randomBytes(6 * 1024 * 1024) } } } };
    const mirror = await startModuleOrigin(big);
    const d = await startTestDaemon(`mirrors:\n  - { name: go, kind: goproxy, sumdb-key: '${SUMDB_KEY}', upstreams: ['${mirror.goproxy}'], check: { interval: 1h } }\ncache: { dir: ${join(mkdtempSync(join(tmpdir(), 'proxyd-mirror-leave-')), 'c')} }\n`);
    try {
      const url = `http://127.0.0.1:${d.httpPort}/go/example.com/big/@v/v1.0.0.zip`;
      expect((await curl(['-o', '/dev/null', '-w', '%{http_code}', url])).stdout).toBe('200'); // cached now
      for (let i = 0; i < 2; i++) { // the first read checks the file whole, the second streams it
        const s = connect(d.httpPort, '127.0.0.1');
        await once(s, 'connect');
        s.write(`GET /go/example.com/big/@v/v1.0.0.zip HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
        await once(s, 'data');
        s.destroy();
        await expect.poll(() => d.engine.open.size).toBe(0);
      }
      expect(d.engine.stats.routes().map((r) => [r.name, r.active])).toEqual([['go', 0]]);
    } finally {
      await d.stop({ now: true });
      await mirror.close();
    }
  });
});

describe('clients that name the origin host instead of the endpoint', () => {
  test('an absolute-URI request for a mirrored host is answered by the mirror; a CONNECT to it goes through fallback', async () => {
    const mirror = await startModuleOrigin(structuredClone(MODULES));
    const origin = await startModuleOrigin(structuredClone(MODULES));
    const d = await startTestDaemon(`hosts: { goproxy.test: 127.0.0.1 }
mirrors:
  - { name: go, kind: goproxy, sumdb-key: '${SUMDB_KEY}', path: /go, upstreams: ['${mirror.goproxy}'], origins: ['http://goproxy.test:${origin.port}'], check: { interval: 1h } }
cache: { dir: ${join(mkdtempSync(join(tmpdir(), 'proxyd-mirror-host-')), 'cache')} }
rules:
  - DOMAIN,goproxy.test,go
  - MATCH,REJECT
`);
    try {
      const forwarded = await curl(['-x', `http://127.0.0.1:${d.httpPort}`, `http://goproxy.test:${origin.port}/example.com/hello/@v/list`]);
      expect(forwarded.stdout).toBe('v1.0.0\nv1.1.0\n');
      expect(mirror.requests.map((r) => r.path)).toContain('/example.com/hello/@v/list'); // the mirror answered it
      await expect.poll(() => d.logs.findLast((l) => l.msg === 'request')).toMatchObject({ mode: 'forward', route: 'go', rule: 'DOMAIN,goproxy.test,go' });
      const asked = origin.requests.length;
      const tunnelled = await curl(['-p', '-x', `http://127.0.0.1:${d.httpPort}`, `http://goproxy.test:${origin.port}/example.com/hello/@v/v1.0.0.info`]);
      expect(JSON.parse(tunnelled.stdout)).toMatchObject({ Version: 'v1.0.0' });
      expect(origin.requests.length).toBe(asked + 1); // the tunnel reached the origin itself
      await expect.poll(() => d.logs.findLast((l) => l.msg === 'connection')).toMatchObject({ mode: 'tunnel', route: 'go/DIRECT' });
    } finally {
      await d.stop({ now: true });
      await mirror.close();
      await origin.close();
    }
  });

  test('only GET and HEAD: a POST to a mirror is 405', async () => {
    const mirror = await startModuleOrigin(structuredClone(MODULES));
    const d = await startTestDaemon(`mirrors:\n  - { name: go, kind: goproxy, sumdb-key: '${SUMDB_KEY}', upstreams: ['${mirror.goproxy}'] }\ncache: { dir: ${join(mkdtempSync(join(tmpdir(), 'proxyd-mirror-m-')), 'c')} }\n`);
    try {
      const post = await curl(['-X', 'POST', '-d', 'x', '-w', '\n%{http_code}', `http://127.0.0.1:${d.httpPort}/go/example.com/hello/@v/list`]);
      expect(post.stdout).toBe('go: a mirror answers GET and HEAD only\n\n405');
      const head = await curl(['-I', `http://127.0.0.1:${d.httpPort}/go/example.com/hello/@v/list`]);
      expect(head.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    } finally {
      await d.stop({ now: true });
      await mirror.close();
    }
  });
});

describe.skipIf(!HAVE_GO && !CI)('an unwritable cache directory', () => {
  test('every download is still served from upstream, and the failure is logged once', { timeout: SLOW }, async () => {
    const root = mkdtempSync(join(tmpdir(), 'proxyd-mirror-ro-'));
    const mirror = await startModuleOrigin(structuredClone(MODULES));
    writeFileSync(join(root, 'not-a-dir'), 'a file where the cache directory should be');
    const d = await startTestDaemon(`mirrors:
  - { name: go, kind: goproxy, sumdb-key: '${SUMDB_KEY}', path: /go, upstreams: ['${mirror.goproxy}'], check: { interval: 1h } }
cache: { dir: ${join(root, 'not-a-dir', 'cache')} }
rules:
  - MATCH,DIRECT
`);
    try {
      for (let i = 0; i < 2; i++) {
        const r = await goModDownload(goEnv(join(root, `go-${i}`), `http://127.0.0.1:${d.httpPort}/go`), ['example.com/hello@v1.0.0']);
        expect(r.code, r.stderr).toBe(0);
        expect(r.modules[0]!.Sum).toBe(mirror.sums('example.com/hello', 'v1.0.0').zip);
      }
      // nothing could be kept on disk; the small zip was kept in memory, so the mirror was asked once
      expect(mirror.requests.filter((r) => r.path.endsWith('v1.0.0.zip'))).toHaveLength(1);
      expect(d.logs.filter((l) => l.level === 40 && /cache/i.test(String(l.msg)))).toHaveLength(1);
    } finally {
      await d.stop({ now: true });
      await mirror.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe.skipIf(missingBinaries('microsocks').length > 0 && !CI)('the mirror\'s own fetches go through a route', () => {
  test('via: a SOCKS5 proxy carries every fetch from the upstream; proxyctl stats times them under go/UPSTREAM', { timeout: SLOW }, async () => {
    const ms = await startMicrosocks();
    const root = mkdtempSync(join(tmpdir(), 'proxyd-mirror-via-'));
    const mirror = await startModuleOrigin(structuredClone(MODULES));
    const d = await startTestDaemon(`proxies:
  - { name: overseas, type: socks5, server: ${ms.server} }
mirrors:
  - { name: go, kind: goproxy, sumdb-key: '${SUMDB_KEY}', upstreams: ['${mirror.goproxy}'], via: overseas, check: { interval: 1h } }
cache: { dir: ${join(root, 'c')} }
`);
    try {
      const url = `http://127.0.0.1:${d.httpPort}/go/example.com/hello/@v/v1.0.0.zip`;
      const zip = await fetch(url);
      expect(zip.status).toBe(200);
      expect(Buffer.from(await zip.arrayBuffer()).equals(mirror.zipBytes('example.com/hello', 'v1.0.0'))).toBe(true);
      expect(ms.output()).toContain(`connected to 127.0.0.1:${mirror.port}`);
      const stats = await proxyctlJson(d.controlPath!, ['stats'], Stats);
      const row = stats.upstreams.find((u) => u.name === `go/127.0.0.1:${mirror.port}`);
      // the zip, and the checksum-database lookup and tiles that verified it
      const asked = mirror.requests.filter((r) => r.path !== '/').length;
      expect(asked).toBeGreaterThanOrEqual(3);
      expect(row).toMatchObject({ connections: asked, active: 0, errors: expect.objectContaining({ refused: 0 }) });
      expect(row!.bytesDown).toBeGreaterThan(mirror.zipBytes('example.com/hello', 'v1.0.0').length);
      expect(row!.connectMs.lifetime.count).toBeGreaterThanOrEqual(1);
      expect(row!.ttfbMs.lifetime.count).toBe(asked);
    } finally {
      await d.stop({ now: true });
      await mirror.close();
      await ms.stop();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
