// The live listeners under hostile input: specific bad handshakes get the protocol's own error,
// valid handshakes survive any TCP segmentation, and a few hundred fuzzed connections are each
// answered or closed within the handshake timeout — after which the daemon still serves normally.
//
// Safety: random bytes decode to real addresses. Every dial is kept on loopback by the daemon's own
// rules (MATCH,REJECT for anything that is not 127/8, ::1 or localhost; no-resolve so no DNS), and
// the first tests check that guard before any fuzzing; the last checks the logs that it held.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { eventually, exchange, parseHttpAnswer, pool, tcpHandles, type Exchange } from '../fixtures/fuzz-client.js';
import {
  cutsArb, domain, greeting, hostNameArb, ipv4Arb, ipv6GroupsArb, parseReply, portArb, request, rfc5952, splitAt, v4, v6,
} from '../fixtures/fuzz-wire.js';
import { startBadOrigin, type BadOrigin } from '../fixtures/fuzz-origin.js';
import { startEchoServer, startHttpOrigin, type Origin } from '../fixtures/origin.js';
import { curl } from '../fixtures/run.js';

const HANDSHAKE_MS = 1000;
const IDLE_MS = 2000;
const HEADER_MAX = 8 * 1024;
const CONFIG = `limits: { handshake-timeout: 1s, header-max-bytes: 8KiB, idle-timeout: 2s, drain-timeout: 1s }
rules:
  - IP-CIDR,127.0.0.0/8,DIRECT,no-resolve
  - IP-CIDR6,::1/128,DIRECT,no-resolve
  - DOMAIN,localhost,DIRECT
  - MATCH,REJECT
`;
/** what a fuzzed connection may take at most: the handshake timeout plus scheduling slack on a busy 2-core box */
const ANSWER_WITHIN_MS = HANDSHAKE_MS + 2000;
/** …and one whose request head is complete but whose announced body never comes: the idle timeout */
const BODY_WITHIN_MS = IDLE_MS + 2000;

let d: TestDaemon;
let echo4: { port: number; close(): Promise<void> };
let echo6: { port: number; close(): Promise<void> };
let origin: Origin;
let badOrigin: BadOrigin;
const ports = () => ({ socks: d.socksPort, http: d.httpPort });
const bothPorts = [['SOCKS port', 'socks'], ['HTTP port', 'http']] as const;

beforeAll(async () => {
  [echo4, echo6, origin, badOrigin] = await Promise.all([startEchoServer('127.0.0.1'), startEchoServer('::1'), startHttpOrigin('127.0.0.1'), startBadOrigin('127.0.0.1')]);
  d = await startTestDaemon(CONFIG);
}, 20_000);
afterAll(async () => {
  // whatever subset of this file ran: no DIRECT connection left loopback (the guard of every dial)
  const strays = (d?.logs ?? []).filter((l) => l.route === 'DIRECT' && !LOOPBACK_TARGET.test(String(l.target)));
  await d?.stop();
  await Promise.all([echo4?.close(), echo6?.close(), origin?.close(), badOrigin?.close()]);
  expect(strays).toEqual([]);
}, 20_000);

const LOOPBACK_TARGET = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|\[::ffff:(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|7f[0-9a-f]{2}:[0-9a-f]{1,4})\]|localhost):\d{1,5}$/;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const send = (port: number, bytes: Uint8Array | string, timeoutMs = ANSWER_WITHIN_MS) =>
  exchange(port, [typeof bytes === 'string' ? Buffer.from(bytes) : bytes], { timeoutMs });
/** an HTTP request whose head is complete and announces more body than was sent (the body phase, not the handshake) */
const awaitsBody = (bytes: Buffer) => {
  if (bytes[0] === 0x05) return false;
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const head = bytes.subarray(0, end).toString('latin1');
  const cl = /\r\ncontent-length:[ \t]*(\d+)[ \t]*(\r|$)/i.exec(head);
  return (cl !== null && Number(cl[1]) > bytes.length - end - 4) || /\r\ntransfer-encoding:/i.test(head);
};

describe('the guard: only loopback is ever dialled', { timeout: 20_000 }, () => {
  test('the rules send every non-loopback target to REJECT, without a DNS lookup; loopback goes DIRECT', async () => {
    const router = d.config.router;
    let lookups = 0;
    const lyingResolver = async () => { lookups++; return ['127.0.0.1']; }; // would turn any name into loopback
    const notLoopback = fc.oneof(
      ipv4Arb.filter((a) => !a.startsWith('127.')),
      ipv6GroupsArb.map(rfc5952).filter((a) => a !== '::1' && !a.startsWith('::ffff:7f')),
      hostNameArb.filter((h) => h !== 'localhost'),
    );
    await fc.assert(fc.asyncProperty(notLoopback, portArb, async (host, port) => {
      expect((await router.match({ host, port }, lyingResolver)).target).toBe('REJECT');
    }), { numRuns: 500 });
    for (const host of ['127.0.0.1', '127.255.0.9', '::1', 'localhost']) {
      expect((await router.match({ host, port: 80 }, lyingResolver)).target, host).toBe('DIRECT');
    }
    expect(lookups).toBe(0);
  });

  // RFC 4291 §2.5.5.2: ::ffff:127.0.0.1 *is* 127.0.0.1 (DIRECT dials it and reaches the echo server), so
  // the router must match it against IPv4 rules: a regression guard for a time when it only knew the
  // dotted form while the SOCKS5 codec wrote ::ffff:7f00:1. (See the unit test in socks5-codec.)
  test('an IPv4-mapped IPv6 target is routed like its IPv4 address: ::ffff:127.0.0.1 → DIRECT, the echo answers', async () => {
    const mapped = { atyp: 0x04 as const, bytes: [...Array(10).fill(0), 0xff, 0xff, 127, 0, 0, 1], host: '::ffff:127.0.0.1' };
    const r = await exchange(d.socksPort, [Buffer.concat([greeting([0]), request(1, mapped, echo4.port), Buffer.from('ping')])], {
      timeoutMs: 3000, done: (b) => b.length >= 2 + 4 && (b[3] !== 0 || b.subarray(2).includes(Buffer.from('ping'))),
    });
    expect(parseReply(r.data.subarray(2))?.code, 'SOCKS5 reply code').toBe(0);
    expect(r.data.subarray(-4).toString()).toBe('ping');
  });

  test.each(bothPorts)('non-loopback targets are refused on the %s: SOCKS5 reply 0x02, HTTP 403', async (_n, which) => {
    const port = ports()[which];
    for (const t of [v4('8.8.8.8'), v6([0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888]), domain('Example.COM')]) {
      const r = await send(port, Buffer.concat([greeting([0]), request(1, t, 443)]));
      expect(r.timedOut).toBe(false);
      expect([...r.data], t.host).toEqual([5, 0, 5, 2, 0, 1, 0, 0, 0, 0, 0, 0]);
    }
    for (const req of [
      'CONNECT 1.1.1.1:443 HTTP/1.1\r\nHost: 1.1.1.1:443\r\n\r\n',
      'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
      'GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n',
    ]) {
      const r = await send(port, req);
      expect(parseHttpAnswer(r.data)?.status, req).toBe(403);
    }
    const lines = d.logs.filter((l) => l.route === 'REJECT' && (l.target === 'example.com:443' || l.target === '8.8.8.8:443'));
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l.rule).toBe('MATCH,REJECT');
  });
});

describe('specific bad input gets the protocol\'s own answer', { timeout: 20_000 }, () => {
  test.each(bothPorts)('a line that is neither SOCKS5 nor HTTP → HTTP/1.1 400 on the %s, then close', async (_n, which) => {
    for (const junk of ['hello proxy, are you there?\r\n\r\n', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', 'SSH-2.0-OpenSSH_9.6\r\n']) {
      const r = await send(ports()[which], junk);
      expect(r.data.toString('latin1'), JSON.stringify(junk)).toMatch(/^HTTP\/1\.1 400 /);
      expect(r.closed).toBe(true);
    }
  });

  test.each(bothPorts)('a request head over header-max-bytes → 431 on the %s; just under it is served', async (_n, which) => {
    const port = ports()[which];
    const head = (pad: number) => `GET http://127.0.0.1:${origin.port}/hello HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nX-Pad: ${'a'.repeat(pad)}\r\nConnection: close\r\n\r\n`;
    const big = await send(port, head(2 * HEADER_MAX));
    expect(big.data.toString('latin1')).toMatch(/^HTTP\/1\.1 431 /);
    expect(big.closed).toBe(true);
    const ok = await exchange(port, [Buffer.from(head(HEADER_MAX - 1024))], { timeoutMs: 5000, done: (b) => parseHttpAnswer(b)?.complete === true });
    const a = parseHttpAnswer(ok.data);
    expect(a?.status).toBe(200);
    expect(a?.body.toString()).toBe('hello from origin');
  });

  test.each(bothPorts)('SOCKS5 BIND and UDP ASSOCIATE → reply 0x07 as a full 10-byte reply on the %s', async (_n, which) => {
    for (const cmd of [0x02, 0x03]) {
      const r = await send(ports()[which], Buffer.concat([greeting([0]), request(cmd, v4('127.0.0.1'), echo4.port)]));
      expect([...r.data], `cmd ${cmd}`).toEqual([5, 0, 5, 7, 0, 1, 0, 0, 0, 0, 0, 0]);
      expect(r.closed).toBe(true);
    }
  });

  test.each(bothPorts)('SOCKS5 ATYP 0x05 → reply 0x08 as a full 10-byte reply on the %s', async (_n, which) => {
    const r = await send(ports()[which], Buffer.from([5, 1, 0, 5, 1, 0, 5, 127, 0, 0, 1, 0, 80]));
    expect([...r.data]).toEqual([5, 0, 5, 8, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(r.closed).toBe(true);
  });

  test.each(bothPorts)('a greeting with no acceptable method → 05 FF and close on the %s', async (_n, which) => {
    for (const methods of [[0x02], [0x01], [0x03, 0x80, 0xfe]]) {
      const r = await send(ports()[which], greeting(methods));
      expect([...r.data], `methods ${methods}`).toEqual([5, 0xff]);
      expect(r.closed).toBe(true);
    }
  });

  test.each(bothPorts)('a client that sends nothing, or half a handshake, is closed at the handshake timeout (%s)', async (_n, which) => {
    const port = ports()[which];
    const cases: Array<[string, Buffer[]]> = [
      ['nothing', []],
      ['half a greeting', [Buffer.from([5, 3, 0])]],
      ['half a request', [Buffer.concat([greeting([0]), Buffer.from([5, 1, 0, 3, 20, ...Buffer.from('exam')])])]],
      ['half an HTTP head', [Buffer.from('GET http://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n')]],
    ];
    const results = await Promise.all(cases.map(([, chunks]) => exchange(port, chunks, { timeoutMs: HANDSHAKE_MS + 3000 })));
    results.forEach((r, i) => {
      expect(r.closed, cases[i]![0]).toBe(true);
      expect(r.ms, cases[i]![0]).toBeGreaterThanOrEqual(HANDSHAKE_MS - 50);
      expect(r.ms, cases[i]![0]).toBeLessThan(HANDSHAKE_MS + 1500);
    });
  });

  // "Bad input": a slow client gets the protocol's own error (HTTP 408 with a one-line reason), not a
  // bare reset from the listener's handshake timer.
  test('a slow HTTP request head gets 408 Request Timeout at the handshake timeout', async () => {
    const r = await exchange(d.httpPort, [Buffer.from('GET http://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n')], { timeoutMs: HANDSHAKE_MS + 3000 });
    expect(r.ms).toBeLessThan(HANDSHAKE_MS + 1500);
    expect(r.data.toString('latin1')).toMatch(/^HTTP\/1\.1 408 /);
  });

  // The listener's handshake timer ends with the first request; every later request head on a
  // keep-alive connection is bound by the HTTP server's own head timeout, set to handshake-timeout.
  test('a second request head on a keep-alive connection is also bound by the handshake timeout', async () => {
    const first = `GET http://127.0.0.1:${origin.port}/hello HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`;
    const r = await exchange(d.httpPort, [Buffer.from(first), Buffer.from('GET http://127.0.0.1/ HTTP/1.1\r\nX-Slow: ')], {
      delays: [200],
      timeoutMs: 200 + HANDSHAKE_MS + 2500,
    });
    expect(parseHttpAnswer(r.data)?.status).toBe(200); // the first request was served
    expect(r.closed, `still open after ${r.ms} ms`).toBe(true);
    expect(r.ms).toBeLessThan(200 + HANDSHAKE_MS + 1500);
  });
});

describe('valid handshakes in any segmentation, on both ports', { timeout: 40_000 }, () => {
  const portArbLive = fc.constantFrom<'socks' | 'http'>('socks', 'http');
  const payloadArb = fc.uint8Array({ minLength: 1, maxLength: 256 });
  const delaysArb = fc.array(fc.integer({ min: 0, max: 12 }), { maxLength: 8 });
  const RUNS = { numRuns: 30, interruptAfterTimeLimit: 25_000, markInterruptAsFailure: true } as const;

  test('SOCKS5 greeting + CONNECT + data, split anywhere: the same success reply and a working echo', async () => {
    const targets = [
      { t: v4('127.0.0.1'), port: () => echo4.port, atyp: 1, bound: '127.0.0.1' },
      { t: domain('LocalHost.'), port: () => echo4.port, atyp: 1, bound: '127.0.0.1' },
      { t: v6([0, 0, 0, 0, 0, 0, 0, 1]), port: () => echo6.port, atyp: 4, bound: '::1' },
    ];
    const arb = fc.record({ which: portArbLive, target: fc.constantFrom(...targets), payload: payloadArb, delays: delaysArb })
      .chain((c) => {
        const bytes = Buffer.concat([greeting([0]), request(1, c.target.t, c.target.port()), c.payload]);
        return cutsArb(bytes.length).map((cuts) => ({ ...c, bytes, cuts }));
      });
    await fc.assert(fc.asyncProperty(arb, async ({ which, target, payload, delays, bytes, cuts }) => {
      const replyLen = target.atyp === 1 ? 10 : 22;
      const r = await exchange(ports()[which], splitAt(bytes, cuts), {
        delays, timeoutMs: 4000, done: (b) => b.length >= 2 + replyLen + payload.length,
      });
      expect(r.timedOut, `${which} ${hex(bytes)} cuts ${cuts}`).toBe(false);
      expect([...r.data.subarray(0, 2)]).toEqual([5, 0]);
      const reply = parseReply(r.data.subarray(2));
      expect(reply).toMatchObject({ ver: 5, code: 0, rsv: 0, atyp: target.atyp, address: target.bound, length: replyLen });
      expect(reply!.port).toBeGreaterThan(0);
      expect(hex(r.data.subarray(2 + replyLen))).toBe(hex(payload));
    }), RUNS);
  });

  test('HTTP CONNECT + data, split anywhere: 200 Connection Established and a working echo', async () => {
    const arb = fc.record({ which: portArbLive, v6: fc.boolean(), payload: payloadArb, delays: delaysArb })
      .chain((c) => {
        const authority = c.v6 ? `[::1]:${echo6.port}` : `127.0.0.1:${echo4.port}`;
        const bytes = Buffer.concat([Buffer.from(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\nUser-Agent: fuzz\r\n\r\n`), c.payload]);
        return cutsArb(bytes.length).map((cuts) => ({ ...c, bytes, cuts }));
      });
    const ok = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n');
    await fc.assert(fc.asyncProperty(arb, async ({ which, payload, delays, bytes, cuts }) => {
      const r = await exchange(ports()[which], splitAt(bytes, cuts), { delays, timeoutMs: 4000, done: (b) => b.length >= ok.length + payload.length });
      expect(r.timedOut, `${which} ${JSON.stringify(bytes.toString('latin1'))} cuts ${cuts}`).toBe(false);
      expect(r.data.subarray(0, ok.length).toString('latin1')).toBe(ok.toString());
      expect(hex(r.data.subarray(ok.length))).toBe(hex(payload));
    }), RUNS);
  });

  test('absolute-URI GET, split anywhere: the origin\'s answer with Via', async () => {
    const arb = fc.record({ which: portArbLive, delays: delaysArb, query: fc.stringMatching(/^[a-z0-9=&]{1,20}$/) })
      .chain((c) => {
        const bytes = Buffer.from(`GET http://127.0.0.1:${origin.port}/hello?${c.query} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nAccept: */*\r\nConnection: close\r\n\r\n`);
        return cutsArb(bytes.length).map((cuts) => ({ ...c, bytes, cuts }));
      });
    await fc.assert(fc.asyncProperty(arb, async ({ which, delays, bytes, cuts, query }) => {
      const r = await exchange(ports()[which], splitAt(bytes, cuts), { delays, timeoutMs: 4000, done: (b) => parseHttpAnswer(b)?.complete === true });
      expect(r.timedOut, `${which} cuts ${cuts}`).toBe(false);
      const a = parseHttpAnswer(r.data)!;
      expect(a.status).toBe(200);
      expect(a.body.toString()).toBe('hello from origin');
      expect(a.headers['x-origin']).toBe('yes');
      expect(a.headers.via).toMatch(/^1\.1 proxyd-/);
      expect(origin.seen.at(-1)?.url).toBe(`/hello?${query}`);
    }), RUNS);
  });
});

describe('forwarding: what reaches the origin, and an origin that breaks', { timeout: 20_000 }, () => {
  // RFC 9110 §7.7: "A proxy MUST NOT modify the 'absolute-path' and 'query' parts of the received target
  // URI when forwarding it". The WHATWG URL parser would drop an empty query, resolve dot segments (also
  // %2e%2e) and percent-encode ' in queries, so the path is taken from the request-target as written.
  test('the origin sees the path and query exactly as the client sent them', async () => {
    const sent = ['/hello', '/hello?a=1&b=%20', '/hello?', "/hello?q=it's", '/a/../hello', '/x/./hello', '/hello/%2e%2e/x'];
    const seen: string[] = [];
    for (const pathQuery of sent) {
      const req = `GET http://127.0.0.1:${origin.port}${pathQuery} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nConnection: close\r\n\r\n`;
      const r = await exchange(d.httpPort, [Buffer.from(req)], { timeoutMs: 5000, done: (b) => parseHttpAnswer(b)?.complete === true });
      expect(parseHttpAnswer(r.data)?.headers.via, pathQuery).toMatch(/proxyd-/); // it went through the proxy to the origin
      seen.push(origin.seen.at(-1)?.url ?? '(nothing)');
    }
    expect(seen).toEqual(sent);
  });

  // Regression guard for a crash found while writing this file: when forwarding used undici's stream()
  // with the client's IncomingMessage as the body, an upstream failing after the response head (reset, or
  // body timeout) while the client was still uploading made undici's StreamHandler.onError run twice (once
  // for the upstream error, once for the body's 'error' it re-emits), and the finished(res) callback then
  // called runInAsyncScope(null, …) — "TypeError: Function.prototype.apply was called on null" from an
  // event handler, i.e. the daemon process died. Commit 21926df (dispatch handler instead of stream())
  // removed that path; this keeps it removed.
  test('an upstream that resets mid-response while the client is still uploading does not crash the daemon', async () => {
    const crashes: Error[] = [];
    const onCrash = (e: Error) => crashes.push(e);
    process.on('uncaughtException', onCrash);
    try {
      const head = `POST http://127.0.0.1:${badOrigin.port}/reset-mid-body HTTP/1.1\r\nHost: 127.0.0.1:${badOrigin.port}\r\nContent-Length: 1000\r\n\r\nabc`;
      const r = await exchange(d.httpPort, [Buffer.from(head)], { timeoutMs: 3000 });
      // the request's log line is written after the response has closed: the crash came from that close
      await expect.poll(() => d.logs.some((l) => l.target === `127.0.0.1:${badOrigin.port}` && l.mode === 'forward'), { timeout: 3000 }).toBe(true);
      expect(crashes.map((e) => e.message)).toEqual([]);
      // the client sees the origin's head and then a broken message (not a short one), or a proxy error
      const a = parseHttpAnswer(r.data);
      expect(a && ((a.status === 200 && !a.complete) || [408, 502, 504].includes(a.status)), r.data.toString('latin1')).toBe(true);
      expect(r.closed).toBe(true);
      // and everyone else is still served
      const next = await exchange(d.httpPort, [Buffer.from(`GET http://127.0.0.1:${origin.port}/hello HTTP/1.1\r\nHost: x\r\n\r\n`)], {
        timeoutMs: 3000, done: (b) => parseHttpAnswer(b)?.complete === true,
      });
      expect(parseHttpAnswer(next.data)?.body.toString()).toBe('hello from origin');
    } finally {
      process.removeListener('uncaughtException', onCrash);
    }
  });

  // Slow client, body phase: the handshake timer ends with the head, and undici sends nothing upstream
  // until the first body byte, so only proxyd's own watch on the body ends a client that announced a
  // body and went quiet: 408 at idle-timeout.
  test('a request whose announced body never comes is ended by the idle timeout with 408', async () => {
    const head = `POST http://127.0.0.1:${origin.port}/echo HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nContent-Length: 1000\r\n\r\n`;
    const r = await exchange(d.httpPort, [Buffer.from(head)], { timeoutMs: IDLE_MS + 2500 });
    expect(r.timedOut, `no answer and still open after ${r.ms} ms`).toBe(false);
    expect(r.ms).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(r.ms).toBeLessThan(IDLE_MS + 1500);
    expect(r.data.toString('latin1')).toMatch(/^HTTP\/1\.1 408 /);
  });
});

describe('fuzz', { timeout: 60_000 }, () => {
  const N = 400;
  const BUDGET_MS = 50_000;
  let baselineHandles = 0;
  let heapBefore = 0;
  let rejectLinesBefore = 0;
  let logLinesBefore = 0;
  let outcome: { results: Array<{ c: { which: 'socks' | 'http'; body: { kind: string; bytes: Buffer } }; r: Exchange }>; seed: number; elapsed: number };

  // every test below reads what this one run produced; none depends on another test having run
  beforeAll(async () => {
    baselineHandles = tcpHandles();
    heapBefore = process.memoryUsage().heapUsed;
    rejectLinesBefore = d.logs.filter((l) => l.route === 'REJECT').length;
    logLinesBefore = d.logs.length;
    const socksBases = [
      Buffer.concat([greeting([0]), request(1, v4('127.0.0.1'), echo4.port)]),
      Buffer.concat([greeting([0, 2]), request(1, domain('localhost'), echo4.port)]),
      Buffer.concat([greeting([0]), request(1, v6([0, 0, 0, 0, 0, 0, 0, 1]), echo6.port)]),
      Buffer.concat([greeting([0]), request(1, v4('8.8.8.8'), 53)]),
      Buffer.concat([greeting([0]), request(1, domain('example.com'), 443)]),
      Buffer.concat([greeting([0]), request(2, v4('127.0.0.1'), echo4.port)]),
    ];
    const httpBases = [
      `CONNECT 127.0.0.1:${echo4.port} HTTP/1.1\r\nHost: 127.0.0.1:${echo4.port}\r\n\r\n`,
      `GET http://127.0.0.1:${origin.port}/hello HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nUser-Agent: fuzz\r\nAccept: */*\r\n\r\n`,
      'GET /go/example.com/@v/list HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
      'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nProxy-Connection: keep-alive\r\n\r\n',
      'POST http://example.com/upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello',
      `GET http://[::1]:${origin.port}/hello HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n`,
    ].map((s) => Buffer.from(s));

    type Op =
      | { op: 'flip'; at: number; value: number }
      | { op: 'truncate'; at: number }
      | { op: 'insert'; at: number; bytes: Uint8Array }
      | { op: 'oversize'; at: number; value: number }
      | { op: 'append'; bytes: Uint8Array }
      | { op: 'bigHeader'; size: number };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 4, arbitrary: fc.record({ op: fc.constant('flip' as const), at: fc.nat(), value: fc.nat(255) }) },
      { weight: 2, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }) },
      { weight: 2, arbitrary: fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
      { weight: 2, arbitrary: fc.record({ op: fc.constant('oversize' as const), at: fc.nat(), value: fc.integer({ min: 0x80, max: 0xff }) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('bigHeader' as const), size: fc.integer({ min: 100, max: 3 * HEADER_MAX }) }) },
    );
    const apply = (b: Buffer, o: Op, socks: boolean): Buffer => {
      const at = 'at' in o ? o.at % Math.max(1, b.length) : 0;
      switch (o.op) {
        case 'flip': { const c = Buffer.from(b); c[at] = o.value; return c; }
        case 'truncate': return b.subarray(0, Math.max(1, at));
        case 'insert': return Buffer.concat([b.subarray(0, at), o.bytes, b.subarray(at)]);
        case 'append': return Buffer.concat([b, o.bytes]);
        case 'oversize': {
          // a length field claiming more than follows: NMETHODS, or the domain-name length
          if (!socks) return Buffer.concat([b.subarray(0, b.indexOf('\r\n') + 2), Buffer.from(`Content-Length: ${o.value}${'9'.repeat(o.at % 12)}\r\n`), b.subarray(b.indexOf('\r\n') + 2)]);
          const c = Buffer.from(b);
          const fields = [1, c[1]! + 2 + 4].filter((i) => i < c.length);
          c[fields[o.at % fields.length]!] = o.value;
          return c;
        }
        case 'bigHeader': {
          if (socks) return Buffer.concat([b, Buffer.alloc(o.size, 0x41)]);
          const i = b.indexOf('\r\n') + 2;
          return Buffer.concat([b.subarray(0, i), Buffer.from(`X-Big: ${'b'.repeat(o.size)}\r\n`), b.subarray(i)]);
        }
      }
    };
    const mutated = (bases: Buffer[], socks: boolean, kind: string) =>
      fc.tuple(fc.constantFrom(...bases), fc.array(opArb, { minLength: 1, maxLength: 3 }))
        .map(([base, ops]) => ({ kind, bytes: ops.reduce((b, o) => apply(b, o, socks), base) }));
    const caseArb = fc.record({
      which: fc.constantFrom<'socks' | 'http'>('socks', 'http'),
      body: fc.oneof(
        { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 200 }).map((bytes) => ({ kind: 'random', bytes: Buffer.from(bytes) })) },
        { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 120 }).map((s) => ({ kind: 'text', bytes: Buffer.from(`${s}\r\n\r\n`) })) },
        { weight: 2, arbitrary: fc.uint8Array({ maxLength: 64 }).map((r) => ({ kind: 'after-greeting', bytes: Buffer.concat([greeting([0]), r]) })) },
        {
          weight: 2,
          arbitrary: fc.tuple(fc.nat(255), fc.oneof(fc.constantFrom(1, 3, 4, 5), fc.nat(255)), fc.uint8Array({ maxLength: 40 }))
            .map(([cmd, atyp, rest]) => ({ kind: 'request-fields', bytes: Buffer.concat([greeting([0]), Buffer.from([5, cmd, 0, atyp]), rest]) })),
        },
        { weight: 4, arbitrary: mutated(socksBases, true, 'socks-mutation') },
        { weight: 4, arbitrary: mutated(httpBases, false, 'http-mutation') },
        {
          // a body length larger than what follows (often nothing at all)
          weight: 1,
          arbitrary: fc.tuple(fc.constantFrom('GET', 'POST', 'PUT'), fc.integer({ min: 1, max: 2 ** 40 }), fc.nat(16)).map(([method, cl, sent]) => ({
            kind: 'body-claim',
            bytes: Buffer.from(`${method} http://127.0.0.1:${origin.port}/hello HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nContent-Length: ${cl}\r\n\r\n${'x'.repeat(Math.min(sent, cl - 1))}`),
          })),
        },
      ),
    }).chain((c) => cutsArb(c.body.bytes.length, 2).map((cuts) => ({ ...c, cuts })));

    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
    const cases = fc.sample(caseArb, { numRuns: N, seed });
    const started = Date.now();
    const results = await pool(cases.map((c) => async () => ({ c, r: await exchange(ports()[c.which], splitAt(c.body.bytes, c.cuts), {
      timeoutMs: awaitsBody(c.body.bytes) ? BODY_WITHIN_MS : ANSWER_WITHIN_MS,
      done: (b) => {
        if (c.body.bytes[0] === 0x05) return b.length >= 2 && b[1] === 0 && parseReply(b.subarray(2))?.code === 0; // a tunnel is up
        const a = parseHttpAnswer(b, { connect: true });
        return a?.complete === true;
      },
    }) })), 16, BUDGET_MS);
    outcome = { results, seed, elapsed: Date.now() - started };
  }, 90_000);

  test(`${N} fuzzed connections all run; each answered in its own protocol or closed within the handshake timeout`, () => {
    const { results, seed, elapsed } = outcome;
    const describeCase = ({ c, r }: (typeof results)[number]) =>
      `[seed ${seed}] ${c.body.kind} → ${c.which} port, ${r.ms} ms, sent ${hex(c.body.bytes).slice(0, 400)} got ${hex(r.data).slice(0, 80)}`;
    expect(results.length, `only ${results.length} of ${N} cases ran in ${BUDGET_MS} ms (seed ${seed})`).toBe(N);

    // every kind of failure is collected first and compared at the end, so one kind cannot hide another
    const hungInHandshake = results.filter((x) => x.r.timedOut && !awaitsBody(x.c.body.bytes)).map(describeCase);
    const hungAwaitingBody = results.filter((x) => x.r.timedOut && awaitsBody(x.c.body.bytes)).map(describeCase);
    const wrong: string[] = [];
    for (const x of results) {
      const { c, r } = x;
      if (r.data.length === 0) continue;
      if (c.body.bytes[0] === 0x05) {
        // SOCKS5: method choice, then at most one full-length reply; nothing after an error
        if (r.data[0] !== 5 || (r.data.length >= 2 && r.data[1] !== 0 && r.data[1] !== 0xff)) { wrong.push(`bad method choice: ${describeCase(x)}`); continue; }
        if (r.data[1] === 0xff && r.data.length !== 2) { wrong.push(`bytes after 05 FF: ${describeCase(x)}`); continue; }
        if (r.data.length <= 2) continue;
        const reply = parseReply(r.data.subarray(2));
        if (!reply || reply.ver !== 5 || reply.rsv !== 0 || (reply.atyp !== 1 && reply.atyp !== 4) || reply.code > 8) { wrong.push(`bad reply: ${describeCase(x)}`); continue; }
        if (reply.code !== 0 && r.data.length !== 2 + reply.length) wrong.push(`bytes after an error reply: ${describeCase(x)}`);
      } else {
        const text = r.data.toString('latin1');
        if (!/^HTTP\/1\.1 [1-5]\d\d [^\r\n]*\r\n/.test(text)) { wrong.push(`not an HTTP answer: ${describeCase(x)}`); continue; }
        const a = parseHttpAnswer(r.data, { connect: true });
        // proxyd's own errors carry X-Proxyd-Error and a one-line reason
        if (a?.complete && a.headers['x-proxyd-error'] && !/^proxyd: [^\n]+\n$/.test(a.body.toString())) wrong.push(`reason is not one line: ${describeCase(x)}`);
      }
    }
    const byKind = (k: string) => results.filter((x) => x.c.body.kind === k).length;
    console.info(`fuzz: ${results.length} connections in ${elapsed} ms (seed ${seed}); answered ${results.filter((x) => x.r.answered).length}, closed ${results.filter((x) => x.r.closed).length}; kinds ${['random', 'text', 'after-greeting', 'request-fields', 'socks-mutation', 'http-mutation', 'body-claim'].map((k) => `${k} ${byKind(k)}`).join(', ')}`);
    // the guard was exercised: the fuzz produced non-loopback targets, and they were refused
    expect(d.logs.filter((l) => l.route === 'REJECT').length).toBeGreaterThan(rejectLinesBefore);
    expect({ hungInHandshake, wrongAnswers: wrong, hungAwaitingBody }, [
      `hungInHandshake: neither answered nor closed within ${ANSWER_WITHIN_MS} ms`,
      'wrongAnswers: not the protocol the client spoke, or malformed',
      `hungAwaitingBody: a complete head announcing a body that never came, not ended within ${BODY_WITHIN_MS} ms (see "a request whose announced body never comes…")`,
    ].join('; ')).toEqual({ hungInHandshake: [], wrongAnswers: [], hungAwaitingBody: [] });
  });

  test('after the fuzz: no connection or socket left behind, memory sane', async () => {
    // Every fuzz client has closed its end; what the daemon still holds must end within the idle timeout
    // (a tunnel whose upstream has not closed yet) or the forwarding pool's keep-alive (4 s).
    const activeRoutes = () => d.engine.stats.routes().filter((s) => s.active !== 0).map((s) => `${s.name}: ${s.active} active`);
    const settled = await eventually(() => tcpHandles() <= baselineHandles && activeRoutes().length === 0, 8000);
    const stillOpen = [...d.engine.open.values()].map((o) => JSON.stringify({ ...o.session, socket: undefined })).join('\n');
    expect({ tcpHandles: tcpHandles(), activeRoutes: activeRoutes() }, `not settled after 8 s; open sessions:\n${stillOpen}`).toEqual({ tcpHandles: Math.min(tcpHandles(), baselineHandles), activeRoutes: [] });
    expect(settled).toBe(true);
    const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    expect(heapMiB).toBeLessThan(200);
  });

  test('after the fuzz: the daemon still serves curl through HTTP and SOCKS5, on both ports', async () => {
    const url = `http://127.0.0.1:${origin.port}/hello`;
    for (const proxy of [
      `http://127.0.0.1:${d.httpPort}`, `socks5://127.0.0.1:${d.socksPort}`, `socks5h://127.0.0.1:${d.socksPort}`,
      `http://127.0.0.1:${d.socksPort}`, `socks5h://127.0.0.1:${d.httpPort}`,
    ]) {
      const r = await curl(['-x', proxy, proxy.startsWith('socks5h') ? `http://localhost:${origin.port}/hello` : url]);
      expect(r.stdout, `${proxy}: ${r.stderr}`).toBe('hello from origin');
    }
    const r = await curl(['-p', '-x', `http://127.0.0.1:${d.httpPort}`, url]); // HTTP CONNECT tunnel
    expect(r.stdout, r.stderr).toBe('hello from origin');
  });

  test('the guard held: every DIRECT connection in the logs went to loopback; REJECT never dialled', () => {
    const direct = d.logs.filter((l) => l.route === 'DIRECT');
    // there were DIRECT lines to check, the fuzz's own among them: its tunnels to the echo servers (nothing else dials them after it began)
    const fuzzedDirect = d.logs.slice(logLinesBefore).filter((l) => l.route === 'DIRECT' && [echo4.port, echo6.port].some((p) => String(l.target).endsWith(`:${p}`)));
    expect(fuzzedDirect.length).toBeGreaterThan(0);
    const strays = direct.filter((l) => !LOOPBACK_TARGET.test(String(l.target)));
    expect(strays).toEqual([]);
    // a REJECTed connection is refused, never a dial that then failed (refused/timeout/dns…)
    expect(d.logs.filter((l) => l.route === 'REJECT' && l.error !== 'rejected')).toEqual([]);
    expect(d.logs.filter((l) => Number(l.level) >= 50)).toEqual([]); // nothing at error/fatal
  });
});
