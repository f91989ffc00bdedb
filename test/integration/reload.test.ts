// Reload from the library: the daemon swaps its whole state (rules, outbounds, limits,
// credentials, allow list) for new connections while open ones finish on the state they started
// with; unchanged outbounds are carried over as the same objects, changed ones are closed once
// their last session ends.
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { afterEach, beforeAll, expect, test } from 'vitest';
import { compileRules } from '../../src/router/index.js';
import { Reload, Status } from '../../src/control/api.js';
import { configFrom, startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { startEchoServer, startHttpOrigin, type Origin } from '../fixtures/origin.js';
import { proxyctlJson } from '../fixtures/proxyctl.js';
import { curl } from '../fixtures/run.js';
import { CountingDialer, registerTestOutbounds } from '../fixtures/test-outbounds.js';
import { accepts, freePort } from '../fixtures/upstreams.js';

let origin: Origin;
let d: TestDaemon | undefined;
beforeAll(async () => {
  registerTestOutbounds();
  origin = await startHttpOrigin();
  return () => origin.close();
});
afterEach(async () => {
  await d?.stop();
  d = undefined;
});

const MB100 = 100 * 1024 * 1024;

test('a swap under a running 100 MB tunnel: new connections take the new rules, the old tunnel finishes whole', async () => {
  d = await startTestDaemon('rules:\n  - MATCH,DIRECT\n');
  const directBefore = d.engine.state.outbounds.get('DIRECT');
  const big = `http://127.0.0.1:${origin.port}/big?n=${MB100}`;
  // a slow download, so the swap happens while it runs
  const download = curl(['--socks5', `127.0.0.1:${d.socksPort}`, '--limit-rate', '40M', '-o', '/dev/null', '-w', '%{size_download}', big]);
  await expect.poll(() => origin.seen.some((s) => s.url === `/big?n=${MB100}`), { timeout: 5000 }).toBe(true);
  expect(d.engine.open.size).toBe(1);

  const { changes } = await d.reload(configFrom('rules:\n  - MATCH,REJECT\n'));
  // (the config file and control socket differ too: configFrom writes a new temporary file)
  expect(changes.filter((c) => !/^(config file|control):/.test(c))).toEqual(['rules: 1 → 1', '  + MATCH,REJECT', '  - MATCH,DIRECT']);

  const refused = await curl(['--socks5', `127.0.0.1:${d.socksPort}`, `http://127.0.0.1:${origin.port}/hello`]);
  expect(refused.code).toBe(97);
  expect(refused.stderr).toContain('(2)'); // SOCKS5 0x02: not allowed by ruleset
  const forwarded = await curl(['-x', `http://127.0.0.1:${d.httpPort}`, '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${origin.port}/hello`]);
  expect(forwarded.stdout).toBe('403');

  expect(d.engine.open.size).toBe(1); // still running, on the old rules
  expect((await download).stdout).toBe(String(MB100));
  await expect.poll(() => d!.logs.find((l) => l.mode === 'tunnel' && l.route === 'DIRECT')).toMatchObject({ down: expect.any(Number), rule: 'MATCH,DIRECT' });
  const tunnelLine = d.logs.find((l) => l.mode === 'tunnel' && l.route === 'DIRECT')!;
  expect(tunnelLine.error).toBeUndefined();
  expect(Number(tunnelLine.down)).toBeGreaterThan(MB100);
  // DIRECT's definition did not change: the same object serves the new state
  expect(d.engine.state.outbounds.get('DIRECT')).toBe(directBefore);
});

test('a changed outbound is closed once no session is dialling through it, while the tunnels it opened go on; an unchanged one is kept as the same object', async () => {
  const echo = await startEchoServer();
  try {
    const withCounting = (version: number, rules = ['MATCH,up']) => (c: ReturnType<typeof configFrom>) => ({
      ...c,
      outbounds: [{ name: 'up', type: 'test-counting', version }],
      router: compileRules(rules, { targets: new Set(['DIRECT', 'REJECT', 'up']) }),
    });
    d = await startTestDaemon('rules:\n  - MATCH,DIRECT\n', {}, withCounting(1));
    const v1 = d.engine.state.outbounds.get('up') as CountingDialer;
    const held = await socksTunnel(d.socksPort, echo.port);
    expect(v1.dials).toBe(1);

    await d.reload(configFrom('rules: []\n', withCounting(1)));
    expect(d.engine.state.outbounds.get('up')).toBe(v1); // same definition: carried over
    expect(v1.closes).toBe(0);

    await d.reload(configFrom('rules: []\n', withCounting(2)));
    const v2 = d.engine.state.outbounds.get('up') as CountingDialer;
    expect(v2).not.toBe(v1);
    await expect.poll(() => v1.closes).toBe(1); // its only session has its socket: nothing dials through v1 now

    const fresh = await socksTunnel(d.socksPort, echo.port);
    expect([v1.dials, v2.dials]).toEqual([1, 1]);
    held.write('still on v1'); // the tunnel v1 opened goes on
    expect(String((await once(held, 'data'))[0])).toBe('still on v1');
    expect(v2.closes).toBe(0);
    held.destroy();
    fresh.destroy();
  } finally {
    await echo.close();
  }
});

test('limits, credentials and the allow list of the new state apply to new connections', async () => {
  d = await startTestDaemon('rules:\n  - MATCH,DIRECT\n');
  const url = `http://127.0.0.1:${origin.port}/hello`;
  expect((await curl(['-x', `http://127.0.0.1:${d.httpPort}`, url])).stdout).toBe('hello from origin');

  await d.reload(configFrom('auth: [{ username: dev, password: pw }]\nrules:\n  - MATCH,DIRECT\n'));
  const noAuth = await curl(['-x', `http://127.0.0.1:${d.httpPort}`, '-o', '/dev/null', '-w', '%{http_code}', url]);
  expect(noAuth.stdout).toBe('407');
  expect((await curl(['-x', `http://dev:pw@127.0.0.1:${d.httpPort}`, url])).stdout).toBe('hello from origin');

  await d.reload(configFrom('allow: [10.0.0.0/8]\nrules:\n  - MATCH,DIRECT\n'));
  const outside = await curl(['-x', `http://127.0.0.1:${d.httpPort}`, url]);
  expect(outside.stdout).toBe('');
  expect([52, 56]).toContain(outside.code); // closed without a byte: empty reply, or a reset under load

  await d.reload(configFrom('limits: { header-max-bytes: 1KiB }\nrules:\n  - MATCH,DIRECT\n'));
  const big = await curl(['-x', `http://127.0.0.1:${d.httpPort}`, '-H', `X-Big: ${'x'.repeat(2000)}`, '-o', '/dev/null', '-w', '%{http_code}', url]);
  expect(big.stdout).toBe('431');
});

test('a keep-alive connection keeps the limits it started with across reloads that change them, while new ones take the new', async () => {
  d = await startTestDaemon('rules:\n  - MATCH,DIRECT\n');
  const old = connect(d.httpPort, '127.0.0.1');
  old.on('error', () => undefined);
  await once(old, 'connect');
  let answers = '';
  old.on('data', (c: Buffer) => (answers += c.toString('latin1')));
  const big = `GET http://127.0.0.1:${origin.port}/hello HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nX-Big: ${'x'.repeat(2000)}\r\n\r\n`;
  old.write(big); // under the default limits (64KiB)
  await expect.poll(() => answers).toMatch(/^HTTP\/1\.1 200 [^]*hello from origin$/);
  for (const kib of [1, 4, 1]) {
    await d.reload(configFrom(`limits: { header-max-bytes: ${kib}KiB }\nrules:\n  - MATCH,DIRECT\n`));
    const fresh = await curl(['-x', `http://127.0.0.1:${d.httpPort}`, '-H', `X-Big: ${'x'.repeat(2000)}`, '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${origin.port}/hello`]);
    expect(fresh.stdout).toBe(kib === 1 ? '431' : '200');
    const before = answers.length;
    old.write(big);
    await expect.poll(() => answers.slice(before)).toMatch(/^HTTP\/1\.1 200 [^]*hello from origin$/);
  }
  old.destroy();
});

test('a reload that changes control: says it takes a restart, every time, while the socket stays; changing it back is no change', async () => {
  d = await startTestDaemon('rules:\n  - MATCH,DIRECT\n');
  const socket = d.controlPath!;
  const elsewhere = join(dirname(socket), 'elsewhere.sock');
  const write = (control: string) => writeFileSync(d!.config.file, `control: ${control}\nlisten: { socks: 127.0.0.1:0, http: 127.0.0.1:0 }\nrules:\n  - MATCH,DIRECT\n`);
  const reload = () => proxyctlJson(socket, ['reload'], Reload);
  const restart = `control: ${socket} → ${elsewhere} (takes a restart; until then it stays ${socket})`;
  write(elsewhere);
  expect(await proxyctlJson(socket, ['reload', '--dry-run'], Reload)).toMatchObject({ ok: true, changes: [restart] });
  expect(await reload()).toMatchObject({ ok: true, changes: [restart] });
  expect(await reload()).toMatchObject({ ok: true, changes: [restart] }); // still so: the socket did not move
  expect((await proxyctlJson(socket, ['status'], Status)).control).toBe(socket);
  expect(existsSync(elsewhere)).toBe(false);
  write(socket);
  expect(await reload()).toMatchObject({ ok: true, changes: [] }); // where it is: nothing to restart
});

// A reload is built and checked first and binds last; whatever step fails, what it bound and
// built is closed again, and the daemon goes on as it was.
test('a reload refused after building: the port it would have moved to is never bound, the old one still serves, and what it built is closed', async () => {
  d = await startTestDaemon('rules:\n  - MATCH,DIRECT\n');
  const http = d.httpPort;
  const port = await freePort();
  const builtBefore = CountingDialer.built.length;
  const refused = configFrom(`listen: { socks: 127.0.0.1:0, http: 127.0.0.1:${port} }\nrules:\n  - MATCH,DIRECT\n`, (c) => ({
    ...c, outbounds: [{ name: 'fresh', type: 'test-counting', version: 1 }, { name: 'broken', type: 'test-unbuildable' }],
  }));
  await expect(d.reload(refused)).rejects.toThrow('cannot be built');
  expect(await accepts(port)).toBe(false);
  expect(d.addresses.http!.port).toBe(http);
  expect((await curl(['-x', `http://127.0.0.1:${http}`, `http://127.0.0.1:${origin.port}/hello`])).stdout).toBe('hello from origin');
  expect(CountingDialer.built.slice(builtBefore).map((o) => o.closes)).toEqual([1]);
});

test('a reload whose second new port is taken: the first new port is closed again, and so is what it built', async () => {
  d = await startTestDaemon('rules:\n  - MATCH,DIRECT\n');
  const [socks, http] = [d.socksPort, d.httpPort];
  const port = await freePort();
  const builtBefore = CountingDialer.built.length;
  const taken = configFrom(`listen: { socks: 127.0.0.1:${port}, http: 127.0.0.1:${socks} }\nrules:\n  - MATCH,DIRECT\n`, (c) => ({
    ...c, outbounds: [{ name: 'fresh', type: 'test-counting', version: 2 }],
  }));
  await expect(d.reload(taken)).rejects.toThrow(`cannot listen on 127.0.0.1:${socks} (listen.http): address already in use`);
  expect(await accepts(port)).toBe(false);
  expect([d.addresses.socks!.port, d.addresses.http!.port]).toEqual([socks, http]);
  expect(await accepts(http)).toBe(true);
  expect(CountingDialer.built.slice(builtBefore).map((o) => o.closes)).toEqual([1]);
});

test('stop() as a reload that moves a listener starts: no port is left bound', async () => {
  d = await startTestDaemon('rules:\n  - MATCH,DIRECT\n');
  const port = await freePort();
  const reloading = d.reload(configFrom(`listen: { socks: 127.0.0.1:0, http: 127.0.0.1:${port} }\nrules:\n  - MATCH,DIRECT\n`));
  await d.stop();
  await reloading.catch(() => undefined);
  expect(await accepts(port)).toBe(false);
  expect(await accepts(d.socksPort)).toBe(false);
});

async function socksTunnel(port: number, target: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  await once(s, 'connect');
  s.write(Buffer.from([5, 1, 0]));
  await once(s, 'data');
  const req = Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, 0, 0]);
  req.writeUInt16BE(target, 8);
  s.write(req);
  const [reply] = await once(s, 'data');
  if ((reply as Buffer)[1] !== 0) throw new Error(`SOCKS5 reply ${(reply as Buffer)[1]}`);
  return s;
}
