// The responder seam (what mirrors will be): a route target that answers HTTP itself. The same
// responder answers an origin-form request at its path, an absolute-URI request, an HTTP CONNECT
// tunnel and a SOCKS5 tunnel whose rule names it, with real curl on each.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { compileRules } from '../../src/router/index.js';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { curl } from '../fixtures/run.js';
import { registerTestOutbounds } from '../fixtures/test-outbounds.js';

let d: TestDaemon;
beforeAll(async () => {
  registerTestOutbounds();
  d = await startTestDaemon('rules: []\n', {}, (c) => ({
    ...c,
    outbounds: [{ name: 'mirror', type: 'test-echo-responder', paths: ['/m'] }],
    router: compileRules(['DOMAIN,mirror.test,mirror', 'MATCH,REJECT'], { targets: new Set(['DIRECT', 'REJECT', 'mirror']) }),
  }));
});
afterAll(() => d.stop());

test('an origin-form request at its path (GOPROXY=http://127.0.0.1:8080/m style)', async () => {
  const r = await curl([`http://127.0.0.1:${d.httpPort}/m/example.com/@v/list`]);
  expect(r.stdout).toBe(`mirror answered GET /m/example.com/@v/list for 127.0.0.1:${d.httpPort} (respond via http)\n`);
  await expect.poll(() => d.logs.findLast((l) => l.route === 'mirror')).toMatchObject({ mode: 'respond', rule: 'endpoint /m' });
});

test('an origin-form request at no endpoint gets 404 naming the path', async () => {
  const r = await curl(['-w', '\n%{http_code}', `http://127.0.0.1:${d.httpPort}/mx/other`]);
  expect(r.stdout).toBe('proxyd: no mirror endpoint at /mx/other (mirrors are at /m) (protocol)\n\n404');
});

test.each([
  ['an absolute-URI request', () => ['-x', `http://127.0.0.1:${d.httpPort}`], 'forward via http'],
  ['an HTTP CONNECT tunnel', () => ['-p', '-x', `http://127.0.0.1:${d.httpPort}`], 'forward via http'],
  ['a SOCKS5 tunnel', () => ['--socks5-hostname', `127.0.0.1:${d.socksPort}`], 'forward via http'],
  ['a SOCKS5 tunnel on the HTTP port', () => ['-x', `socks5h://127.0.0.1:${d.httpPort}`], 'forward via http'],
])('%s whose rule names the responder', async (_name, proxy, how) => {
  const r = await curl([...proxy(), 'http://mirror.test/pkg/a.tgz?x=1']);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe(`mirror answered GET /pkg/a.tgz?x=1 for mirror.test (${how})\n`);
  // nothing was dialled for it: the responder answered, and the rule that chose it is logged
  await expect.poll(() => d.logs.findLast((l) => l.target === 'mirror.test:80')).toMatchObject({ route: 'mirror', rule: 'DOMAIN,mirror.test,mirror' });
});

test('two requests on one tunnel to the responder are both answered', async () => {
  const r = await curl(['-p', '-x', `http://127.0.0.1:${d.httpPort}`, 'http://mirror.test/one', 'http://mirror.test/two']);
  expect(r.stdout).toBe('mirror answered GET /one for mirror.test (forward via http)\nmirror answered GET /two for mirror.test (forward via http)\n');
});
