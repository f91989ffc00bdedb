import { expect, test } from 'vitest';
import { classify, httpStatus, ProxyError, socksReplyCode, type ErrorClass } from '../../src/errors.js';

const errno = (code: string) => Object.assign(new Error(`connect ${code}`), { code });

test.each([
  ['ENOTFOUND', 'dns', 0x04, 502],
  ['EAI_AGAIN', 'dns', 0x04, 502],
  ['ECONNREFUSED', 'refused', 0x05, 502],
  ['ENETUNREACH', 'unreachable', 0x03, 502],
  ['EHOSTUNREACH', 'unreachable', 0x04, 502],
  ['ETIMEDOUT', 'timeout', 0x06, 504],
  ['ECONNRESET', 'reset', 0x01, 502],
  ['EPIPE', 'reset', 0x01, 502],
])('%s → class %s, SOCKS5 0x%s, HTTP %s', (code, cls, socks, http) => {
  const e = classify(errno(code));
  expect(e.cls).toBe(cls);
  expect(e.code).toBe(code);
  expect(socksReplyCode(e)).toBe(socks);
  expect(httpStatus(e)).toBe(http);
});

test.each([
  ['rejected', 0x02, 403],
  ['auth', 0x01, 407],
  ['protocol', 0x01, 400],
] as Array<[ErrorClass, number, number]>)('class %s → SOCKS5 0x%s, HTTP %s', (cls, socks, http) => {
  const e = new ProxyError(cls, 'x');
  expect(socksReplyCode(e)).toBe(socks);
  expect(httpStatus(e)).toBe(http);
});

test('a ProxyError wrapped as the cause of another error (undici) keeps its class', () => {
  const inner = new ProxyError('rejected', 'a.example:443 is rejected by rule');
  expect(classify(Object.assign(new Error('connect failed'), { cause: inner }))).toBe(inner);
});

test('an HTTP parser error is a protocol error; anything unknown is reset, with a one-line reason', () => {
  expect(classify(Object.assign(new Error('Response does not match'), { name: 'HTTPParserError' })).cls).toBe('protocol');
  const odd = classify(new Error('first line\nsecond line'));
  expect(odd.cls).toBe('reset');
  expect(odd.message).toBe('first line');
});
