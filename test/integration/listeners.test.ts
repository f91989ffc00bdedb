// curl through both listeners, every way a user points it at proxyd.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { startHttpOrigin, type Origin } from '../fixtures/origin.js';
import { curl } from '../fixtures/run.js';

let d: TestDaemon;
let origin: Origin;
let origin6: Origin;
beforeAll(async () => {
  d = await startTestDaemon(`
hosts:
  origin.test: 127.0.0.1
  origin6.test: "::1"
rules:
  - DOMAIN-SUFFIX,blocked.test,REJECT
  - DOMAIN,nowhere.invalid,DIRECT
  - MATCH,DIRECT
`);
  origin = await startHttpOrigin('127.0.0.1');
  origin6 = await startHttpOrigin('::1');
});
afterAll(async () => {
  await d.stop();
  await origin.close();
  await origin6.close();
});

const httpProxy = () => `http://127.0.0.1:${d.httpPort}`;
const socksProxy = () => `127.0.0.1:${d.socksPort}`;

describe('reaching the origin', () => {
  test.each([
    ['HTTP proxy, absolute URI', () => ['-x', httpProxy()]],
    ['HTTP proxy, CONNECT (-p)', () => ['-p', '-x', httpProxy()]],
    ['--socks5-hostname', () => ['--socks5-hostname', socksProxy()]],
    ['socks5h:// on the HTTP port', () => ['-x', `socks5h://127.0.0.1:${d.httpPort}`]],
    ['http:// on the SOCKS port', () => ['-x', `http://127.0.0.1:${d.socksPort}`]],
    ['CONNECT on the SOCKS port', () => ['-p', '-x', `http://127.0.0.1:${d.socksPort}`]],
  ])('%s (proxyd resolves via hosts)', async (_name, proxyArgs) => {
    const r = await curl([...proxyArgs(), '-D', '-', `http://origin.test:${origin.port}/hello`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200/);
    expect(r.stdout.endsWith('hello from origin')).toBe(true);
  });

  test('--socks5: the client resolves and sends an IPv4 address', async () => {
    const r = await curl(['--socks5', socksProxy(), `http://127.0.0.1:${origin.port}/hello`]);
    expect(r.stdout).toBe('hello from origin');
    await expect.poll(() => d.logs.findLast((l) => l.inbound === 'socks5')).toMatchObject({ target: `127.0.0.1:${origin.port}` });
  });

  test.each([
    ['HTTP proxy', () => ['-x', httpProxy()], true],
    ['CONNECT', () => ['-p', '-x', httpProxy()], true],
    ['--socks5 (IPv6 address in the request)', () => ['--socks5', socksProxy()], false],
    ['--socks5-hostname', () => ['--socks5-hostname', socksProxy()], true],
  ])('[::1] target through %s', async (_name, proxyArgs, byName) => {
    const r = await curl([...proxyArgs(), `http://[::1]:${origin6.port}/hello`]);
    expect(r.stdout).toBe('hello from origin');
    await expect.poll(() => d.logs.findLast((l) => l.target === `[::1]:${origin6.port}`)).toBeDefined();
    if (!byName) return;
    const hostsOverride = await curl([...proxyArgs(), `http://origin6.test:${origin6.port}/hello`]);
    expect(hostsOverride.stdout).toBe('hello from origin');
  });

  test('listeners on [::1] work too', async () => {
    const d6 = await startTestDaemon('listen: { socks: "[::1]:0", http: "[::1]:0" }\nrules:\n  - MATCH,DIRECT\n');
    try {
      expect((await curl(['-x', `http://[::1]:${d6.httpPort}`, `http://127.0.0.1:${origin.port}/hello`])).stdout).toBe('hello from origin');
      expect((await curl(['--socks5-hostname', `[::1]:${d6.socksPort}`, `http://127.0.0.1:${origin.port}/hello`])).stdout).toBe('hello from origin');
    } finally {
      await d6.stop();
    }
  });
});

describe('absolute-URI forwarding', () => {
  test('keep-alive to the client, and one kept-alive upstream connection serves its requests', async () => {
    const url = `http://origin.test:${origin.port}/hello`;
    const before = origin.seen.length;
    const r = await curl(['-v', '-x', httpProxy(), url, url, url]);
    expect(r.stdout).toBe('hello from origin'.repeat(3));
    expect(r.stderr.match(/Re-using existing connection/g)?.length).toBe(2);
    const seen = origin.seen.slice(before);
    expect(seen).toHaveLength(3);
    // the origin saw all three on one connection (one client port), without proxy headers, with our Via
    expect(new Set(seen.map((s) => s.clientPort)).size).toBe(1);
    expect(seen.map((s) => [s.headers['proxy-connection'], /^1\.1 proxyd-/.test(s.headers.via ?? '')])).toEqual(seen.map(() => [undefined, true]));
  });

  test('bodies both ways: content-length and chunked', async () => {
    const body = randomBytes(150_000).toString('hex');
    const file = join(mkdtempSync(join(tmpdir(), 'proxyd-body-')), 'body');
    writeFileSync(file, body);
    const withLength = await curl(['-x', httpProxy(), '--data-binary', `@${file}`, `http://origin.test:${origin.port}/echo`]);
    expect(withLength.stdout).toBe(body);
    expect(origin.seen.at(-1)!.headers['content-length']).toBe(String(body.length));
    const chunked = await curl(['-x', httpProxy(), '-H', 'Transfer-Encoding: chunked', '--data-binary', `@${file}`, `http://origin.test:${origin.port}/echo`]);
    expect(chunked.stdout).toBe(body);
    expect(origin.seen.at(-1)!.headers['transfer-encoding']).toBe('chunked');
  });

  test('hop-by-hop headers stop at the proxy; Via is added both ways', async () => {
    const r = await curl([
      '-x', httpProxy(), '-D', '-', '-H', 'Connection: keep-alive, X-Hop', '-H', 'X-Hop: secret', '-H', 'X-End: kept',
      '-H', 'Keep-Alive: timeout=5', '-H', 'TE: trailers', `http://origin.test:${origin.port}/hello`,
    ]);
    expect(r.stdout).toMatch(/^Via: 1\.1 proxyd-[0-9a-f]{6}\r$/m);
    const h = origin.seen.at(-1)!.headers;
    expect(h['x-end']).toBe('kept');
    expect(h['x-hop']).toBeUndefined();
    expect(h['keep-alive']).toBeUndefined();
    expect(h.te).toBeUndefined();
    expect(h.via).toMatch(/^1\.1 proxyd-[0-9a-f]{6}$/);
  });

  test('a request that comes round again through another proxy gets 508: our Via is already on it', async () => {
    // a misconfigured next hop that sends every request it gets back to proxyd, as a proxy request
    const bouncer = createHttpServer((req, res) => {
      const back = httpRequest({ host: '127.0.0.1', port: d.httpPort, method: req.method, path: `http://origin.test:${origin.port}${req.url}`, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
      });
      req.pipe(back);
    });
    await new Promise<void>((r) => bouncer.listen(0, '127.0.0.1', r));
    try {
      const port = (bouncer.address() as AddressInfo).port;
      const r = await curl(['-x', httpProxy(), '-D', '-', `http://127.0.0.1:${port}/hello`]);
      expect(r.stdout).toMatch(/^HTTP\/1\.1 508 /);
      expect(r.stdout).toContain('proxyd: proxy loop detected (our Via is already on the request) (rejected)');
      expect(origin.seen.filter((s) => s.url === '/hello' && s.headers.via?.includes(',')).length).toBe(0); // it never got through
    } finally {
      bouncer.close();
    }
  });

  test('a request naming proxyd itself is refused as a loop (508), not served', async () => {
    const r = await curl(['-x', httpProxy(), '-D', '-', `http://127.0.0.1:${d.httpPort}/`]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 508 /);
    expect(r.stdout).toContain(`proxyd: 127.0.0.1:${d.httpPort} is proxyd's own listener: refused (proxy loop) (rejected)`);
  });

  test('a protocol upgrade (WebSocket) in absolute form gets 501 and a pointer to CONNECT', async () => {
    const r = await curl(['-x', httpProxy(), '-D', '-', '-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket', `http://origin.test:${origin.port}/hello`]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 501 /);
    expect(r.stdout).toContain('proxyd: protocol upgrades are not forwarded; use CONNECT (protocol)');
  });

  test('origin-form requests get a 404 naming the mirror endpoints', async () => {
    const r = await curl(['-w', '\n%{http_code}', `http://127.0.0.1:${d.httpPort}/go/example.com/@v/list`]);
    expect(r.stdout).toBe('proxyd: no mirror endpoint at /go/example.com/@v/list (origin-form requests are for mirrors; none is configured) (protocol)\n\n404');
  });
});

describe('errors in the protocol of the client', () => {
  test.each([
    ['REJECT rule', 'blocked.test:80', 403, 2, 'rejected'],
    ['refused', `127.0.0.1:1`, 502, 5, 'refused'],
    ['DNS failure', 'nowhere.invalid:80', 502, 4, 'dns'],
  ])('%s: HTTP %s, SOCKS5 reply %s', async (_name, target, status, socksCode, cls) => {
    const forwarded = await curl(['-x', httpProxy(), '-D', '-', `http://${target}/`]);
    expect(forwarded.stdout).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(forwarded.stdout).toMatch(new RegExp(`^X-Proxyd-Error: ${cls}\r$`, 'm'));
    expect(forwarded.stdout).toMatch(new RegExp(`proxyd: .*\\(${cls}\\)\n$`));
    const tunnelled = await curl(['-p', '-x', httpProxy(), `http://${target}/`]);
    expect(tunnelled.stderr).toContain(`CONNECT tunnel failed, response ${status}`);
    const socks = await curl(['--socks5-hostname', socksProxy(), `http://${target}/`]);
    expect(socks.code).toBe(97);
    expect(socks.stderr).toContain(`(${socksCode})`);
  });

  test('each failure is logged once, with its class and the rule that routed it', async () => {
    const gone = createServer(); // a port nothing listens on any more: refused
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    const refusedPort = (gone.address() as AddressInfo).port;
    await new Promise((resolve) => gone.close(resolve));
    const failures = [
      { target: 'blocked.test:81', route: 'REJECT', rule: 'DOMAIN-SUFFIX,blocked.test,REJECT', error: 'rejected' },
      { target: `127.0.0.1:${refusedPort}`, route: 'DIRECT', rule: 'MATCH,DIRECT', error: 'refused' },
      { target: 'nowhere.invalid:81', route: 'DIRECT', rule: 'DOMAIN,nowhere.invalid,DIRECT', error: 'dns' },
    ];
    for (const { target } of failures) expect((await curl(['--socks5-hostname', socksProxy(), `http://${target}/`])).code, target).toBe(97);
    // a connection after them: once its line is there, so is every line theirs brought
    await curl(['--socks5-hostname', socksProxy(), 'http://blocked.test:82/']);
    await expect.poll(() => d.logs.some((l) => l.target === 'blocked.test:82')).toBe(true);
    const lines = failures.map(({ target }) => d.logs.filter((l) => l.target === target).map(({ inbound, target, route, rule, error, up, down }) => ({ inbound, target, route, rule, error, up, down })));
    expect(lines).toEqual(failures.map((f) => [{ inbound: 'socks5', ...f, up: 0, down: 0 }]));
  });
});

describe('authentication', () => {
  let auth: TestDaemon;
  beforeAll(async () => {
    auth = await startTestDaemon('auth:\n  - { username: dev, password: "p@ss:word" }\nrules:\n  - MATCH,DIRECT\n');
  });
  afterAll(() => auth.stop());

  test('right credentials pass on every inbound', async () => {
    const url = `http://127.0.0.1:${origin.port}/hello`;
    expect((await curl(['-x', `http://127.0.0.1:${auth.httpPort}`, '-U', 'dev:p@ss:word', url])).stdout).toBe('hello from origin');
    expect((await curl(['-p', '-x', `http://127.0.0.1:${auth.httpPort}`, '-U', 'dev:p@ss:word', url])).stdout).toBe('hello from origin');
    expect((await curl(['-x', `socks5h://dev:p%40ss%3Aword@127.0.0.1:${auth.socksPort}`, url])).stdout).toBe('hello from origin');
    await expect.poll(() => auth.logs.findLast((l) => l.mode === 'tunnel')).toMatchObject({ user: 'dev' });
  });

  test('wrong or missing credentials are refused in each protocol', async () => {
    const url = `http://127.0.0.1:${origin.port}/hello`;
    const noAuth = await curl(['-x', `http://127.0.0.1:${auth.httpPort}`, '-D', '-', url]);
    expect(noAuth.stdout).toMatch(/^HTTP\/1\.1 407 /);
    expect(noAuth.stdout).toMatch(/^Proxy-Authenticate: Basic realm="proxyd"\r$/m);
    const wrong = await curl(['-p', '-x', `http://127.0.0.1:${auth.httpPort}`, '-U', 'dev:nope', url]);
    expect(wrong.stderr).toContain('CONNECT tunnel failed, response 407');
    const socksWrong = await curl(['-x', `socks5h://dev:nope@127.0.0.1:${auth.socksPort}`, url]);
    expect(socksWrong.code).toBe(97);
    expect(socksWrong.stderr).toMatch(/User was rejected by the SOCKS5 server/);
    const socksNone = await curl(['--socks5-hostname', `127.0.0.1:${auth.socksPort}`, url]);
    expect(socksNone.code).toBe(97);
    expect(socksNone.stderr).toMatch(/No authentication method was acceptable/i);
    // the password never reaches a log line
    expect(JSON.stringify(auth.logs)).not.toContain('p@ss:word');
    expect(JSON.stringify(auth.logs)).not.toContain('nope');
  });
});

describe('the allow list', () => {
  test('a client outside it is closed without a byte, and the refusals are summed up in one line, not one each', async () => {
    const walled = await startTestDaemon('allow: [10.0.0.0/8]\nrules:\n  - MATCH,DIRECT\n');
    try {
      const url = `http://127.0.0.1:${origin.port}/hello`;
      for (const proxy of [`http://127.0.0.1:${walled.httpPort}`, `socks5h://127.0.0.1:${walled.socksPort}`]) {
        const r = await curl(['-x', proxy, url]);
        expect(r.stdout).toBe('');
        expect([52, 56, 97]).toContain(r.code); // empty reply / connection closed / SOCKS5 handshake cut
      }
      expect(walled.engine.open.size).toBe(0);
      expect(walled.logs.filter((l) => /refused|allow/.test(String(l.msg)))).toEqual([]); // the summary comes after 10 s
    } finally {
      await walled.stop();
    }
  });
});

describe('an upstream that lies', () => {
  test('a malformed response head gets 502 with class protocol, and the daemon serves the next request', async () => {
    const liar = createServer((s) => {
      s.on('error', () => undefined);
      s.once('data', () => s.end('HTTP/1.1 200 OK\r\nX-Bad: a\x7fb\r\nContent-Length: 2\r\n\r\nok'));
    });
    await new Promise<void>((r) => liar.listen(0, '127.0.0.1', r));
    try {
      const port = (liar.address() as AddressInfo).port;
      const r = await curl(['-x', httpProxy(), '-D', '-', `http://127.0.0.1:${port}/`]);
      expect(r.stdout).toMatch(/^HTTP\/1\.1 502 /);
      expect(r.stdout).toMatch(/^X-Proxyd-Error: protocol\r$/m);
      expect((await curl(['-x', httpProxy(), `http://origin.test:${origin.port}/hello`])).stdout).toBe('hello from origin');
    } finally {
      liar.close();
    }
  });
});
