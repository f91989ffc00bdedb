import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { expect, test } from 'vitest';
import { BLOCKED_ADVICE, classify, ERROR_CLASSES, httpStatus, LOOP, ProxyError, socksReplyCode, type ErrorClass } from '../../src/errors.js';

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

// ---- errors from real system calls: the class follows the code AND the call that failed ----------

/** The error a real failing call reports (its code, errno and syscall as libuv gives them). */
function failure(start: (done: (err: Error | null | undefined) => void) => void): Promise<NodeJS.ErrnoException> {
  return new Promise((resolve, reject) => start((err) => (err ? resolve(err as NodeJS.ErrnoException) : reject(new Error('the call did not fail')))));
}

/** connect() of a UDP socket to the broadcast address without SO_BROADCAST: the kernel answers EACCES. */
const connectEacces = () => failure((done) => {
  const socket = createSocket('udp4');
  // dgram passes connect's error to the callback (@types/node does not say so)
  const connected = (err?: Error) => { socket.close(); done(err); };
  socket.bind(0, '0.0.0.0', () => socket.connect(9, '255.255.255.255', connected as () => void));
});

/** bind() of an IPv6 local address to an IPv4 TCP socket (net.connect with a mismatched localAddress): EINVAL. */
const bindEinval = () => failure((done) => {
  const socket = connect({ host: '127.0.0.1', port: 9, localAddress: '::1' });
  socket.once('connect', () => { socket.destroy(); done(null); });
  socket.once('error', done);
});

/** setsockopt(IP_TTL, 0): EINVAL. */
const setsockoptEinval = () => failure((done) => {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1', () => {
    let err: Error | null = null;
    try { socket.setTTL(0); } catch (e) { err = e as Error; }
    socket.close();
    done(err);
  });
});

test('EACCES from connect (a local firewall, a prohibit route, a sandbox) is class blocked, not internal: SOCKS5 0x02, HTTP 502, the fix in words, the hop kept', async () => {
  const raw = await connectEacces();
  expect([raw.code, raw.syscall]).toEqual(['EACCES', 'connect']);
  const e = classify(raw, 'origin');
  expect(e.cls).toBe('blocked');
  expect(e.code).toBe('EACCES');
  expect(e.hop).toBe('origin');
  expect(socksReplyCode(e)).toBe(0x02);
  expect(httpStatus(e)).toBe(502);
  expect(e.message).toContain(BLOCKED_ADVICE);
  expect(e.message).toMatch(/firewall or sandbox refused the connection.*iptables\/nftables.*RestrictAddressFamilies\/IPAddressDeny.*SELinux/);
});

test('EPERM from connect (seccomp, a cgroup BPF filter) is blocked too; the class is in ERROR_CLASSES, so stats and metrics count it', () => {
  // a real EPERM on connect needs a filter around the process: test/e2e/blocked-connect.test.ts makes one
  const e = classify(Object.assign(new Error('connect EPERM 192.0.2.1:443'), { code: 'EPERM', errno: -1, syscall: 'connect' }), 'upstream');
  expect([e.cls, e.hop, socksReplyCode(e), httpStatus(e)]).toEqual(['blocked', 'upstream', 0x02, 502]);
  expect(ERROR_CLASSES).toContain('blocked');
});

test('EPERM / EACCES from a call other than connect is not a firewall: internal', () => {
  const e = classify(Object.assign(new Error('bind EACCES 0.0.0.0:80'), { code: 'EACCES', errno: -13, syscall: 'bind' }), 'origin');
  expect([e.cls, e.hop]).toEqual(['internal', 'proxyd']);
});

test('EINVAL is mapped by the call that failed: from bind() or setsockopt() it is a bug of proxyd (internal, hop proxyd), not an unreachable network', async () => {
  for (const raw of [await bindEinval(), await setsockoptEinval()]) {
    expect(raw.code).toBe('EINVAL');
    expect(raw.syscall).not.toBe('connect');
    const e = classify(raw, 'origin');
    expect({ syscall: raw.syscall, cls: e.cls, hop: e.hop }).toEqual({ syscall: raw.syscall, cls: 'internal', hop: 'proxyd' });
    expect(httpStatus(e)).toBe(500);
    expect(socksReplyCode(e)).toBe(0x01);
    expect(e.causeStack).toContain('EINVAL');
  }
  // from connect() (a blackhole route; test/e2e/blocked-connect.test.ts makes one) it is the network: unreachable
  const connectEinval = classify(Object.assign(new Error('connect EINVAL 198.51.100.1:80'), { code: 'EINVAL', errno: -22, syscall: 'connect' }), 'origin');
  expect([connectEinval.cls, connectEinval.hop, socksReplyCode(connectEinval), httpStatus(connectEinval)]).toEqual(['unreachable', 'origin', 0x04, 502]);
  // without a call named, nothing says it was the network
  expect(classify(errno('EINVAL')).cls).toBe('internal');
});
