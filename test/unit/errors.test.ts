import { expect, test } from 'vitest';
import { classify, httpStatus, LOOP, ProxyError, socksReplyCode, type ErrorClass } from '../../src/errors.js';

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

test('an HTTP parser error is a protocol error', () => {
  expect(classify(Object.assign(new Error('Response does not match'), { name: 'HTTPParserError' })).cls).toBe('protocol');
  expect(classify(errno('HPE_INVALID_HEADER_TOKEN')).cls).toBe('protocol');
});

test('a bug is not network noise: a TypeError or an unknown code is internal (HTTP 500, SOCKS5 0x01) with its stack kept', () => {
  const bug = classify(new TypeError('first line\nsecond line'));
  expect(bug.cls).toBe('internal');
  expect(bug.message).toBe('first line');
  expect(bug.causeStack).toMatch(/^TypeError: first line\nsecond line\n\s+at /);
  expect(httpStatus(bug)).toBe(500);
  expect(socksReplyCode(bug)).toBe(0x01);
  expect(classify(errno('ENOSUCHTHING')).cls).toBe('internal');
  expect(classify('a string thrown').cls).toBe('internal');
});

test.each(['ERR_SSL_WRONG_VERSION_NUMBER', 'CERT_HAS_EXPIRED', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'ERR_TLS_CERT_ALTNAME_INVALID'])(
  'TLS failure %s is class tls (HTTP 502)', (code) => {
    const e = classify(errno(code));
    expect(e.cls).toBe('tls');
    expect(httpStatus(e)).toBe(502);
  });

test('a refused loop is HTTP 508 and SOCKS5 0x02; the hop that failed is kept, never overwritten', () => {
  const loop = new ProxyError('rejected', 'loop', LOOP, 'proxyd');
  expect(httpStatus(loop)).toBe(508);
  expect(socksReplyCode(loop)).toBe(0x02);
  expect(classify(loop, 'origin').hop).toBe('proxyd');
  expect(classify(errno('ECONNREFUSED'), 'origin').hop).toBe('origin');
});
