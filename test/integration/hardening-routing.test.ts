// Routing bypasses a hostile client tried, over real sockets: address spellings the rules did not
// see as the kernel does (IPv4-mapped answers, zone ids, the unspecified address), Host fronting,
// and tunnels back into proxyd itself. Each case is refused in the client's own protocol.
// (Hostile DNS answers through the system resolver: test/e2e/hostile-dns.test.ts.)
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { exchange, parseHttpAnswer } from '../fixtures/fuzz-client.js';
import { domain, greeting, parseReply, request, v4 } from '../fixtures/fuzz-wire.js';
import { startHttpOrigin, type Origin } from '../fixtures/origin.js';
import { curl } from '../fixtures/run.js';

let origin: Origin;
let origin2: Origin;
beforeAll(async () => {
  origin = await startHttpOrigin('127.0.0.1');
  origin2 = await startHttpOrigin('127.0.0.2'); // the forbidden address
});
afterAll(async () => {
  await origin.close();
  await origin2.close();
});

/** SOCKS5 CONNECT with a domain-name target; resolves to the reply code. */
async function socksCode(port: number, host: string, targetPort: number): Promise<number | undefined> {
  const r = await exchange(port, [Buffer.concat([greeting([0]), request(1, domain(host), targetPort)])], { timeoutMs: 5000, done: (b) => b.length >= 12 });
  return parseReply(r.data.subarray(2))?.code;
}

async function connectStatus(port: number, authority: string): Promise<number | undefined> {
  const r = await exchange(port, [Buffer.from(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`)], { timeoutMs: 5000, done: (b) => b.includes('\r\n\r\n') });
  return parseHttpAnswer(r.data, { connect: true })?.status;
}

describe('addresses the rules must see as the kernel does', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon(`
hosts:
  mapped.test: "::ffff:127.0.0.2"
rules:
  - IP-CIDR,127.0.0.2/32,REJECT
  - IP-CIDR,127.0.0.0/8,DIRECT
  - IP-CIDR6,::1/128,DIRECT
  - MATCH,REJECT
`);
  });
  afterAll(() => d.stop());

  test('a name whose address is IPv4-mapped IPv6 (::ffff:127.0.0.2) is matched as 127.0.0.2: refused on all three ways', async () => {
    const url = `http://mapped.test:${origin2.port}/hello`;
    expect((await curl(['-x', `http://127.0.0.1:${d.httpPort}`, '-o', '/dev/null', '-w', '%{http_code}', url])).stdout).toBe('403');
    expect((await curl(['-p', '-x', `http://127.0.0.1:${d.httpPort}`, url])).stderr).toContain('CONNECT tunnel failed, response 403');
    expect(await socksCode(d.socksPort, 'mapped.test', origin2.port)).toBe(2);
    expect(origin2.seen).toEqual([]);
    await expect.poll(() => d.logs.filter((l) => l.target === `mapped.test:${origin2.port}`).map((l) => l.rule)).toEqual(Array(3).fill('IP-CIDR,127.0.0.2/32,REJECT'));
  });

  test.each([
    ['[::ffff:127.0.0.2]', '127.0.0.2'],
    ['[::ffff:7f00:2]', '127.0.0.2'],
  ])('an IPv4-mapped literal %s is matched as %s', async (literal) => {
    expect(await connectStatus(d.httpPort, `${literal}:${origin2.port}`)).toBe(403);
    const r = await curl(['-x', `http://127.0.0.1:${d.httpPort}`, '-o', '/dev/null', '-w', '%{http_code}', `http://${literal}:${origin2.port}/hello`]);
    expect(r.stdout).toBe('403');
    expect(origin2.seen).toEqual([]);
  });

  test.each(['[::ffff:127.0.0.2%1]', '[fe80::1%1]', '[::1%lo]'])('a zone id (%s) is refused as a malformed target, never dialled', async (literal) => {
    expect(await connectStatus(d.httpPort, `${literal}:${origin2.port}`)).toBe(400);
    expect(await socksCode(d.socksPort, literal.slice(1, -1), origin2.port)).toBe(4);
    const r = await exchange(d.httpPort, [Buffer.from(`GET http://${literal}:${origin2.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`)], { timeoutMs: 5000, done: (b) => parseHttpAnswer(b)?.complete === true });
    expect(parseHttpAnswer(r.data)?.status).toBe(400);
    expect(origin2.seen).toEqual([]);
  });
});

describe('the unspecified address is this host', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon(`
rules:
  - IP-CIDR,127.0.0.0/8,REJECT,no-resolve
  - IP-CIDR6,::1/128,REJECT,no-resolve
  - MATCH,DIRECT
`);
  });
  afterAll(() => d.stop());

  test.each([
    ['0.0.0.0', '0.0.0.0'],
    ['0', '0'],
    ['[::]', '::'],
    ['0x0', '0x0'],
  ])('target %s is matched as loopback (REJECT here) on CONNECT, forwarding and SOCKS5', async (authorityHost, socksHost) => {
    expect(await connectStatus(d.httpPort, `${authorityHost}:${origin.port}`)).toBe(403);
    const r = await exchange(d.httpPort, [Buffer.from(`GET http://${authorityHost}:${origin.port}/hello HTTP/1.1\r\nHost: x\r\n\r\n`)], { timeoutMs: 5000, done: (b) => parseHttpAnswer(b)?.complete === true });
    expect(parseHttpAnswer(r.data)?.status).toBe(403);
    expect(await socksCode(d.socksPort, socksHost, origin.port)).toBe(2);
    const v4Bytes = Buffer.concat([greeting([0]), request(1, v4('0.0.0.0'), origin.port)]);
    const raw = await exchange(d.socksPort, [v4Bytes], { timeoutMs: 5000, done: (b) => b.length >= 12 });
    expect(parseReply(raw.data.subarray(2))?.code).toBe(2);
    expect(origin.seen.filter((s) => s.url === '/hello')).toEqual([]);
  });
});

describe('Host fronting', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon(`
hosts:
  allowed.test: 127.0.0.1
  rejected.test: 127.0.0.1
rules:
  - DOMAIN,rejected.test,REJECT
  - MATCH,DIRECT
`);
  });
  afterAll(() => d.stop());

  test('a Host header naming another (rejected) host is replaced by the URI\'s authority (RFC 9112 §3.2.2)', async () => {
    const before = origin.seen.length;
    const req = `GET http://allowed.test:${origin.port}/hello HTTP/1.1\r\nHost: rejected.test\r\nHost: rejected.test:${origin.port}\r\nConnection: close\r\n\r\n`;
    const r = await exchange(d.httpPort, [Buffer.from(req)], { timeoutMs: 5000, done: (b) => parseHttpAnswer(b)?.complete === true });
    expect(parseHttpAnswer(r.data)?.status).toBe(400); // two Host headers: a malformed request (RFC 9112 §3.2)
    const one = `GET http://allowed.test:${origin.port}/hello HTTP/1.1\r\nHost: rejected.test\r\nConnection: close\r\n\r\n`;
    const ok = await exchange(d.httpPort, [Buffer.from(one)], { timeoutMs: 5000, done: (b) => parseHttpAnswer(b)?.complete === true });
    expect(parseHttpAnswer(ok.data)?.body.toString()).toBe('hello from origin');
    const seen = origin.seen.slice(before);
    expect(seen.map((s) => s.rawHeaders.filter((_, i, all) => i % 2 === 0 && all[i]!.toLowerCase() === 'host').length)).toEqual([1]);
    expect(seen[0]!.headers.host).toBe(`allowed.test:${origin.port}`);
  });
});

describe('tunnels back into proxyd are refused as loops', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon('rules:\n  - MATCH,DIRECT\n');
  });
  afterAll(() => d.stop());

  test.each([
    ['CONNECT to the HTTP port', async () => connectStatus(d.httpPort, `127.0.0.1:${d.httpPort}`), 508],
    ['CONNECT to the SOCKS port by name', async () => connectStatus(d.httpPort, `localhost:${d.socksPort}`), 508],
    ['CONNECT to 0.0.0.0 and the HTTP port', async () => connectStatus(d.socksPort, `0.0.0.0:${d.httpPort}`), 508],
    ['CONNECT to the IPv4-mapped address', async () => connectStatus(d.httpPort, `[::ffff:127.0.0.1]:${d.socksPort}`), 508],
    ['SOCKS5 to the SOCKS port', async () => socksCode(d.socksPort, '127.0.0.1', d.socksPort), 2],
    ['SOCKS5 to the HTTP port by name', async () => socksCode(d.httpPort, 'localhost', d.httpPort), 2],
  ])('%s', async (_name, attempt, expected) => {
    expect(await attempt()).toBe(expected);
    await expect.poll(() => d.logs.findLast((l) => l.error === 'rejected')?.reason).toMatch(/is proxyd's own listener: refused \(proxy loop\)$/);
  });

  test('one write of 200 nested CONNECTs to itself builds no tunnel: the first is refused and the connection ends', async () => {
    const nested = `CONNECT 127.0.0.1:${d.httpPort} HTTP/1.1\r\nHost: 127.0.0.1:${d.httpPort}\r\n\r\n`.repeat(200);
    const openBefore = d.engine.open.size;
    const r = await exchange(d.httpPort, [Buffer.from(nested)], { timeoutMs: 5000 });
    expect(r.closed).toBe(true);
    expect(parseHttpAnswer(r.data, { connect: true })?.status).toBe(508);
    expect(r.data.toString('latin1').match(/^HTTP\/1\.1 /gm)).toHaveLength(1);
    expect(d.engine.open.size).toBe(openBefore);
  });

  test('on a wildcard bind, every local address at the listening port is proxyd itself', async () => {
    const wild = await startTestDaemon('listen: { socks: 0.0.0.0:0, http: "[::]:0" }\nallow: [127.0.0.0/8, "::1/128"]\nrules:\n  - MATCH,DIRECT\n');
    try {
      const local = Object.values(networkInterfaces()).flat().filter((i) => i && !i.internal && i.family === 'IPv4').map((i) => i!.address);
      for (const address of ['127.0.0.2', '127.1.2.3', ...local]) {
        expect(await connectStatus(wild.httpPort, `${address}:${wild.socksPort}`), address).toBe(508);
        expect(await socksCode(wild.socksPort, address, wild.httpPort), address).toBe(2);
      }
      expect(await connectStatus(wild.httpPort, `[::1]:${wild.httpPort}`)).toBe(508);
    } finally {
      await wild.stop();
    }
  });

  test('a tunnel to another port on this host still works: CONNECT and SOCKS5, by address and by name', async () => {
    const url = (host: string) => `http://${host}:${origin.port}/hello`;
    const ways = [
      ['-p', '-x', `http://127.0.0.1:${d.httpPort}`, url('127.0.0.1')],
      ['-p', '-x', `http://127.0.0.1:${d.httpPort}`, url('localhost')],
      ['--socks5', `127.0.0.1:${d.socksPort}`, url('127.0.0.1')],
      ['--socks5-hostname', `127.0.0.1:${d.socksPort}`, url('localhost')],
    ];
    for (const args of ways) {
      const r = await curl(args);
      expect(r.stdout, `${args.join(' ')}: ${r.stderr}`).toBe('hello from origin');
    }
    const tunnels = () => d.logs.filter((l) => l.mode === 'tunnel' && String(l.target).endsWith(`:${origin.port}`));
    await expect.poll(() => tunnels().map((l) => [l.inbound, l.target, l.route, l.error])).toEqual([
      ['http', `127.0.0.1:${origin.port}`, 'DIRECT', undefined],
      ['http', `localhost:${origin.port}`, 'DIRECT', undefined],
      ['socks5', `127.0.0.1:${origin.port}`, 'DIRECT', undefined],
      ['socks5', `localhost:${origin.port}`, 'DIRECT', undefined],
    ]);
  });
});
