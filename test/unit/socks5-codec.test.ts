// The SOCKS5 server codec (src/protocol/socks5.ts) against RFC 1928 / RFC 1929, byte for byte,
// and fast-check properties: arbitrary bytes never throw, valid messages parse to what was sent,
// every strict prefix is incomplete, bytes after a message are left for the relay.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  encodeAuthStatus, encodeMethodChoice, encodeReply, parseGreeting, parseRequest, parseUserPass, REPLY,
} from '../../src/protocol/socks5.js';
import { compileRules } from '../../src/router/index.js';
import { parseHostPort } from '../../src/address/index.js';
import {
  domain, greeting, parseReply, request, rfc5952, userPass, v4, v6, wireTargetArb, portArb, groupsToBytes,
} from '../fixtures/fuzz-wire.js';

const bytes = (...a: number[]) => Uint8Array.from(a);
const ascii = (s: string) => [...Buffer.from(s)];

describe('parseGreeting (RFC 1928 §3)', () => {
  test.each([
    ['no-auth only', [5, 1, 0], [0], 3],
    ['no-auth and user/pass', [5, 2, 0, 2], [0, 2], 4],
    ['user/pass only', [5, 1, 2], [2], 3],
    ['255 methods', [5, 255, ...Array.from({ length: 255 }, (_, i) => i)], Array.from({ length: 255 }, (_, i) => i), 257],
  ])('%s', (_name, input, methods, length) => {
    expect(parseGreeting(bytes(...input))).toEqual({ kind: 'ok', methods, length });
  });

  test.each([[[]], [[5]], [[5, 2]], [[5, 2, 0]], [[5, 255, 0, 1, 2]]])('%j is incomplete', (input) => {
    expect(parseGreeting(bytes(...input))).toEqual({ kind: 'incomplete' });
  });

  test.each([
    ['SOCKS4 CONNECT', [4, 1, 0, 80, 127, 0, 0, 1, 0]],
    ['an HTTP method', ascii('GET / HTTP/1.1\r\n')],
    ['zero methods', [5, 0]],
  ])('%s is an error', (_name, input) => {
    expect(parseGreeting(bytes(...input)).kind).toBe('error');
  });

  test('bytes after the greeting are not consumed', () => {
    expect(parseGreeting(bytes(5, 1, 0, 5, 1, 0, 1))).toEqual({ kind: 'ok', methods: [0], length: 3 });
  });
});

describe('parseUserPass (RFC 1929 §2)', () => {
  test('user and password', () => {
    expect(parseUserPass(userPass('alice', 's3cret'))).toEqual({ kind: 'ok', username: 'alice', password: 's3cret', length: 2 + 5 + 1 + 6 });
  });
  test('UTF-8 names are decoded as UTF-8', () => {
    const msg = userPass('ユーザー', 'пароль');
    expect(parseUserPass(msg)).toEqual({ kind: 'ok', username: 'ユーザー', password: 'пароль', length: msg.length });
  });
  test('255-byte user and password', () => {
    const u = 'u'.repeat(255);
    const p = 'p'.repeat(255);
    expect(parseUserPass(userPass(u, p))).toEqual({ kind: 'ok', username: u, password: p, length: 513 });
  });
  test('every strict prefix is incomplete', () => {
    const msg = userPass('alice', 'pw');
    for (let n = 0; n < msg.length; n++) expect(parseUserPass(msg.subarray(0, n)), `prefix ${n}`).toEqual({ kind: 'incomplete' });
  });
  test('sub-negotiation version other than 1 is an error', () => {
    expect(parseUserPass(bytes(5, 1, 0x61, 1, 0x62)).kind).toBe('error');
  });
});

describe('parseRequest (RFC 1928 §4, §5)', () => {
  const ok = (host: string, port: number, length: number) => ({ kind: 'ok', target: { host, port }, length });
  test.each([
    ['IPv4 127.0.0.1:80', [5, 1, 0, 1, 127, 0, 0, 1, 0, 80], ok('127.0.0.1', 80, 10)],
    ['IPv4 192.168.1.254:8080', [5, 1, 0, 1, 192, 168, 1, 254, 0x1f, 0x90], ok('192.168.1.254', 8080, 10)],
    ['IPv4 0.0.0.0:65535', [5, 1, 0, 1, 0, 0, 0, 0, 0xff, 0xff], ok('0.0.0.0', 65535, 10)],
    ['IPv4 255.255.255.255:1', [5, 1, 0, 1, 255, 255, 255, 255, 0, 1], ok('255.255.255.255', 1, 10)],
    ['IPv6 2001:db8::1:443', [5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x01, 0xbb], ok('2001:db8::1', 443, 22)],
    ['IPv6 ::1', [5, 1, 0, 4, ...Array(15).fill(0), 1, 0, 80], ok('::1', 80, 22)],
    ['IPv6 :: (all zero)', [5, 1, 0, 4, ...Array(16).fill(0), 0, 80], ok('::', 80, 22)],
    ['IPv6 fe80:: (trailing run)', [5, 1, 0, 4, 0xfe, 0x80, ...Array(14).fill(0), 0, 80], ok('fe80::', 80, 22)],
    // RFC 5952 §4.2.3: of two equal runs the first is compressed
    ['IPv6 2001:db8:0:0:1:0:0:1', [5, 1, 0, 4, ...groupsToBytes([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]), 0, 80], ok('2001:db8::1:0:0:1', 80, 22)],
    // RFC 5952 §4.2.3: the longest run is compressed, not the first
    ['IPv6 2001:0:0:1:0:0:0:1', [5, 1, 0, 4, ...groupsToBytes([0x2001, 0, 0, 1, 0, 0, 0, 1]), 0, 80], ok('2001:0:0:1::1', 80, 22)],
    // RFC 5952 §4.2.2: a single zero group is not compressed
    ['IPv6 2001:db8:0:1:1:1:1:1', [5, 1, 0, 4, ...groupsToBytes([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]), 0, 80], ok('2001:db8:0:1:1:1:1:1', 80, 22)],
    // RFC 5952 §4.3: lower case hex, §4.1: no leading zeros
    ['IPv6 ABCD:00EF:…', [5, 1, 0, 4, ...groupsToBytes([0xabcd, 0xef, 0x0a0b, 0xffff, 0x1000, 0x0001, 0x00f0, 0xcafe]), 0, 80], ok('abcd:ef:a0b:ffff:1000:1:f0:cafe', 80, 22)],
    ['domain example.com', [5, 1, 0, 3, 11, ...ascii('example.com'), 0x01, 0xbb], ok('example.com', 443, 18)],
    ['domain in mixed case', [5, 1, 0, 3, 10, ...ascii('GitHub.COM'), 0x01, 0xbb], ok('github.com', 443, 17)],
    ['domain with a trailing dot', [5, 1, 0, 3, 12, ...ascii('example.com.'), 0, 22], ok('example.com', 22, 19)],
    ['domain LocalHost.', [5, 1, 0, 3, 10, ...ascii('LocalHost.'), 0x1f, 0x90], ok('localhost', 8080, 17)],
    ['domain holding an IPv4 literal', [5, 1, 0, 3, 9, ...ascii('127.0.0.1'), 0, 80], ok('127.0.0.1', 80, 16)],
  ])('%s', (_name, input, expected) => {
    expect(parseRequest(bytes(...input))).toEqual(expected);
  });

  test.each([
    ['BIND', 0x02],
    ['UDP ASSOCIATE', 0x03],
    ['unknown command 0x00', 0x00],
    ['unknown command 0x7f', 0x7f],
  ])('%s → reply 0x07 command not supported', (_name, cmd) => {
    const r = parseRequest(request(cmd, v4('127.0.0.1'), 80));
    expect(r).toMatchObject({ kind: 'error', reply: REPLY.commandNotSupported });
  });

  test.each([0x00, 0x02, 0x05, 0xff])('ATYP %i → reply 0x08 address type not supported', (atyp) => {
    expect(parseRequest(bytes(5, 1, 0, atyp, 127, 0, 0, 1, 0, 80))).toMatchObject({ kind: 'error', reply: REPLY.addressTypeNotSupported });
  });

  test.each([
    ['an empty name', [5, 1, 0, 3, 0, 0, 80]],
    ['a name with a space', [5, 1, 0, 3, 5, ...ascii('a b.c'), 0, 80]],
    ['a name with a slash', [5, 1, 0, 3, 7, ...ascii('a/b.com'), 0, 80]],
    ['a name with a colon', [5, 1, 0, 3, 6, ...ascii('a.b:80'), 0, 80]],
    ['a name with two dots in a row', [5, 1, 0, 3, 4, ...ascii('a..b'), 0, 80]],
    ['invalid UTF-8', [5, 1, 0, 3, 4, 0xff, 0xfe, 0x41, 0x41, 0, 80]],
    ['a 64-character label', [5, 1, 0, 3, 68, ...ascii(`${'a'.repeat(64)}.com`), 0, 80]],
    ['port 0', [5, 1, 0, 1, 127, 0, 0, 1, 0, 0]],
    ['version 4', [4, 1, 0, 1, 127, 0, 0, 1, 0, 80]],
  ])('%s is an error with a failure reply', (_name, input) => {
    const r = parseRequest(bytes(...input));
    expect(r).toMatchObject({ kind: 'error', reply: expect.any(Number) });
    expect((r as { reply: number }).reply).toBeGreaterThan(0);
  });

  test('every strict prefix of each kind of request is incomplete', () => {
    for (const msg of [request(1, v4('10.1.2.3'), 443), request(1, v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]), 443), request(1, domain('example.com'), 443)]) {
      for (let n = 0; n < msg.length; n++) expect(parseRequest(msg.subarray(0, n)), `prefix ${n} of ${msg.toString('hex')}`).toEqual({ kind: 'incomplete' });
    }
  });

  // Regression guard: the kernel delivers `::ffff:7f00:1` to 127.0.0.1, so an IPv4-mapped target sent
  // as ATYP 0x04 must reach the IPv4 rules; an earlier version kept the mapped form and a rule such
  // as IP-CIDR,10.0.0.0/8,REJECT was bypassed.
  test('an IPv4-mapped IPv6 target (::ffff:127.0.0.1) is routed by the IPv4 rules', () => {
    const router = compileRules(['IP-CIDR,127.0.0.0/8,REJECT,no-resolve', 'IP-CIDR,10.0.0.0/8,REJECT,no-resolve', 'MATCH,DIRECT']);
    for (const [a, b, c, d] of [[127, 0, 0, 1], [10, 1, 2, 3]]) {
      const r = parseRequest(bytes(5, 1, 0, 4, ...Array(10).fill(0), 0xff, 0xff, a!, b!, c!, d!, 0, 80));
      expect(r.kind).toBe('ok');
      if (r.kind !== 'ok') continue;
      expect(router.matchSync(r.target).target, `${r.target.host} (${a}.${b}.${c}.${d})`).toBe('REJECT');
    }
    // the same address written by an HTTP CONNECT client in hex form
    const t = parseHostPort('[::ffff:a00:1]:443')!;
    expect(router.matchSync(t).target, t.host).toBe('REJECT');
  });
});

describe('encodeReply (RFC 1928 §6): always a full-length reply', () => {
  test.each(Object.entries(REPLY))('%s (%i) without a bound address: 10 bytes, 0.0.0.0:0', (_name, code) => {
    expect([...encodeReply(code)]).toEqual([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
  });
  test('IPv4 bound address', () => {
    expect([...encodeReply(0, { address: '127.0.0.1', port: 1080 })]).toEqual([5, 0, 0, 1, 127, 0, 0, 1, 0x04, 0x38]);
    expect([...encodeReply(0, { address: '192.168.254.1', port: 65535 })]).toEqual([5, 0, 0, 1, 192, 168, 254, 1, 0xff, 0xff]);
  });
  test.each([
    ['2001:db8::1', groupsToBytes([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])],
    ['::1', groupsToBytes([0, 0, 0, 0, 0, 0, 0, 1])],
    ['::', Array(16).fill(0)],
    ['fe80::1:2', groupsToBytes([0xfe80, 0, 0, 0, 0, 0, 1, 2])],
    ['2001:DB8:0:0:8:800:200C:417A', groupsToBytes([0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a])],
    ['::ffff:127.0.0.1', groupsToBytes([0, 0, 0, 0, 0, 0xffff, 0x7f00, 1])],
    ['1:2:3:4:5:6:7:8', groupsToBytes([1, 2, 3, 4, 5, 6, 7, 8])],
  ])('IPv6 bound address %s: 22 bytes', (address, addr) => {
    expect([...encodeReply(0, { address, port: 443 })]).toEqual([5, 0, 0, 4, ...addr, 0x01, 0xbb]);
  });
  test('property: any IPv6 bound address round-trips through the reply', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }), portArb, (groups, port) => {
      const out = encodeReply(REPLY.succeeded, { address: rfc5952(groups), port });
      expect(out.length).toBe(22);
      expect(parseReply(out)).toEqual({ ver: 5, code: 0, rsv: 0, atyp: 4, address: rfc5952(groups), port, length: 22 });
    }));
  });
  test('method choice and auth status', () => {
    expect([...encodeMethodChoice(0x00)]).toEqual([5, 0]);
    expect([...encodeMethodChoice(0xff)]).toEqual([5, 0xff]);
    expect([...encodeAuthStatus(true)]).toEqual([1, 0]);
    expect(encodeAuthStatus(false)[0]).toBe(1);
    expect(encodeAuthStatus(false)[1]).not.toBe(0);
  });
});

describe('properties', () => {
  const parsers = { parseGreeting, parseUserPass, parseRequest } as const;

  // arbitrary bytes, and bytes that begin like a real message so the deeper branches are reached
  const anyBytes = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.tuple(fc.constantFrom([5], [5, 1, 0], [1], [5, 1, 0, 1], [5, 1, 0, 3], [5, 1, 0, 4], [5, 2, 0, 3]), fc.uint8Array({ maxLength: 300 }))
      .map(([head, tail]) => Uint8Array.from([...head, ...tail])),
  );

  test.each(Object.keys(parsers) as Array<keyof typeof parsers>)('(a) %s: any bytes → incomplete | ok | error, never a throw', (name) => {
    const parse = parsers[name] as (b: Uint8Array) => ReturnType<typeof parseRequest>;
    fc.assert(fc.property(anyBytes, (input) => {
      const r = parse(input);
      expect(['incomplete', 'ok', 'error']).toContain(r.kind);
      if (r.kind === 'ok') {
        expect(r.length).toBeGreaterThan(0);
        expect(r.length).toBeLessThanOrEqual(input.length);
      }
      if (r.kind === 'error' && r.reply !== undefined) {
        expect(r.reply).toBeGreaterThanOrEqual(0x01);
        expect(r.reply).toBeLessThanOrEqual(0x08);
      }
    }), { numRuns: 2000 });
  });

  test('(a) parseRequest: any bytes with a CONNECT header — an ok target is a valid host and port', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 270 }), fc.constantFrom(1, 3, 4), (tail, atyp) => {
      const input = Uint8Array.from([5, 1, 0, atyp, ...tail]);
      const r = parseRequest(input);
      if (r.kind !== 'ok') return;
      expect(r.target.port).toBeGreaterThanOrEqual(1);
      expect(r.target.port).toBeLessThanOrEqual(65535);
      expect(parseHostPort(`${r.target.host.includes(':') ? `[${r.target.host}]` : r.target.host}:${r.target.port}`)).toEqual(r.target);
    }), { numRuns: 2000 });
  });

  const methodsArb = fc.array(fc.nat(255), { minLength: 1, maxLength: 255 });
  const utf8Arb = fc.string({ unit: 'binary', maxLength: 80 }).filter((s) => Buffer.from(s).toString() === s && Buffer.byteLength(s) <= 255);
  const extraArb = fc.uint8Array({ minLength: 1, maxLength: 64 });

  const prefixesIncomplete = (msg: Buffer, parse: (b: Uint8Array) => { kind: string }) => {
    for (let n = 0; n < msg.length; n++) expect(parse(msg.subarray(0, n)).kind, `prefix ${n} of ${msg.toString('hex')}`).toBe('incomplete');
  };

  test('(b) greeting: parses to the methods sent; every strict prefix is incomplete', () => {
    fc.assert(fc.property(methodsArb, (methods) => {
      const msg = greeting(methods);
      expect(parseGreeting(msg)).toEqual({ kind: 'ok', methods, length: msg.length });
      prefixesIncomplete(msg, parseGreeting);
    }));
  });

  test('(b) user/pass: parses to the credentials sent; every strict prefix is incomplete', () => {
    fc.assert(fc.property(utf8Arb, utf8Arb, (username, password) => {
      const msg = userPass(username, password);
      expect(parseUserPass(msg)).toEqual({ kind: 'ok', username, password, length: msg.length });
      prefixesIncomplete(msg, parseUserPass);
    }));
  });

  test('(b) request: IPv4 / IPv6 / domain targets parse to the host and port sent; every strict prefix is incomplete', () => {
    fc.assert(fc.property(wireTargetArb, portArb, (t, port) => {
      const msg = request(1, t, port);
      expect(parseRequest(msg)).toEqual({ kind: 'ok', target: { host: t.host, port }, length: msg.length });
      prefixesIncomplete(msg, parseRequest);
    }), { numRuns: 500 });
  });

  test('(b) request with any command but CONNECT: reply 0x07 once complete, incomplete before', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 255 }).filter((c) => c !== 1), wireTargetArb, portArb, (cmd, t, port) => {
      const msg = request(cmd, t, port);
      expect(parseRequest(msg)).toMatchObject({ kind: 'error', reply: REPLY.commandNotSupported });
      prefixesIncomplete(msg, parseRequest);
    }));
  });

  test('(c) a message followed by more bytes: length is the message alone (the rest is for the relay)', () => {
    fc.assert(fc.property(methodsArb, utf8Arb, utf8Arb, wireTargetArb, portArb, extraArb, (methods, u, p, t, port, extra) => {
      const g = greeting(methods);
      expect(parseGreeting(Buffer.concat([g, extra]))).toEqual({ kind: 'ok', methods, length: g.length });
      const a = userPass(u, p);
      expect(parseUserPass(Buffer.concat([a, extra]))).toEqual({ kind: 'ok', username: u, password: p, length: a.length });
      const r = request(1, t, port);
      expect(parseRequest(Buffer.concat([r, extra]))).toEqual({ kind: 'ok', target: { host: t.host, port }, length: r.length });
      // the whole client side sent at once: each parse starts where the previous one ended
      const all = Buffer.concat([g, r, extra]);
      const g2 = parseGreeting(all);
      expect(g2.kind).toBe('ok');
      const rest = all.subarray(g2.kind === 'ok' ? g2.length : 0);
      const r2 = parseRequest(rest);
      expect(r2).toEqual({ kind: 'ok', target: { host: t.host, port }, length: r.length });
      expect(Buffer.from(rest.subarray(r.length))).toEqual(Buffer.from(extra));
    }), { numRuns: 300 });
  });
});
