// The daemon's life as a user sees it: the start-up line, drain-timeout honoured with a tunnel
// held open, and a second signal that stops at once.
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startDaemonProcess, type DaemonProcess } from '../fixtures/daemon-process.js';
import { startEchoServer } from '../fixtures/origin.js';
import { VERSION } from '../../src/version.js';

let echo: Awaited<ReturnType<typeof startEchoServer>>;

beforeAll(async () => {
  echo = await startEchoServer();
});
afterAll(() => echo.close());

function start(limits: string): Promise<DaemonProcess> {
  return startDaemonProcess(`limits: { ${limits} }\nrules:\n  - DOMAIN,never.test,REJECT\n  - MATCH,DIRECT\n`);
}

async function waitFor(done: () => boolean, timeoutMs = 10_000): Promise<void> {
  await expect.poll(done, { timeout: timeoutMs }).toBe(true);
}

/** an idle CONNECT tunnel to the echo server, open until someone closes it */
async function idleTunnel(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  await once(s, 'connect');
  s.write(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
  const [head] = (await once(s, 'data')) as [Buffer];
  expect(head.toString()).toMatch(/^HTTP\/1\.1 200/);
  return s;
}

test('start-up says, in one line: version, config file, rule count, listeners, control socket', async () => {
  const p = await start('drain-timeout: 1s');
  try {
    const line = p.lines.find((l) => String(l.msg).startsWith('proxyd '))!;
    expect(line).toMatchObject({
      version: VERSION,
      config: p.file,
      rules: 2,
      listeners: { socks: expect.stringMatching(/^127\.0\.0\.1:\d+$/), http: `127.0.0.1:${p.http}` },
      control: p.control,
      msg: `proxyd ${VERSION} started: 2 rules from ${p.file}; control socket ${p.control}`,
    });
  } finally {
    p.child.kill('SIGKILL');
  }
});

test('drain-timeout 2s: SIGTERM with an idle tunnel open exits 0 after about 2 s, the tunnel closed', async () => {
  const p = await start('drain-timeout: 2s');
  const tunnel = await idleTunnel(p.http);
  const closed = once(tunnel, 'close');
  const exited = once(p.child, 'exit');
  const t0 = Date.now();
  p.child.kill('SIGTERM');
  const [code] = await exited;
  const took = Date.now() - t0;
  await closed;
  expect(code).toBe(0);
  expect(took).toBeGreaterThanOrEqual(1900); // it waited for the tunnel…
  expect(took).toBeLessThan(4000); // …no longer than the drain timeout (and exit)
  expect(p.lines.find((l) => l.msg === 'closing 1 connection(s) still open')).toMatchObject({ connections: 1 });
  expect(existsSync(p.control)).toBe(false);
});

test('a second signal stops at once, without waiting for the drain timeout', async () => {
  // SIGTERM then SIGINT, and the other way round (the same signal twice within 500 ms counts as
  // one: a single Ctrl-C under `npm start` arrives twice, see npm-start.test.ts)
  for (const [firstSignal, second] of [['SIGTERM', 'SIGINT'], ['SIGINT', 'SIGTERM']] as const) {
    const p = await start('drain-timeout: 60s');
    const tunnel = await idleTunnel(p.http);
    const closed = once(tunnel, 'close');
    const exited = once(p.child, 'exit');
    p.child.kill(firstSignal);
    await waitFor(() => p.lines.some((l) => String(l.msg).startsWith('stopping:')));
    const t0 = Date.now();
    p.child.kill(second);
    const [code] = await exited;
    await closed;
    expect({ second, code }).toEqual({ second, code: 0 });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(p.lines.some((l) => l.msg === 'second signal: closing every connection now')).toBe(true);
  }
});
