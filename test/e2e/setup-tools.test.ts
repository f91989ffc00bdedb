// After `proxyctl setup all` on a throwaway HOME, the tools' own commands go through proxyd with
// no other setting: git clone over https (a local git server behind TLS, named github.test) and
// http, go mod download, npm install and pip download from proxyd's mirrors. Each is checked in
// proxyd's log (the route that carried it) and at the fixture (what it was asked).
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcp, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { startGitServer, seedRepo, type GitServer, type SeededRepo } from '../fixtures/git-server.js';
import { startModuleOrigin, testSumdb, type ModuleOrigin } from '../fixtures/module-origin.js';
import { startNpmRegistry, type NpmRegistry } from '../fixtures/npm-registry.js';
import { proxyctl } from '../fixtures/proxyctl.js';
import { startPypiIndex, type PypiIndex } from '../fixtures/pypi-index.js';
import { run } from '../fixtures/run.js';
import { missingTools, userHome, type UserHome } from '../fixtures/user-home.js';

const missing = missingTools(['git', 'go', 'npm', 'pip']);

describe.skipIf(missing.length)(`the tools after proxyctl setup all${missing.length ? ` (skipped: ${missing.join(', ')} missing)` : ''}`, () => {
  let root: string;
  let repo: SeededRepo;
  let gitServer: GitServer;
  let tls: ReturnType<typeof createTlsServer>;
  let go: ModuleOrigin;
  let npm: NpmRegistry;
  let pypi: PypiIndex;
  let d: TestDaemon;
  let user: UserHome;
  const tool = (argv: string[], cwd = user.home) => run(argv[0]!, argv.slice(1), { env: user.env, cwd, timeoutMs: 120_000 });
  const carried = (target: RegExp) => d.logs.filter((l) => target.test(String(l.target)) && (l.msg === 'connection' || l.msg === 'request'));

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'proxyd-setup-tools-'));
    repo = await seedRepo('hello', 64 * 1024);
    gitServer = await startGitServer(repo.root);
    // github.test over https: TLS in front of the git server, with a certificate the test's git is told to trust
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=github.test',
      '-addext', 'subjectAltName=DNS:github.test', '-keyout', join(root, 'key.pem'), '-out', join(root, 'cert.pem')], { stdio: 'ignore' });
    tls = createTlsServer({ key: readFileSync(join(root, 'key.pem')), cert: readFileSync(join(root, 'cert.pem')) }, (s) => {
      const back = tcp(gitServer.port, '127.0.0.1');
      s.pipe(back).pipe(s);
      s.on('error', () => back.destroy());
      back.on('error', () => s.destroy());
    });
    tls.listen(0, '127.0.0.1');
    await once(tls, 'listening');
    go = await startModuleOrigin({ 'example.com/hello': { 'v1.0.0': { files: { 'hello.go': 'package hello\n' } } } }, { sumdbSupported: true });
    npm = await startNpmRegistry({ 'hello-fixture': { '1.0.0': {} } });
    pypi = await startPypiIndex({ 'Hello.Fixture': { '1.0.0': {} } });
    d = await startTestDaemon(`hosts: { github.test: 127.0.0.1 }
mirrors:
  - { name: go, kind: goproxy, sumdb-key: '${testSumdb().key}', upstreams: ['${go.goproxy}'], check: { interval: 1h } }
  - { name: npm, kind: npm, upstreams: ['${npm.base}'], check: { interval: 1h } }
  - { name: pypi, kind: pypi, upstreams: ['${pypi.base}'], check: { interval: 1h } }
cache: { dir: ${join(root, 'cache')} }
rules:
  - MATCH,DIRECT
`);
    user = userHome();
    // the test's own certificate authority for github.test; the module cache removable without chmod
    user.env = { ...user.env, GIT_SSL_CAINFO: join(root, 'cert.pem'), GOFLAGS: '-modcacherw' };
    const setup = await proxyctl(d.controlPath!, ['setup', 'all'], user.env);
    expect(setup.code, `${setup.stdout}\n${setup.stderr}`).toBe(0);
    // sum.golang.org's key is the go command's; this test's database signs with its own
    const sumdb = await tool(['go', 'env', '-w', `GOSUMDB=${testSumdb().key} http://127.0.0.1:${d.httpPort}/go/sumdb/sum.golang.org`]);
    expect(sumdb.code, sumdb.stderr).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await d?.stop({ now: true });
    await Promise.all([gitServer?.close(), go?.close(), npm?.close(), pypi?.close()]);
    tls?.close();
    repo?.cleanup();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('git clone https:// and http:// go through proxyd (a CONNECT tunnel, an absolute-URI request)', async () => {
    const port = (tls.address() as AddressInfo).port;
    for (const [scheme, p] of [['https', port], ['http', gitServer.port]] as const) {
      const r = await tool(['git', 'clone', '-q', `${scheme}://github.test:${p}/hello.git`, join(user.home, `clone-${scheme}`)]);
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(join(user.home, `clone-${scheme}`, 'big.bin')).equals(repo.big)).toBe(true);
      expect(carried(new RegExp(`^github\\.test:${p}$`)).length, scheme).toBeGreaterThan(0);
    }
  });

  it('go mod download, npm install and pip download are served by proxyd\'s mirrors', async () => {
    const goRun = await tool(['go', 'mod', 'download', '-json', 'example.com/hello@v1.0.0']);
    expect(goRun.code, goRun.stderr + goRun.stdout).toBe(0);
    expect(JSON.parse(goRun.stdout).Sum).toBe(go.sums('example.com/hello', 'v1.0.0').zip);
    expect(go.requests.map((q) => q.path)).toContain('/example.com/hello/@v/v1.0.0.zip');

    const project = join(user.home, 'project');
    execFileSync('mkdir', ['-p', project]);
    writeFileSync(join(project, 'package.json'), '{ "name": "p", "version": "1.0.0", "private": true }\n');
    const npmRun = await tool(['npm', 'install', 'hello-fixture', '--no-audit', '--no-fund'], project);
    expect(npmRun.code, npmRun.stderr).toBe(0);
    expect(npm.requests.map((q) => q.path)).toContain('/hello-fixture/-/hello-fixture-1.0.0.tgz');

    const pipRun = await tool(['python3', '-m', 'pip', 'download', 'hello-fixture==1.0.0', '--no-deps', '--no-cache-dir', '-d', join(user.home, 'wheels')]);
    expect(pipRun.code, pipRun.stderr).toBe(0);
    expect(pypi.requests.some((q) => q.path.endsWith('.whl'))).toBe(true);
    for (const route of ['go', 'npm', 'pypi']) expect(d.logs.some((l) => l.route === route && l.msg === 'request' && !l.error), route).toBe(true);
  });
});
