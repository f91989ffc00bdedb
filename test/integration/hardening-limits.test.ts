// What one hostile client or one broken origin could do to everyone else, over real sockets:
// pipelines that fan out, trickling clients, connection floods, password guessing, origins that
// hang (in TLS or before answering), header floods; and what the log must then show.
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { exchange, parseHttpAnswer } from '../fixtures/fuzz-client.js';
import { domain, greeting, request, v4 } from '../fixtures/fuzz-wire.js';
import { startHttpOrigin, startSilentServer, type Origin } from '../fixtures/origin.js';
import { curl } from '../fixtures/run.js';
import { openSession } from '../../src/session.js';

let origin: Origin;
beforeAll(async () => {
  origin = await startHttpOrigin('127.0.0.1');
});
afterAll(() => origin.close());

async function open(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  await once(s, 'connect');
  return s;
}

/** A SOCKS5 tunnel to 127.0.0.1:port, up. */
async function socksTunnel(port: number, target: number): Promise<Socket> {
  const s = await open(port);
  s.write(Buffer.concat([greeting([0]), request(1, v4('127.0.0.1'), target)]));
  let got = Buffer.alloc(0);
  while (got.length < 12) got = Buffer.concat([got, (await once(s, 'data'))[0] as Buffer]);
  expect([...got.subarray(0, 4)]).toEqual([5, 0, 5, 0]);
  return s;
}

/** Splits a byte stream of HTTP/1.1 responses (Content-Length bodies) into status + body pairs. */
function responses(data: Buffer): Array<{ status: number; body: string }> {
  const out: Array<{ status: number; body: string }> = [];
  let rest = data;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return out;
    const head = rest.subarray(0, end).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (rest.length < end + 4 + length) return out;
    out.push({ status: Number(head.slice(9, 12)), body: rest.subarray(end + 4, end + 4 + length).toString() });
    rest = rest.subarray(end + 4 + length);
  }
}

describe('one client connection cannot fan out', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon('rules:\n  - MATCH,DIRECT\n');
  });
  afterAll(() => d.stop());

  test('a 3,000-request pipeline opens at most 6 upstream connections; answers come in order, then 503 and a close', async () => {
    const accepted = origin.connections.accepted;
    const pipeline = Array.from({ length: 3000 }, (_, i) => `GET http://127.0.0.1:${origin.port}/n/${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join('');
    const r = await exchange(d.httpPort, [Buffer.from(pipeline)], { timeoutMs: 10_000 });
    expect(r.closed).toBe(true);
    const got = responses(r.data);
    const answered = got.slice(0, -1);
    expect(answered.length).toBeGreaterThanOrEqual(6);
    expect(answered).toEqual(answered.map((_, i) => ({ status: 200, body: String(i) })));
    expect(got.at(-1)!.status).toBe(503);
    expect(origin.connections.accepted - accepted).toBeLessThanOrEqual(6);
    expect(origin.connections.maxOpen).toBeLessThanOrEqual(6);
  });

  test('2,000 pipelined 1 MB answers that are never read: at most 6 upstream connections, memory flat, all gone within a second of the client leaving', async () => {
    const big = await startHttpOrigin('127.0.0.1');
    try {
      const rssBefore = process.memoryUsage().rss;
      const s = await open(d.httpPort);
      s.pause(); // never read
      s.write(Array.from({ length: 2000 }, (_, i) => `GET http://127.0.0.1:${big.port}/big?n=${1 << 20}&i=${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
      // everything waits on the client: the listener counts the client and its six upstream connections
      await expect.poll(() => [d.connections().http, big.connections.open], { timeout: 5000 }).toEqual([7, 6]);
      const grown = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
      expect(grown, `RSS grew ${grown.toFixed(1)} MiB`).toBeLessThan(64);
      expect(big.seen.length).toBeLessThan(40); // the kernel's socket buffers hold a few answers; the rest were never asked for
      s.destroy();
      const t0 = Date.now();
      await expect.poll(() => big.connections.open, { timeout: 3000 }).toBe(0);
      expect(Date.now() - t0).toBeLessThan(1500);
      await expect.poll(() => d.connections().http, { timeout: 3000 }).toBe(0);
      expect(big.connections.maxOpen).toBe(6);
    } finally {
      await big.close();
    }
  });
});

describe('slow and greedy clients', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon('limits: { handshake-timeout: 400ms, max-connections-per-client: 5 }\nrules:\n  - MATCH,DIRECT\n');
  });
  afterAll(() => d.stop());

  test('after the 408 for a slow head, a client that ignores our FIN and trickles a byte every 100 ms is cut off at a hard deadline', async () => {
    const s = connect({ port: d.httpPort, host: '127.0.0.1', allowHalfOpen: true }); // it keeps its side open
    s.on('error', () => undefined); // EPIPE once proxyd has closed: expected
    const closed = new Promise((resolve) => s.once('close', resolve));
    await once(s, 'connect');
    s.write('GET http://127.0.0.1/ HTTP/1.1\r\nHost: x\r\n'); // never finished
    const [first] = await once(s, 'data');
    expect(String(first)).toMatch(/^HTTP\/1\.1 408 /);
    const answeredAt = Date.now();
    const trickle = setInterval(() => s.writable && s.write('x'), 100);
    await closed;
    clearInterval(trickle);
    const ms = Date.now() - answeredAt;
    expect(ms).toBeGreaterThanOrEqual(1500); // the grace period: the client could have taken the answer and closed
    expect(ms).toBeLessThan(3000); // and not a moment longer, whatever the client sends
  });

  test('one client address gets at most max-connections-per-client; a freed slot is usable again', async () => {
    // five tunnels: past their handshake, so the 400 ms handshake timeout cannot free a slot meanwhile
    const held = await Promise.all(Array.from({ length: 5 }, () => socksTunnel(d.socksPort, origin.port)));
    const extra = await open(d.socksPort);
    let answered = 0;
    extra.on('data', (c: Buffer) => (answered += c.length));
    extra.write(greeting([0])); // an admitted client is answered at once (05 00); this one is closed unread
    await once(extra, 'close');
    expect(answered).toBe(0);
    held[0]!.destroy();
    await expect.poll(() => d.connections().socks).toBe(8); // four tunnels: a client and its upstream each
    const again = await open(d.socksPort);
    again.write(Buffer.concat([greeting([0]), request(1, domain('localhost'), origin.port)]));
    const [reply] = await once(again, 'data');
    expect([...(reply as Buffer).subarray(0, 2)]).toEqual([5, 0]); // served
    for (const s of [...held, again]) s.destroy();
  });
});

describe('password guessing', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon('auth: [{ username: dev, password: "right-one" }]\nrules:\n  - MATCH,DIRECT\n');
  });
  afterAll(() => d.stop());

  /** One RFC 1929 attempt; the status byte and how long the answer took. */
  async function socksAttempt(user: string, password: string): Promise<{ ok: boolean; ms: number }> {
    const t0 = Date.now();
    const auth = Buffer.concat([Buffer.from([1, user.length]), Buffer.from(user), Buffer.from([password.length]), Buffer.from(password)]);
    const r = await exchange(d.socksPort, [Buffer.concat([greeting([2]), auth])], { timeoutMs: 8000, done: (b) => b.length >= 4 });
    return { ok: r.data[3] === 0, ms: Date.now() - t0 };
  }

  test('after 5 failures in 10 s, one client address gets one answer a second, on both protocols; one log line per burst', async () => {
    const bursts = () => d.logs.filter((l) => String(l.msg).startsWith('authentication: 5 failures within 10 s'));
    const unbraked = Date.now();
    for (let i = 0; i < 5; i++) {
      expect((await socksAttempt('dev', `guess-${i}`)).ok).toBe(false);
      expect(bursts(), `after failure ${i + 1}`).toHaveLength(i < 4 ? 0 : 1); // the brake is on from the fifth failure, not before
    }
    expect(Date.now() - unbraked).toBeLessThan(4000); // five answers one a second apart would take 4 s
    // three more at once: taken one per second, whatever their outcome
    const parallel = await Promise.all([socksAttempt('dev', 'guess-a'), socksAttempt('dev', 'right-one'), socksAttempt('dev', 'guess-b')]);
    expect(parallel.map((p) => p.ok)).toEqual([false, true, false]);
    const times = parallel.map((p) => p.ms).sort((a, b) => a - b);
    expect(times[0]).toBeGreaterThanOrEqual(900);
    expect(times[2]).toBeGreaterThanOrEqual(2900);
    // the HTTP listener applies the same brake to the same address
    const t0 = Date.now();
    const http = await curl(['-x', `http://127.0.0.1:${d.httpPort}`, '-U', 'dev:wrong', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${origin.port}/hello`]);
    expect(http.stdout).toBe('407');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(bursts()).toHaveLength(1);
    expect(bursts()[0]).toMatchObject({ client: '127.0.0.1', level: 40 });
  }, 20_000);

  test('failed attempts are logged with the client; a user name is shown only when it is a configured user', async () => {
    const typedPassword = 'Sup3rSecretTypedInTheUserField';
    await socksAttempt(typedPassword, 'x');
    await socksAttempt('dev', 'nope');
    await curl(['-x', `http://127.0.0.1:${d.httpPort}`, '-U', `${typedPassword}:x`, `http://127.0.0.1:${origin.port}/hello`]);
    await curl(['-x', `http://127.0.0.1:${d.httpPort}`, `http://127.0.0.1:${origin.port}/hello`]);
    const failures = () => d.logs.filter((l) => l.error === 'auth' && String(l.msg).startsWith('authentication'));
    await expect.poll(() => failures().length, { timeout: 8000 }).toBeGreaterThanOrEqual(4);
    const last4 = failures().slice(-4);
    const hashed = last4[0]!.user;
    expect(hashed).toMatch(/^unknown:[0-9a-f]{8}$/);
    expect(last4.map((l) => [l.inbound, l.user])).toEqual([['socks5', hashed], ['socks5', 'dev'], ['http', hashed], ['http', undefined]]);
    for (const l of last4) expect(String(l.client)).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(JSON.stringify(d.logs)).not.toContain(typedPassword);
  }, 20_000);
});

describe('origins that hang', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon('limits: { connect-timeout: 500ms, idle-timeout: 1s }\nrules:\n  - MATCH,DIRECT\n');
  });
  afterAll(() => d.stop());

  test('https:// forwarding to an origin that never answers the TLS handshake: 42 requests, each 504 at connect-timeout, each logged, nothing left open', async () => {
    const silent = await startSilentServer();
    try {
      const requests = Array.from({ length: 42 }, (_, i) => exchange(d.httpPort, [Buffer.from(`GET https://127.0.0.1:${silent.port}/r${i} HTTP/1.1\r\nHost: x\r\n\r\n`)], {
        timeoutMs: 5000, done: (b) => parseHttpAnswer(b)?.complete === true,
      }));
      const answers = (await Promise.all(requests)).map((r) => ({ status: parseHttpAnswer(r.data)?.status, ms: r.ms }));
      expect(answers.map((a) => a.status)).toEqual(Array(42).fill(504));
      expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(2500);
      await expect.poll(() => d.logs.filter((l) => l.target === `127.0.0.1:${silent.port}` && l.error === 'timeout').length).toBe(42);
      await expect.poll(() => silent.connections.open, { timeout: 3000 }).toBe(0);
      expect(silent.connections.accepted).toBe(42);
    } finally {
      await silent.close();
    }
  });

  test('an origin that accepts the request and never answers: 504 with class timeout at idle-timeout, and the log says so', async () => {
    const silent = await startSilentServer();
    try {
      const r = await curl(['-x', `http://127.0.0.1:${d.httpPort}`, '-D', '-', `http://127.0.0.1:${silent.port}/slow`]);
      expect(r.stdout).toMatch(/^HTTP\/1\.1 504 /);
      expect(r.stdout).toMatch(/^X-Proxyd-Error: timeout\r$/m);
      expect(r.stdout).toContain(`proxyd: http://127.0.0.1:${silent.port} sent no response within 1000 ms (timeout)`);
      await expect.poll(() => d.logs.findLast((l) => l.target === `127.0.0.1:${silent.port}`)).toMatchObject({ error: 'timeout', hop: 'origin' });
      await expect.poll(() => silent.connections.open, { timeout: 3000 }).toBe(0);
    } finally {
      await silent.close();
    }
  });
});

describe('header floods', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon('rules:\n  - MATCH,DIRECT\n');
  });
  afterAll(() => d.stop());

  test('3,000 header lines within header-max-bytes all reach the origin; over it, 431', async () => {
    const lines = Array.from({ length: 3000 }, (_, i) => `X-H-${i}: ${i}\r\n`).join('');
    const req = `GET http://127.0.0.1:${origin.port}/hello HTTP/1.1\r\nHost: x\r\n${lines}Connection: close\r\n\r\n`;
    const r = await exchange(d.httpPort, [Buffer.from(req)], { timeoutMs: 5000, done: (b) => parseHttpAnswer(b)?.complete === true });
    expect(parseHttpAnswer(r.data)?.status).toBe(200);
    const seen = origin.seen.at(-1)!;
    const forwarded = seen.rawHeaders.filter((_, i, all) => i % 2 === 0 && all[i]!.startsWith('X-H-'));
    expect(forwarded).toHaveLength(3000);
    const tooBig = `GET http://127.0.0.1:${origin.port}/hello HTTP/1.1\r\nHost: x\r\n${lines.repeat(4)}\r\n`;
    const refused = await exchange(d.httpPort, [Buffer.from(tooBig)], { timeoutMs: 5000 });
    expect(parseHttpAnswer(refused.data)?.status).toBe(431);
  });

});

describe('a client that is gone by the time its tunnel starts (it left while the guessing brake held it)', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon('rules:\n  - MATCH,DIRECT\n');
  });
  afterAll(() => d.stop());

  test('the engine leaves nothing behind: no open session, no dial, one log line', async () => {
    const gone = await open(origin.port);
    gone.destroy();
    await once(gone, 'close');
    const before = origin.connections.accepted;
    const failed: string[] = [];
    await d.engine.tunnel(openSession('http', 'tunnel', gone, { host: '127.0.0.1', port: origin.port }), gone, {
      ok: () => failed.push('ok'),
      fail: (e) => failed.push(e.cls),
    });
    expect(d.engine.open.size).toBe(0);
    expect(origin.connections.accepted).toBe(before); // nothing was dialled for it
    expect(failed).toEqual([]); // nobody to answer
    await expect.poll(() => d.logs.findLast((l) => l.mode === 'tunnel')).toMatchObject({ error: 'reset', hop: 'client', reason: 'client left before the tunnel was up' });
  });
});
