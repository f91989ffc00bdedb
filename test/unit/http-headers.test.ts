// Forwarding-proxy header rules (RFC 9110 §7.6.1 hop-by-hop, §7.6.3 Via) in src/protocol/http-headers.ts.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { endToEndHeaders, flattenHeaders, forwardedRequestHeaders, viaHasLoop } from '../../src/protocol/http-headers.js';

const VIA = '1.1 proxyd-abc123';

/** The hop-by-hop headers every forwarding proxy must drop (RFC 9110 §7.6.1, RFC 9112 §7.1, Proxy-*). */
const ALWAYS_DROPPED = ['Connection', 'Proxy-Connection', 'Proxy-Authorization', 'Keep-Alive', 'TE', 'Trailer', 'Transfer-Encoding', 'Upgrade'];

const pairs = (flat: readonly string[]) => {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
};

describe('endToEndHeaders', () => {
  test('drops each hop-by-hop header in any letter case, keeps the rest in order, appends Via', () => {
    const raw = [
      'Host', 'example.com',
      'CONNECTION', 'keep-alive',
      'User-Agent', 'curl/8',
      'proxy-connection', 'keep-alive',
      'Accept', '*/*',
      'Proxy-Authorization', 'Basic dTpw',
      'keep-alive', 'timeout=5',
      'Te', 'trailers',
      'TRAILER', 'Expires',
      'transfer-encoding', 'chunked',
      'Upgrade', 'websocket',
      'Authorization', 'Bearer x',
      'Cookie', 'a=1',
      'Cookie', 'b=2',
    ];
    expect(endToEndHeaders(raw, VIA)).toEqual([
      'Host', 'example.com',
      'User-Agent', 'curl/8',
      'Accept', '*/*',
      'Authorization', 'Bearer x',
      'Cookie', 'a=1',
      'Cookie', 'b=2',
      'Via', VIA,
    ]);
  });

  test.each(ALWAYS_DROPPED.flatMap((h) => [h, h.toLowerCase(), h.toUpperCase()]))('%s alone is dropped', (name) => {
    expect(endToEndHeaders(['Accept', 'x', name, 'v', 'X-After', 'y'], VIA)).toEqual(['Accept', 'x', 'X-After', 'y', 'Via', VIA]);
  });

  test('headers named in Connection are dropped, case-insensitively, with odd spacing and empty list items', () => {
    const raw = ['Connection', ' close ,X-Secret,, x-trace-ID ', 'x-secret', '1', 'X-TRACE-ID', '2', 'X-Kept', '3'];
    expect(endToEndHeaders(raw, VIA)).toEqual(['X-Kept', '3', 'Via', VIA]);
  });

  test('a header named in Connection is dropped even when it comes before Connection', () => {
    expect(endToEndHeaders(['X-Early', '1', 'Accept', '*/*', 'Connection', 'X-Early'], VIA)).toEqual(['Accept', '*/*', 'Via', VIA]);
  });

  test('every Connection header counts, wherever it stands', () => {
    const raw = ['X-A', '1', 'X-B', '2', 'Connection', 'x-a', 'X-C', '3', 'connection', 'X-C'];
    expect(endToEndHeaders(raw, VIA)).toEqual(['X-B', '2', 'Via', VIA]);
  });

  test('Connection may name an otherwise end-to-end header (RFC 9110 §7.6.1)', () => {
    expect(endToEndHeaders(['Connection', 'Cache-Control', 'Cache-Control', 'no-cache', 'Accept', '*/*'], VIA)).toEqual(['Accept', '*/*', 'Via', VIA]);
  });

  test('an existing Via is kept and ours comes after it', () => {
    expect(endToEndHeaders(['Via', '1.0 fred', 'Accept', '*/*'], VIA)).toEqual(['Via', '1.0 fred', 'Accept', '*/*', 'Via', VIA]);
  });

  test('values are passed through untouched', () => {
    const raw = ['X-Spaces', '  a  b  ', 'X-Empty', '', 'X-Comma', 'a, b, c'];
    expect(endToEndHeaders(raw, VIA)).toEqual([...raw, 'Via', VIA]);
  });

  test('the input list is not modified', () => {
    const raw = ['Connection', 'x-a', 'X-A', '1'];
    endToEndHeaders(raw, VIA);
    expect(raw).toEqual(['Connection', 'x-a', 'X-A', '1']);
  });

  test('undici\'s response header object, flattened with repeats expanded, gets the same rules', () => {
    const out = endToEndHeaders(flattenHeaders({
      'content-type': 'text/plain',
      connection: 'keep-alive, x-hop',
      'keep-alive': 'timeout=5',
      'x-hop': 'gone',
      'transfer-encoding': 'chunked',
      'set-cookie': ['a=1', 'b=2'],
      'x-missing': undefined,
    }), VIA);
    expect(pairs(out)).toEqual([['content-type', 'text/plain'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2'], ['Via', VIA]]);
  });

  test('a forwarded request carries the target\'s authority as its only Host, first (RFC 9112 §3.2.2)', () => {
    const raw = ['User-Agent', 'x', 'Host', 'rejected.example', 'host', 'second.example', 'Accept', '*/*'];
    expect(pairs(forwardedRequestHeaders(raw, VIA, 'allowed.example:8080'))).toEqual([
      ['Host', 'allowed.example:8080'], ['User-Agent', 'x'], ['Accept', '*/*'], ['Via', VIA],
    ]);
    expect(pairs(forwardedRequestHeaders(['Accept', '*/*'], VIA, 'a.example'))).toEqual([['Host', 'a.example'], ['Accept', '*/*'], ['Via', VIA]]);
  });

  // RFC 9110 §7.6.1: header field names are tokens; the Connection list is comma-separated tokens
  const tokenChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_!#$%&\'*+.^`|~');
  const randomName = fc.array(tokenChar, { minLength: 1, maxLength: 12 }).map((c) => c.join(''));
  const knownName = fc.constantFrom(...ALWAYS_DROPPED, 'Host', 'Accept', 'Cookie', 'Via', 'X-A', 'X-B', 'Content-Length', 'Authorization');
  const randomCase = (s: string, flips: Uint8Array) => [...s].map((c, i) => (flips[i % flips.length]! & 1 ? c.toUpperCase() : c.toLowerCase())).join('');
  const nameArb = fc.tuple(fc.oneof(knownName, randomName), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([n, f]) => randomCase(n, f));
  const connectionValue = fc.array(fc.tuple(nameArb, fc.constantFrom('', ' ', '  ', '\t')), { maxLength: 4 })
    .map((items) => items.map(([n, ws]) => `${ws}${n}${ws}`).join(','));
  const headerArb = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(nameArb, fc.string({ maxLength: 8 })) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('Connection', 'connection', 'CONNECTION', 'Proxy-Connection'), connectionValue) },
  );

  test('property: no header named in Connection (or always hop-by-hop) survives; the rest keep their order; Via last', () => {
    fc.assert(fc.property(fc.array(headerArb, { maxLength: 20 }), (headers) => {
      const raw = headers.flat();
      const out = endToEndHeaders(raw, VIA);
      // what a user would compute by hand
      // (Proxy-Connection, the legacy spelling some clients send to proxies, is read the same way)
      const named = new Set<string>();
      for (const [n, v] of headers) {
        if (['connection', 'proxy-connection'].includes(n.toLowerCase())) for (const t of v.split(',')) if (t.trim()) named.add(t.trim().toLowerCase());
      }
      const dropped = new Set([...ALWAYS_DROPPED.map((h) => h.toLowerCase()), ...named]);
      const got = pairs(out);
      expect(got.at(-1)).toEqual(['Via', VIA]);
      for (const [n] of got.slice(0, -1)) expect(dropped.has(n.toLowerCase()), `${n} should have been dropped`).toBe(false);
      // order and content of the survivors, ignoring headers we do not take a position on (Expect, Proxy-Authenticate)
      const undecided = new Set(['expect', 'proxy-authenticate']);
      const want = headers.filter(([n]) => !dropped.has(n.toLowerCase()) && !undecided.has(n.toLowerCase()));
      expect(got.slice(0, -1).filter(([n]) => !undecided.has(n.toLowerCase()))).toEqual(want);
    }), { numRuns: 1000 });
  });
});

describe('viaHasLoop', () => {
  const P = 'proxyd-abc123';
  test.each([
    [undefined, false],
    ['', false],
    ['1.1 proxyd-abc123', true],
    ['1.0 fred, 1.1 proxyd-abc123', true],
    ['1.1 proxyd-abc123, 1.0 fred', true],
    ['HTTP/1.1 proxyd-abc123 (proxyd)', true],
    ['  1.1   proxyd-abc123  ', true],
    ['1.0 fred,1.1 proxyd-abc123', true],
    ['1.1 proxyd-abc1234', false],
    ['1.1 proxyd-abc12', false],
    ['1.1 other-proxy', false],
    ['1.1 fred (via proxyd-abc123)', false],
    ['1.1 example.com:8080', false],
  ])('%j → %s', (via, loop) => {
    expect(viaHasLoop(via, P)).toBe(loop);
  });

  test('property: our own Via appended to any Via list is recognised as a loop', () => {
    const entry = fc.tuple(fc.constantFrom('1.0', '1.1', 'HTTP/1.1', '2'), fc.stringMatching(/^[a-z0-9.-]{1,12}$/)).map(([v, h]) => `${v} ${h}`);
    fc.assert(fc.property(fc.array(entry, { maxLength: 5 }), fc.nat(5), (list, at) => {
      const others = list.filter((e) => e.split(' ')[1] !== P);
      expect(viaHasLoop(others.join(', ') || undefined, P)).toBe(false);
      const withUs = [...others];
      withUs.splice(at % (others.length + 1), 0, `1.1 ${P}`);
      expect(viaHasLoop(withUs.join(', '), P)).toBe(true);
    }));
  });
});
