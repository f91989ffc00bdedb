// A system-wide HTTPS_PROXY, as the user story has it: go, npm, pip and curl CONNECT to
// proxy.golang.org, registry.npmjs.org and pypi.org, and proxyd serves them from its mirrors with
// TLS terminated by its local CA. The origins' names resolve (through `hosts:`) to a loopback TLS
// server at 127.0.0.9:443 that stands in for the real hosts: it must answer no request while the
// mirrors are up (the mirrors' freshness checks of version lists and packuments reach it, and
// fail its certificate, which proxyd does not trust). Needs root (port 443); in CI it runs,
// elsewhere it skips when not root.
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect as tcp, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Connections } from '../../src/control/api.js';
import { startTestDaemon, configFrom, type TestDaemon } from '../fixtures/daemon.js';
import { CI, goEnv, goModDownload, haveGo, haveNpm, havePip, npmEnv, pipEnv, writeNpmProject } from '../fixtures/mirror-clients.js';
import { startModuleOrigin, testSumdb, type ModuleOrigin } from '../fixtures/module-origin.js';
import { startNpmRegistry, type NpmRegistry } from '../fixtures/npm-registry.js';
import { startPypiIndex, type PypiIndex } from '../fixtures/pypi-index.js';
import { proxyctlJson } from '../fixtures/proxyctl.js';
import { curl, run } from '../fixtures/run.js';
import { startTlsOrigin, type TlsOrigin } from '../fixtures/tls-origin.js';

const SLOW = 180_000;
const ROOT = process.getuid?.() === 0;
if (!ROOT && !CI) console.warn('interception: skipping: binding 127.0.0.9:443 (the stand-in for the real origins) needs root');
if (CI && !ROOT) throw new Error('interception: CI must run as root (the origins stand-in listens on port 443)');

const ORIGINS = ['proxy.golang.org', 'registry.npmjs.org', 'pypi.org', 'files.pythonhosted.org'];
const hello = (text: string) => `package hello\n\nfunc Hello() string { return ${JSON.stringify(text)} }\n`;

describe.skipIf(!ROOT)('HTTPS CONNECTs to the mirrored origins, served from the mirrors', () => {
  let root: string;
  let real: TlsOrigin;
  let go: ModuleOrigin;
  let npm: NpmRegistry;
  let pypi: PypiIndex;
  let d: TestDaemon;
  let ca: string;
  let runs = 0;
  const config = (extra = '') => `hosts: { ${[...ORIGINS, 'other.test', 'sum.golang.org'].map((n) => `${n}: 127.0.0.9`).join(', ')} }
ca: { dir: ${join(root, 'ca')} }
mirrors:
  - { name: go, kind: goproxy, sumdb-key: '${testSumdb().key}', upstreams: ['${go.goproxy}'], origins: [https://proxy.golang.org], intercept: true, check: { interval: 1h } }
  - { name: npm, kind: npm, upstreams: ['${npm.base}'], origins: [https://registry.npmjs.org], intercept: true, check: { interval: 1h } }
  - { name: pypi, kind: pypi, upstreams: ['${pypi.base}'], origins: [https://pypi.org, https://files.pythonhosted.org], intercept: true, check: { interval: 1h } }
${extra}cache: { dir: ${join(root, 'cache')} }
rules:
  - MATCH,DIRECT
`;
  const proxy = () => `http://127.0.0.1:${d.httpPort}`;
  const fresh = (name: string) => join(root, `${name}-${runs++}`);

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'proxyd-intercept-'));
    real = await startTlsOrigin({ names: [...ORIGINS, 'other.test'], host: '127.0.0.9', port: 443 });
    go = await startModuleOrigin({ 'example.com/hello': { 'v1.0.0': { files: { 'hello.go': hello('v1.0.0') } } } }, { sumdbSupported: true });
    npm = await startNpmRegistry({ 'hello-fixture': { '1.0.0': {}, '1.1.0': { dependencies: { '@fixture/dep': '^2.0.0' } } }, '@fixture/dep': { '2.0.0': {} } });
    pypi = await startPypiIndex({ 'Hello.Fixture': { '1.0.0': {} } });
    d = await startTestDaemon(config());
    // the CA proxyctl ca export gives, as a user would save it
    ca = join(root, 'proxyd-ca.pem');
    const exported = await run('node', [join(import.meta.dirname, '../../dist/proxyctl.js'), '--control', d.controlPath!, 'ca', 'export']);
    expect(exported.code, exported.stderr).toBe(0);
    writeFileSync(ca, exported.stdout);
  });
  afterAll(async () => {
    await d?.stop({ now: true });
    await Promise.all([real?.close(), go?.close(), npm?.close(), pypi?.close()]);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test('curl through HTTP CONNECT and through SOCKS5 gets proxy.golang.org\'s answers from the mirror; the real host sees nothing', async () => {
    for (const via of [['-x', proxy()], ['--socks5-hostname', `127.0.0.1:${d.socksPort}`]]) {
      const r = await curl(['--cacert', ca, ...via, 'https://proxy.golang.org/example.com/hello/@v/list']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('v1.0.0\n');
    }
    expect(real.requests).toEqual([]);
    expect(go.requests.map((q) => q.path)).toContain('/example.com/hello/@v/list');
  });

  test.skipIf(!haveGo() && !CI)('go mod download with only HTTPS_PROXY and SSL_CERT_FILE (default GOPROXY); a second run is served from the cache', { timeout: SLOW }, async () => {
    const env = () => {
      const e = goEnv(fresh('go'), '', { HTTPS_PROXY: proxy(), SSL_CERT_FILE: ca, GOSUMDB: testSumdb().key });
      delete e.GOPROXY; // the default: https://proxy.golang.org,direct
      return e;
    };
    const first = await goModDownload(env(), ['example.com/hello@v1.0.0']);
    expect(first.code, first.stderr + first.stdout).toBe(0);
    expect(first.modules[0]!.Sum).toBe(go.sums('example.com/hello', 'v1.0.0').zip);
    const zips = () => go.requests.filter((q) => q.path.endsWith('.zip')).length;
    expect(zips()).toBe(1);
    const again = await goModDownload(env(), ['example.com/hello@v1.0.0']);
    expect(again.code, again.stderr).toBe(0);
    expect(zips()).toBe(1); // from proxyd's cache
    expect(real.requests).toEqual([]);
  });

  test.skipIf(!haveNpm() && !CI)('npm install with HTTPS_PROXY, the default registry and NODE_EXTRA_CA_CERTS; a second run is served from the cache', { timeout: SLOW }, async () => {
    const install = async () => {
      const dir = fresh('npm');
      writeNpmProject(join(dir, 'project'));
      const env = { ...npmEnv(dir), HTTPS_PROXY: proxy(), NODE_EXTRA_CA_CERTS: ca };
      return run('npm', ['install', 'hello-fixture', `--cache=${join(dir, 'npm-cache')}`, '--no-audit', '--no-fund', '--fetch-retries=0'], { cwd: join(dir, 'project'), env, timeoutMs: 120_000 });
    };
    const first = await install();
    expect(first.code, first.stderr).toBe(0);
    const tarballs = () => npm.requests.filter((q) => q.path.endsWith('.tgz')).length;
    expect(tarballs()).toBe(2);
    const again = await install();
    expect(again.code, again.stderr).toBe(0);
    expect(tarballs()).toBe(2);
    expect(real.requests).toEqual([]);
  });

  test.skipIf(!havePip() && !CI)('pip download with HTTPS_PROXY and PIP_CERT (the default index); a second run is served from the cache', { timeout: SLOW }, async () => {
    const download = async () => {
      const dir = fresh('pip');
      const env: NodeJS.ProcessEnv = { ...pipEnv(dir), HTTPS_PROXY: proxy(), PIP_CERT: ca };
      // pip's requests takes these over its own cert setting: a machine that sets them has to name the CA there
      delete env.REQUESTS_CA_BUNDLE;
      delete env.CURL_CA_BUNDLE;
      return run('python3', ['-m', 'pip', 'download', 'hello-fixture==1.0.0', '--no-deps', '--no-cache-dir', '-d', join(dir, 'out'), '--retries=0', '--timeout=30'], { env, timeoutMs: 120_000 });
    };
    const first = await download();
    expect(first.code, first.stderr).toBe(0);
    const wheels = () => pypi.requests.filter((q) => q.path.endsWith('.whl')).length;
    expect(wheels()).toBe(1);
    const again = await download();
    expect(again.code, again.stderr).toBe(0);
    expect(wheels()).toBe(1);
    expect(real.requests).toEqual([]);
  });

  /** a TLS client through a CONNECT tunnel to `target`, asking for `servername` (none: no SNI) */
  const through = async (target: string, servername: string | undefined, trust: string[]): Promise<TLSSocket> => {
    const s: Socket = tcp(d.httpPort, '127.0.0.1');
    await once(s, 'connect');
    s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    const [head] = (await once(s, 'data')) as [Buffer];
    expect(head.toString()).toMatch(/^HTTP\/1\.1 200/);
    const t = tlsConnect({ socket: s, ...(servername ? { servername } : {}), ca: trust.map((f) => readFileSync(f)), rejectUnauthorized: false });
    await once(t, 'secureConnect');
    return t;
  };

  test('a TLS host that is no origin, a ClientHello for another name, and one with no name are carried to the real host untouched', async () => {
    for (const [target, servername] of [['other.test:443', 'other.test'], ['proxy.golang.org:443', 'other.test'], ['proxy.golang.org:443', undefined]] as const) {
      const before = real.connections();
      const t = await through(target, servername, [real.certFile]);
      expect(t.getPeerCertificate().raw.equals(real.certDer), `${target} ${servername}`).toBe(true);
      expect(real.connections()).toBe(before + 1);
      t.destroy();
    }
  });

  test('clients that hang up after the handshake leave no session open', async () => {
    for (let i = 0; i < 20; i++) (await through('pypi.org:443', 'pypi.org', [ca])).destroy();
    await expect.poll(async () => (await proxyctlJson(d.controlPath!, ['connections'], Connections)).connections, { timeout: 5_000 }).toEqual([]);
  });

  test('a client that does not trust the CA fails its handshake, and the log line names the client, the origin and the fix', async () => {
    const r = await curl(['-x', proxy(), 'https://registry.npmjs.org/hello-fixture']);
    expect(r.code).not.toBe(0);
    await expect.poll(() => d.logs.find((l) => l.error === 'protocol' && l.target === 'registry.npmjs.org:443' && String(l.reason).includes('proxyctl ca trust-info'))).toMatchObject({
      client: expect.stringMatching(/^127\.0\.0\.1:\d+$/), target: 'registry.npmjs.org:443', route: 'npm',
      reason: expect.stringMatching(/^the client (does not trust proxyd's certificate|hung up during the TLS handshake) for registry\.npmjs\.org/),
    });
  });

  test('the CA key is its owner\'s alone; a reload that adds an origin makes a new CA and says so', async () => {
    const files = readdirSync(join(root, 'ca'));
    expect(statSync(join(root, 'ca')).mode & 0o777).toBe(0o700);
    const keys = files.filter((f) => /key/.test(f));
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) expect(statSync(join(root, 'ca', k)).mode & 0o777).toBe(0o600);
    await d.reload(configFrom(config(`  - { name: sum, kind: sumdb, sumdb-key: '${testSumdb().key}', upstreams: ['${go.goproxy}/sumdb/sum.golang.org'], origins: [https://sum.golang.org], intercept: true, check: { interval: 1h } }\n`)));
    await expect.poll(() => d.logs.find((l) => /trust/i.test(String(l.msg)) && /new/i.test(String(l.msg)))).toBeDefined();
    // the new CA signs the new origin; the old one still serves the names it had
    const exported = await run('node', [join(import.meta.dirname, '../../dist/proxyctl.js'), '--control', d.controlPath!, 'ca', 'export']);
    writeFileSync(join(root, 'both.pem'), exported.stdout);
    const sumdb = await curl(['--cacert', join(root, 'both.pem'), '-x', proxy(), 'https://sum.golang.org/lookup/example.com/hello@v1.0.0']);
    expect(sumdb.stdout).toContain(go.sums('example.com/hello', 'v1.0.0').zip);
    const old = await curl(['--cacert', ca, '-x', proxy(), 'https://proxy.golang.org/example.com/hello/@v/list']);
    expect(old.stdout).toBe('v1.0.0\n');
  });
});
