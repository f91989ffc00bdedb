// Limits and safety: handshake timeout, header size, idle timeout, max connections, half-close.
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { startBlackHole } from '../fixtures/black-hole.js';
import { startEchoServer } from '../fixtures/origin.js';
import { curl } from '../fixtures/run.js';

let d: TestDaemon;
let echo: { port: number; close(): Promise<void> };
beforeAll(async () => {
  d = await startTestDaemon(`
limits: { handshake-timeout: 400ms, header-max-bytes: 4KiB, idle-timeout: 600ms, max-connections: 20 }
rules:
  - MATCH,DIRECT
`);
  echo = await startEchoServer();
});
afterAll(async () => {
  await d.stop();
  await echo.close();
});

function open(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  return once(s, 'connect').then(() => s);
}

/** Everything the server sends until it closes, and how long that took. */
async function untilClosed(s: Socket, capMs = 5000): Promise<{ data: string; ms: number }> {
  const t0 = Date.now();
  let data = '';
  s.on('data', (c) => (data += c.toString('latin1')));
  await Promise.race([once(s, 'close'), new Promise((r) => setTimeout(r, capMs))]);
  return { data, ms: Date.now() - t0 };
}

async function socksTunnel(port: number, target: number): Promise<Socket> {
  const s = await open(port);
  s.write(Buffer.from([5, 1, 0]));
  s.write(Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, target >> 8, target & 255]));
  let got = Buffer.alloc(0);
  while (got.length < 12) got = Buffer.concat([got, (await once(s, 'data'))[0] as Buffer]);
  expect([...got.subarray(0, 4)]).toEqual([5, 0, 5, 0]);
  return s;
}

test('a client that connects and says nothing is closed after the handshake timeout', async () => {
  for (const port of [d.socksPort, d.httpPort]) {
    const { ms } = await untilClosed(await open(port));
    expect(ms).toBeGreaterThanOrEqual(350);
    expect(ms).toBeLessThan(2500);
  }
});

test('a half-sent SOCKS5 request is closed after the handshake timeout', async () => {
  const s = await open(d.socksPort);
  s.write(Buffer.from([5, 1, 0, 5, 1, 0, 3, 20, 0x61]));
  const { data, ms } = await untilClosed(s);
  expect([...Buffer.from(data, 'latin1')]).toEqual([5, 0]);
  expect(ms).toBeLessThan(2500);
});

test('a request head over header-max-bytes gets 431', async () => {
  const s = await open(d.httpPort);
  s.write(`GET http://127.0.0.1:${echo.port}/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`);
  const { data } = await untilClosed(s);
  expect(data).toMatch(/^HTTP\/1\.1 431 /);
});

test('a tunnel with no traffic either way is closed after the idle timeout; an active one is not', async () => {
  const idle = await socksTunnel(d.socksPort, echo.port);
  const busy = await socksTunnel(d.socksPort, echo.port);
  let echoed = 0;
  busy.on('data', (c) => (echoed += c.length));
  const ticker = setInterval(() => busy.write('ping'), 100);
  const { ms } = await untilClosed(idle);
  clearInterval(ticker);
  expect(ms).toBeGreaterThanOrEqual(500);
  expect(ms).toBeLessThan(3000);
  expect(busy.destroyed).toBe(false);
  expect(echoed).toBeGreaterThan(0);
  busy.destroy();
  await expect.poll(() => d.logs.some((l) => l.error === 'timeout' && String(l.reason).startsWith('idle for 600 ms'))).toBe(true);
});

test('half-close: the client ends its side and still receives the rest', async () => {
  const s = await socksTunnel(d.socksPort, echo.port);
  let data = '';
  s.on('data', (c) => (data += c));
  s.end('last words'); // FIN after the payload: the echo server answers, then ends
  await once(s, 'close');
  expect(data).toBe('last words');
});

test('connections beyond max-connections (clients plus their upstream connections) are closed at once, unread; the others keep working', async () => {
  // the default handshake and idle timeouts: nothing but the limit closes a connection while this runs
  const full = await startTestDaemon('limits: { max-connections: 20 }\nrules:\n  - MATCH,DIRECT\n');
  const held: Socket[] = [];
  try {
    // max-connections 20: ten tunnels are twenty connections, each client and its upstream
    for (let i = 0; i < 10; i++) held.push(await socksTunnel(full.socksPort, echo.port));
    const extra = await open(full.socksPort);
    let data = '';
    extra.on('data', (c) => (data += c));
    extra.write(Buffer.from([5, 1, 0])); // an admitted client is answered at once (05 00); this one is closed unread
    await once(extra, 'close');
    expect(data).toBe('');
    held[0]!.write('still here');
    const [reply] = await once(held[0]!, 'data');
    expect(reply.toString()).toBe('still here');
  } finally {
    for (const s of held) s.destroy();
    await full.stop();
  }
});

test('a client that stalls in its request head gets 408', async () => {
  const s = await open(d.httpPort);
  s.write(`CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: x\r\n`); // never finished
  const { data, ms } = await untilClosed(s);
  expect(data).toMatch(/^HTTP\/1\.1 408 /);
  expect(ms).toBeLessThan(2500);
});

test('a connect that hangs ends at connect-timeout: HTTP 504, SOCKS5 reply 0x06', async () => {
  const hole = await startBlackHole();
  const t = await startTestDaemon('limits: { connect-timeout: 500ms }\nrules:\n  - MATCH,DIRECT\n');
  try {
    const url = `http://127.0.0.1:${hole.port}/`;
    const forwarded = await curl(['-x', `http://127.0.0.1:${t.httpPort}`, '-D', '-', url]);
    expect(forwarded.stdout).toMatch(/^HTTP\/1\.1 504 /);
    expect(forwarded.stdout).toContain(`proxyd: connect to 127.0.0.1:${hole.port} timed out after 500 ms (timeout)`);
    const tunnel = await curl(['-p', '-x', `http://127.0.0.1:${t.httpPort}`, url]);
    expect(tunnel.stderr).toContain('CONNECT tunnel failed, response 504');
    const socks = await curl(['--socks5', `127.0.0.1:${t.socksPort}`, url]);
    expect(socks.code).toBe(97);
    expect(socks.stderr).toContain('(6)');
  } finally {
    await t.stop();
    hole.close();
  }
});
