// A bug on the way to an upstream (here in the dialer a proxy's server is reached through, `via:`)
// is proxyd's own: class internal, hop proxyd, its stack logged once, HTTP 500 / SOCKS5 0x01. It
// is not an upstream failure: a group does not count it against the member, in its checks either.
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Group } from '../../src/outbound/group/index.js';
import { registerOutboundKind, type Dialed, type Dialer } from '../../src/outbound/index.js';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { startHttpOrigin, type Origin } from '../fixtures/origin.js';
import { curl } from '../fixtures/run.js';

class BuggyDialer implements Dialer {
  readonly kind = 'dialer';
  constructor(readonly name: string) {}
  async dial(): Promise<Dialed> {
    const hop = undefined as unknown as { socket: Dialed['socket'] };
    return { socket: hop.socket, chain: [this.name] }; // TypeError: the bug
  }
  async close(): Promise<void> {}
}

let origin: Origin;
let d: TestDaemon;
beforeAll(async () => {
  registerOutboundKind('test-buggy', { builds: 'dialer', build: (def) => new BuggyDialer(def.name) });
  origin = await startHttpOrigin();
  // `buggy` is written as a proxy so the config checks; the test makes it the buggy dialer
  d = await startTestDaemon(`proxies:
  - { name: buggy, type: socks5, server: 127.0.0.1:9 }
  - { name: up, type: socks5, server: 127.0.0.1:9, via: buggy }
groups:
  - { name: out, type: fallback, members: [up], check: { interval: 1h } }
rules:
  - MATCH,out
`, {}, (c) => ({ ...c, outbounds: c.outbounds.map((o) => (o.name === 'buggy' ? { name: 'buggy', type: 'test-buggy' } : o)) }));
});
afterAll(async () => {
  await d.stop({ now: true });
  await origin.close();
});

const sessionLines = () => d.logs.filter((l) => l.mode === 'forward' || l.mode === 'tunnel');

test('HTTP: 500 with class internal, the stack logged once with the session, the member not blamed', async () => {
  const r = await curl(['-x', `http://127.0.0.1:${d.httpPort}`, '-D', '-', '-o', '/dev/null', `http://127.0.0.1:${origin.port}/hello`]);
  expect(r.stdout).toMatch(/^HTTP\/1\.1 500 /);
  expect(r.stdout).toMatch(/^x-proxyd-error: internal\r$/im);
  await expect.poll(() => sessionLines().length).toBe(1);
  const [line] = sessionLines();
  expect(line).toMatchObject({ error: 'internal', hop: 'proxyd' });
  expect(String(line!.stack)).toMatch(/^TypeError: .*\n\s+at BuggyDialer\.dial /);
  expect(d.logs.filter((l) => l.stack === line!.stack)).toHaveLength(1);
  const up = (d.engine.state.outbounds.get('out') as Group).health().members.find((m) => m.name === 'up')!;
  expect(Object.values(up.errors).every((n) => n === 0)).toBe(true);
  expect(up.status).not.toBe('down');
  expect(d.logs.find((l) => String(l.msg).startsWith('checking out/up failed inside proxyd'))).toMatchObject({ error: 'internal', stack: expect.stringMatching(/^TypeError/) });
});

test('SOCKS5: reply 0x01 (general failure)', async () => {
  const s = connect(d.socksPort, '127.0.0.1');
  s.on('error', () => undefined);
  await once(s, 'connect');
  s.write(Buffer.from([5, 1, 0]));
  await once(s, 'data');
  const request = Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, 0, 0]);
  request.writeUInt16BE(origin.port, 8);
  s.write(request);
  const [reply] = (await once(s, 'data')) as [Buffer];
  s.destroy();
  expect(reply[1]).toBe(0x01);
  await expect.poll(() => sessionLines().filter((l) => l.mode === 'tunnel')).toMatchObject([{ error: 'internal', hop: 'proxyd' }]);
});
