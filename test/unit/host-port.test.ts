// parseHostPort / normalizeHost / formatTarget (src/address/target.ts): what a CONNECT line, a config
// `listen:` entry or `proxyctl route HOST[:PORT]` may say, and what each becomes.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { compileRules } from '../../src/router/index.js';
import { formatTarget, normalizeHost, parseHostPort } from '../../src/address/index.js';
import { hostNameArb, ipv4Arb, ipv6GroupsArb, portArb, rfc5952, sentNameArb } from '../fixtures/fuzz-wire.js';

describe('parseHostPort', () => {
  test.each([
    ['127.0.0.1:1080', '127.0.0.1', 1080],
    ['0.0.0.0:1', '0.0.0.0', 1],
    ['example.com:443', 'example.com', 443],
    ['Example.COM:443', 'example.com', 443],
    ['example.com.:443', 'example.com', 443],
    ['GITHUB.com.:22', 'github.com', 22],
    ['localhost:65535', 'localhost', 65535],
    ['_acme-challenge.example.com:53', '_acme-challenge.example.com', 53],
    ['xn--bcher-kva.example:80', 'xn--bcher-kva.example', 80],
    ['[::1]:8080', '::1', 8080],
    ['[2001:db8::1]:443', '2001:db8::1', 443],
    ['[2001:DB8::A]:443', '2001:db8::a', 443],
    ['[::ffff:127.0.0.1]:80', '127.0.0.1', 80], // IPv4-mapped: canonical IPv4, so IPv4 rules apply
    ['[1:2:3:4:5:6:7:8]:1', '1:2:3:4:5:6:7:8', 1],
    ['  example.com:80  ', 'example.com', 80],
    [`${'a'.repeat(63)}.com:80`, `${'a'.repeat(63)}.com`, 80],
  ])('%j → %s port %i', (raw, host, port) => {
    expect(parseHostPort(raw)).toEqual({ host, port });
  });

  test.each([
    // bare IPv6 needs brackets: the last colon is ambiguous
    '::1', '::1:80', '2001:db8::1', '2001:db8::1:443', 'fe80::1%eth0:80',
    // ports
    'example.com:0', 'example.com:65536', 'example.com:99999', 'example.com:-1', 'example.com:+80', 'example.com:8e1',
    'example.com: 80', 'example.com:0x50', 'example.com:', 'example.com', '[::1]:0', '[::1]:65536', '[::1]', '[::1]:',
    // brackets
    '[::1', '::1]:80', '[::1]80', '[::1]:80:80', '[]:80', '[127.0.0.1]:80', '[example.com]:80', '[[::1]]:80',
    // not host names
    '', ':80', ' :80', 'a b:80', 'exa mple.com:80', 'http://example.com:80', 'user@example.com:80', 'example.com/path:80',
    '-example.com:80', '.example.com:80', 'example..com:80', 'example.com..:80', '.:80', `${'a'.repeat(64)}.com:80`,
    `${'a.'.repeat(127)}ab:80`, 'ex*ample.com:80', 'exämple.com:80', 'example.com\u0000:80', 'example.com\r\nX-Injected: 1:80',
  ])('%j is rejected', (raw) => {
    expect(parseHostPort(raw)).toBeUndefined();
  });

  test('a 253-character name is accepted, 254 is not', () => {
    const name253 = `${'a'.repeat(61)}.`.repeat(4) + 'a'.repeat(5); // 4 × 62 + 5 = 253
    expect(name253).toHaveLength(253);
    expect(parseHostPort(`${name253}:80`)).toEqual({ host: name253, port: 80 });
    expect(parseHostPort(`${name253}a:80`)).toBeUndefined();
  });

  test('default port, and port 0 only where asked for', () => {
    expect(parseHostPort('example.com', 443)).toEqual({ host: 'example.com', port: 443 });
    expect(parseHostPort('[::1]', 443)).toEqual({ host: '::1', port: 443 });
    expect(parseHostPort('example.com:8443', 443)).toEqual({ host: 'example.com', port: 8443 });
    expect(parseHostPort('127.0.0.1:0')).toBeUndefined();
    expect(parseHostPort('127.0.0.1:0', undefined, true)).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseHostPort('[::1]:0', undefined, true)).toEqual({ host: '::1', port: 0 });
    expect(parseHostPort('127.0.0.1:65536', undefined, true)).toBeUndefined();
  });
});

describe('normalizeHost', () => {
  test.each([
    ['example.com', 'example.com'],
    ['EXAMPLE.com', 'example.com'],
    ['example.com.', 'example.com'],
    ['LocalHost.', 'localhost'],
    ['127.0.0.1', '127.0.0.1'],
    ['[::1]', '::1'],
    ['::1', '::1'],
    ['[2001:DB8::1]', '2001:db8::1'],
  ])('%j → %j', (raw, host) => {
    expect(normalizeHost(raw)).toBe(host);
  });

  test.each(['', '.', '..', 'example.com..', '[127.0.0.1]', '[example.com]', '[::1', 'a_b c', 'a/b', 'a:b', '[]'])('%j → undefined', (raw) => {
    expect(normalizeHost(raw)).toBeUndefined();
  });

  // getaddrinfo (glibc inet_aton) reads `127.1`, `0x7f.1`, `0177.0.0.1`, `2130706433` as 127.0.0.1, and so
  // does the WHATWG URL parser (new URL('http://127.1/').hostname === '127.0.0.1'). Kept as host *names*,
  // IP rules with no-resolve would never see the address that DIRECT then dials, so a name that is
  // numeric in its last label is read as IPv4 (the URL parser's "ends in a number" rule) or refused.
  test('numeric spellings of 127.0.0.1 are read as 127.0.0.1 or refused, never kept as names', () => {
    const spellings = ['127.1', '127.0.1', '0x7f.0.0.1', '0177.0.0.1', '2130706433', '127.0.0.01', '0x7f000001', '127.1.'];
    const keptAsNames = spellings.map((raw) => [raw, normalizeHost(raw)]).filter(([, h]) => h !== undefined && h !== '127.0.0.1');
    expect(keptAsNames).toEqual([]);
  });

  test('an IP-CIDR rule with no-resolve applies to a CONNECT target written as 127.1', () => {
    const router = compileRules(['IP-CIDR,127.0.0.0/8,REJECT,no-resolve', 'MATCH,DIRECT']);
    const t = parseHostPort('127.1:80');
    expect(t).toEqual({ host: '127.0.0.1', port: 80 });
    expect(router.matchSync(t!).target).toBe('REJECT');
  });

  // A zone id only means something for link-local addresses; kept, the rules would see an IPv6
  // address while the kernel dials the IPv4 one inside it.
  test.each(['[::ffff:127.0.0.2%1]:80', '[fe80::1%eth0]:80', '[::1%25lo]:80'])('%s (a zone id) is refused', (raw) => {
    expect(parseHostPort(raw)).toBeUndefined();
  });

  test.each([
    ['[::ffff:127.0.0.2]:80', '127.0.0.2'],
    ['[::ffff:7f00:2]:80', '127.0.0.2'],
    ['[0:0:0:0:0:0:0:1]:80', '::1'],
    ['[0000::0001]:80', '::1'],
  ])('%s is read as %s', (raw, host) => {
    expect(parseHostPort(raw)).toEqual({ host, port: 80 });
  });
});

describe('properties', () => {
  const targetArb = fc.oneof(
    ipv4Arb,
    ipv6GroupsArb.map(rfc5952),
    fc.ipV6(), // any valid text form, including leading zeros and an IPv4 tail
    hostNameArb,
  );

  // IPv4-mapped IPv6 (::ffff:a.b.c.d) is normalised to its IPv4 address, so it does not round-trip
  const isIPv4Mapped = (h: string) => h.includes(':') && new URL(`http://[${h}]/`).hostname.startsWith('[::ffff:');
  /** RFC 5952 text of an IPv6 literal, by the WHATWG URL serialiser; names and IPv4 unchanged */
  const rfc5952Text = (h: string) => (h.includes(':') ? new URL(`http://[${h}]/`).hostname.slice(1, -1) : h);

  test('parseHostPort(formatTarget(t)) returns t, IPv6 in RFC 5952 form, for any host and port', () => {
    fc.assert(fc.property(targetArb.filter((h) => !isIPv4Mapped(h)), portArb, (host, port) => {
      expect(parseHostPort(formatTarget({ host, port }))).toEqual({ host: rfc5952Text(host), port });
    }), { numRuns: 1000 });
  });

  test('formatTarget brackets exactly the IPv6 literals', () => {
    fc.assert(fc.property(targetArb, portArb, (host, port) => {
      const s = formatTarget({ host, port });
      expect(s.startsWith('[')).toBe(host.includes(':'));
      expect(s.endsWith(`:${port}`)).toBe(true);
    }));
  });

  test('a name in any letter case, with or without a trailing dot, becomes the lower-case name', () => {
    fc.assert(fc.property(sentNameArb, portArb, ({ sent, host }, port) => {
      expect(normalizeHost(sent)).toBe(host);
      expect(parseHostPort(`${sent}:${port}`)).toEqual({ host, port });
    }));
  });

  test('normalizeHost is idempotent and never throws on arbitrary strings', () => {
    let normalised = 0;
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), targetArb, sentNameArb.map((n) => n.sent)), (s) => {
      const h = normalizeHost(s);
      if (h !== undefined) normalised++;
      expect(h === undefined ? undefined : normalizeHost(h)).toBe(h);
    }), { numRuns: 2000 });
    expect(normalised).toBeGreaterThan(500); // the idempotence was checked on real hosts, not only on junk
  });

  test('parseHostPort never throws, and what it returns is a normal host with a port in 1..65535', () => {
    const junk = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.tuple(fc.constantFrom('[', '', '[::1]', 'a.b', '1.2.3.4'), fc.string({ maxLength: 10 }), fc.constantFrom('', ':', ']:', ']'), fc.string({ maxLength: 8 }))
        .map((p) => p.join('')),
    );
    // HOST:PORT as a client might write it, right or nearly: most are read, the rest refused
    const hostText = fc.oneof(
      { weight: 4, arbitrary: targetArb.map((h) => (h.includes(':') ? `[${h}]` : h)) },
      { weight: 4, arbitrary: sentNameArb.map((n) => n.sent) },
      { weight: 1, arbitrary: fc.constantFrom('[::1', '::1', '1.2.3.4]', '[fe80::1%eth0]', '[a.b]', 'a..b', '') },
    );
    const portText = fc.oneof(
      { weight: 4, arbitrary: portArb.map(String) },
      { weight: 1, arbitrary: fc.constantFrom('', '0', '65536', '99999', '080', '+80', '8O', '1e3') },
    );
    const separator = fc.oneof({ weight: 5, arbitrary: fc.constant(':') }, { weight: 2, arbitrary: fc.constantFrom('', '::', ' :') });
    const nearlyRight = fc.tuple(fc.constantFrom('', ' '), hostText, separator, portText, fc.constantFrom('', ' ', '\t')).map((p) => p.join(''));
    let read = 0;
    let refused = 0;
    fc.assert(fc.property(fc.oneof(junk, nearlyRight, nearlyRight), (s) => {
      const t = parseHostPort(s);
      if (!t) return void refused++;
      read++;
      expect(t.port).toBeGreaterThanOrEqual(1);
      expect(t.port).toBeLessThanOrEqual(65535);
      expect(normalizeHost(t.host)).toBe(t.host);
      expect(parseHostPort(formatTarget(t))).toEqual(t);
    }), { numRuns: 2000 });
    // both halves ran: the checks above on many texts it read, and many it refused
    expect({ read: read >= 400, refused: refused >= 400 }, `read ${read}, refused ${refused}`).toEqual({ read: true, refused: true });
  });
});
