// The access module: per-listener connection accounting, the password-guessing brake, the allow
// list and credentials, as the daemon relies on them (fake sockets, a fake clock, fake timers).
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { AllowList } from '../../src/access/allow-list.js';
import { AuthThrottle, REFUSE } from '../../src/access/auth-throttle.js';
import { fileBudget } from '../../src/access/file-limit.js';
import { ConnectionCount, countUpstream, uncountUpstream, type ConnectionLimits } from '../../src/access/connection-count.js';
import { Credentials } from '../../src/access/credentials.js';
import { parseCidr, type Cidr } from '../../src/address/index.js';
import { capturingLogger } from '../fixtures/logger.js';


/** admit() and countUpstream() only listen for 'close'. */
function fakeSocket(): Socket & EventEmitter {
  return new EventEmitter() as unknown as Socket & EventEmitter;
}

const PINO_WARN = 40;

describe('ConnectionCount', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  test('a client at max-connections-per-client is refused while other clients are still admitted', () => {
    const count = new ConnectionCount('socks', capturingLogger().log);
    const limits: ConnectionLimits = { maxConnections: 100, maxConnectionsPerClient: 3 };
    const a = [fakeSocket(), fakeSocket(), fakeSocket()];
    for (const s of a) expect(count.admit(s, '203.0.113.7', false, limits)).toBe(true);
    expect(count.admit(fakeSocket(), '203.0.113.7', false, limits)).toBe(false);
    expect(count.admit(fakeSocket(), '198.51.100.1', false, limits)).toBe(true);
    expect(count.admit(fakeSocket(), '198.51.100.2', false, limits)).toBe(true);
    expect(count.total).toBe(5);
    count.close();
  });

  test('a client at max-connections-per-client is admitted again once one of its connections is released', () => {
    const count = new ConnectionCount('socks', capturingLogger().log);
    const limits: ConnectionLimits = { maxConnections: 100, maxConnectionsPerClient: 2 };
    expect(count.admit(fakeSocket(), '203.0.113.7', false, limits)).toBe(true);
    expect(count.admit(fakeSocket(), '203.0.113.7', false, limits)).toBe(true);
    expect(count.admit(fakeSocket(), '203.0.113.7', false, limits)).toBe(false);
    count.release('203.0.113.7');
    expect(count.total).toBe(1);
    expect(count.admit(fakeSocket(), '203.0.113.7', false, limits)).toBe(true);
    expect(count.admit(fakeSocket(), '203.0.113.7', false, limits)).toBe(false);
    count.close();
  });

  test('a refused admission changes no count', () => {
    const count = new ConnectionCount('socks', capturingLogger().log);
    const limits: ConnectionLimits = { maxConnections: 100, maxConnectionsPerClient: 1 };
    expect(count.admit(fakeSocket(), '203.0.113.7', false, limits)).toBe(true);
    expect(count.admit(fakeSocket(), '203.0.113.7', false, limits)).toBe(false);
    expect(count.total).toBe(1);
    expect(count.admit(fakeSocket(), '203.0.113.7', false, limits)).toBe(false);
    count.close();
  });

  // [max-connections, last total a non-loopback client is admitted at (max - min(16, floor(max/4)))]
  test.each([
    [4096, 4080],
    [64, 48],
    [20, 15],
    [4, 3],
    [3, 3],
  ])('max-connections %i: non-loopback clients are admitted up to %i in all, loopback clients up to the max', (max, nonLoopback) => {
    const count = new ConnectionCount('http', capturingLogger().log);
    const limits: ConnectionLimits = { maxConnections: max, maxConnectionsPerClient: 1_000_000 };
    for (let i = 0; i < nonLoopback; i++) expect(count.admit(fakeSocket(), '203.0.113.7', false, limits)).toBe(true);
    expect(count.total).toBe(nonLoopback);
    expect(count.admit(fakeSocket(), '203.0.113.7', false, limits)).toBe(false);
    expect(count.admit(fakeSocket(), '198.51.100.1', false, limits)).toBe(false);
    for (let i = nonLoopback; i < max; i++) expect(count.admit(fakeSocket(), '127.0.0.1', true, limits)).toBe(true);
    expect(count.total).toBe(max);
    expect(count.admit(fakeSocket(), '127.0.0.1', true, limits)).toBe(false);
    expect(count.admit(fakeSocket(), '::1', true, limits)).toBe(false);
    expect(count.total).toBe(max);
    count.close();
  });

  test('a non-loopback client is admitted again once the total falls below the reserve line', () => {
    const count = new ConnectionCount('http', capturingLogger().log);
    const limits: ConnectionLimits = { maxConnections: 20, maxConnectionsPerClient: 100 };
    const sockets = Array.from({ length: 15 }, () => fakeSocket());
    for (const s of sockets) expect(count.admit(s, '203.0.113.7', false, limits)).toBe(true);
    expect(count.admit(fakeSocket(), '198.51.100.1', false, limits)).toBe(false);
    count.release('203.0.113.7');
    expect(count.admit(fakeSocket(), '198.51.100.1', false, limits)).toBe(true);
    expect(count.total).toBe(15);
    count.close();
  });

  test('an upstream connection counts toward the listener total until it is uncounted', () => {
    const count = new ConnectionCount('socks', capturingLogger().log);
    const limits: ConnectionLimits = { maxConnections: 20, maxConnectionsPerClient: 100 };
    const client = fakeSocket();
    expect(count.admit(client, '203.0.113.7', false, limits)).toBe(true);
    countUpstream(client);
    expect(count.total).toBe(2);
    uncountUpstream(client);
    expect(count.total).toBe(1);
    count.release('203.0.113.7');
    expect(count.total).toBe(0);
    count.close();
  });

  test('upstream connections fill the listener: non-loopback clients are refused at max - reserve counting upstreams', () => {
    const count = new ConnectionCount('socks', capturingLogger().log);
    const limits: ConnectionLimits = { maxConnections: 20, maxConnectionsPerClient: 100 };
    const clients = Array.from({ length: 10 }, () => fakeSocket());
    for (const c of clients) expect(count.admit(c, '203.0.113.7', false, limits)).toBe(true);
    for (let i = 0; i < 5; i++) countUpstream(clients[0]!);
    expect(count.total).toBe(15);
    expect(count.admit(fakeSocket(), '198.51.100.1', false, limits)).toBe(false);
    uncountUpstream(clients[0]!);
    expect(count.admit(fakeSocket(), '198.51.100.1', false, limits)).toBe(true);
    count.close();
  });

  test('an upstream outlives its client: it still counts after the client is released, until it is uncounted', () => {
    const count = new ConnectionCount('socks', capturingLogger().log);
    const limits: ConnectionLimits = { maxConnections: 20, maxConnectionsPerClient: 100 };
    const client = fakeSocket();
    expect(count.admit(client, '203.0.113.7', false, limits)).toBe(true);
    countUpstream(client);
    count.release('203.0.113.7');
    expect(count.total).toBe(1);
    uncountUpstream(client);
    expect(count.total).toBe(0);
    count.close();
  });

  test('an upstream for a socket that was never admitted (or was refused) is not counted', () => {
    const count = new ConnectionCount('socks', capturingLogger().log);
    const limits: ConnectionLimits = { maxConnections: 20, maxConnectionsPerClient: 1 };
    expect(count.admit(fakeSocket(), '203.0.113.7', false, limits)).toBe(true);
    countUpstream(fakeSocket());
    const refused = fakeSocket();
    expect(count.admit(refused, '203.0.113.7', false, limits)).toBe(false);
    countUpstream(refused);
    expect(count.total).toBe(1);
    count.close();
  });

  test('an upstream counts only on the listener that admitted its client', () => {
    const socks = new ConnectionCount('socks', capturingLogger().log);
    const http = new ConnectionCount('http', capturingLogger().log);
    const limits: ConnectionLimits = { maxConnections: 20, maxConnectionsPerClient: 100 };
    const client = fakeSocket();
    expect(http.admit(client, '203.0.113.7', false, limits)).toBe(true);
    countUpstream(client);
    expect(http.total).toBe(2);
    expect(socks.total).toBe(0);
    socks.close();
    http.close();
  });

  test('refusals are logged as one warn summary line per 10 s with totals per reason and the busiest address first', () => {
    vi.useFakeTimers();
    const { log, lines } = capturingLogger();
    const count = new ConnectionCount('socks', log);
    const limits: ConnectionLimits = { maxConnections: 20, maxConnectionsPerClient: 2 };
    const flooder = '203.0.113.7';
    const other = '192.0.2.9';

    // the flooder holds its 2 connections, then is refused per client 200 times
    expect(count.admit(fakeSocket(), flooder, false, limits)).toBe(true);
    expect(count.admit(fakeSocket(), flooder, false, limits)).toBe(true);
    for (let i = 0; i < 200; i++) expect(count.admit(fakeSocket(), flooder, false, limits)).toBe(false);
    // others fill the listener to its non-loopback line (15 of 20)
    for (let i = 1; i <= 13; i++) expect(count.admit(fakeSocket(), `198.51.100.${i}`, false, limits)).toBe(true);
    expect(count.total).toBe(15);
    // the flooder is now refused because the listener is full, 300 times
    for (let i = 0; i < 300; i++) expect(count.admit(fakeSocket(), flooder, false, limits)).toBe(false);
    // the other address: once listener full, twice not in the allow list
    expect(count.admit(fakeSocket(), other, false, limits)).toBe(false);
    expect(count.refuse(other, 'allow')).toBe(false);
    expect(count.refuse(other, 'allow')).toBe(false);

    expect(lines).toHaveLength(0);
    vi.advanceTimersByTime(9_999);
    expect(lines).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: PINO_WARN,
      listener: 'socks',
      dropped: 503,
      full: 301,
      perClient: 200,
      notAllowed: 2,
      top: [`${flooder} 500`, `${other} 3`],
    });
    expect(lines[0]!.msg).toContain('503 connections refused');

    // nothing more while nothing is refused
    vi.advanceTimersByTime(60_000);
    expect(lines).toHaveLength(1);
    count.close();
  });

  test('a later burst of refusals gives a second summary line counting only that burst, covering refusals spread over the 10 s', () => {
    vi.useFakeTimers();
    const { log, lines } = capturingLogger();
    const count = new ConnectionCount('http', log);
    for (let i = 0; i < 7; i++) count.refuse('192.0.2.9', 'allow');
    vi.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ dropped: 7, notAllowed: 7, full: 0, perClient: 0, top: ['192.0.2.9 7'] });

    vi.advanceTimersByTime(30_000);
    for (let i = 0; i < 2; i++) count.refuse('192.0.2.10', 'allow');
    vi.advanceTimersByTime(6_000);
    for (let i = 0; i < 3; i++) count.refuse('192.0.2.11', 'allow');
    expect(lines).toHaveLength(1);
    vi.advanceTimersByTime(4_000);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({
      level: PINO_WARN,
      listener: 'http',
      dropped: 5,
      notAllowed: 5,
      full: 0,
      perClient: 0,
      top: ['192.0.2.11 3', '192.0.2.10 2'],
    });
    count.close();
  });

  test('the summary line names at most five addresses', () => {
    vi.useFakeTimers();
    const { log, lines } = capturingLogger();
    const count = new ConnectionCount('http', log);
    for (let a = 1; a <= 7; a++) for (let i = 0; i < a; i++) count.refuse(`192.0.2.${a}`, 'allow');
    vi.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      dropped: 28,
      top: ['192.0.2.7 7', '192.0.2.6 6', '192.0.2.5 5', '192.0.2.4 4', '192.0.2.3 3'],
    });
    count.close();
  });
});

describe('AuthThrottle', () => {
  function setup() {
    const clock = { now: 1_000_000 };
    const { log, lines } = capturingLogger();
    const throttle = new AuthThrottle(log, () => clock.now);
    return { clock, lines, throttle };
  }

  test('turns reserved in one burst (by clients that then left) do not carry into the next burst', () => {
    const { clock, throttle } = setup();
    for (let i = 0; i < 5; i++) throttle.failed('203.0.113.7', 'socks5');
    for (let i = 0; i < 1000; i++) throttle.turn('203.0.113.7'); // reserved, never used
    clock.now += 100_000; // the penalty is long over
    expect(throttle.turn('203.0.113.7')).toBe(0);
    for (let i = 0; i < 5; i++) throttle.failed('203.0.113.7', 'socks5');
    expect(throttle.turn('203.0.113.7')).toBe(1_000);
  });

  test('at most 4 attempts wait at once; more are refused at once, unchecked, and turns free up as time passes', () => {
    const { clock, throttle } = setup();
    for (let i = 0; i < 5; i++) throttle.failed('203.0.113.7', 'socks5');
    expect([1, 2, 3, 4, 5, 6].map(() => throttle.turn('203.0.113.7'))).toEqual([1_000, 2_000, 3_000, 4_000, REFUSE, REFUSE]);
    clock.now += 2_000; // two turns have come: two places free in the backlog
    expect([1, 2, 3].map(() => throttle.turn('203.0.113.7'))).toEqual([3_000, 4_000, REFUSE]);
  });

  test('IPv6 clients are braked per /64: rotating the interface id does not escape it', () => {
    const { throttle } = setup();
    for (let i = 1; i <= 5; i++) throttle.failed(`2001:db8:1:2::${i}`, 'http');
    expect(throttle.turn('2001:db8:1:2:ffff::99')).toBe(1_000);
    expect(throttle.turn('2001:db8:1:3::1')).toBe(0); // another /64
  });

  test('an address that keeps failing is not the one forgotten when the table is full', () => {
    const { throttle } = setup();
    for (let i = 0; i < 5; i++) throttle.failed('198.51.100.1', 'http');
    for (let i = 0; i < 9_999; i++) throttle.failed(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 'http');
    throttle.failed('198.51.100.1', 'http'); // still guessing: most recently seen
    throttle.failed('10.200.0.1', 'http'); // the table is full: the least recently failed goes
    expect(throttle.turn('198.51.100.1')).toBe(1_000);
  });

  test('four failures within 10 s cause no delay', () => {
    const { clock, throttle, lines } = setup();
    for (let i = 0; i < 4; i++) {
      throttle.failed('203.0.113.7', 'http');
      clock.now += 2_000;
    }
    expect(throttle.turn('203.0.113.7')).toBe(0);
    expect(throttle.turn('203.0.113.7')).toBe(0);
    expect(lines).toHaveLength(0);
  });

  test('after the 5th failure within 10 s, attempts reserved at the same moment wait 1 s, 2 s, 3 s', () => {
    const { clock, throttle } = setup();
    for (let i = 0; i < 5; i++) {
      throttle.failed('203.0.113.7', 'socks5');
      clock.now += 2_000;
    }
    expect(throttle.turn('203.0.113.7')).toBe(1_000);
    expect(throttle.turn('203.0.113.7')).toBe(2_000);
    expect(throttle.turn('203.0.113.7')).toBe(3_000);
  });

  test('held attempts are taken one per second: a later attempt queues behind the reserved ones', () => {
    const { clock, throttle } = setup();
    for (let i = 0; i < 5; i++) throttle.failed('203.0.113.7', 'http');
    expect(throttle.turn('203.0.113.7')).toBe(1_000);
    expect(throttle.turn('203.0.113.7')).toBe(2_000);
    expect(throttle.turn('203.0.113.7')).toBe(3_000);
    clock.now += 1_500; // the last reserved turn is 1.5 s away
    expect(throttle.turn('203.0.113.7')).toBe(2_500);
    clock.now += 10_000; // all reserved turns are past: the next one is a second from now
    expect(throttle.turn('203.0.113.7')).toBe(1_000);
  });

  test('a throttled address does not delay another address', () => {
    const { throttle } = setup();
    for (let i = 0; i < 5; i++) throttle.failed('203.0.113.7', 'http');
    expect(throttle.turn('203.0.113.7')).toBe(1_000);
    expect(throttle.turn('198.51.100.1')).toBe(0);
    throttle.failed('198.51.100.1', 'http');
    expect(throttle.turn('198.51.100.1')).toBe(0);
  });

  test('the penalty ends 60 s after the last failure', () => {
    const { clock, throttle } = setup();
    for (let i = 0; i < 5; i++) throttle.failed('203.0.113.7', 'http');
    clock.now += 59_999;
    expect(throttle.turn('203.0.113.7')).toBeGreaterThan(0);
    clock.now += 1;
    expect(throttle.turn('203.0.113.7')).toBe(0);
  });

  test('a failure during the penalty extends it to 60 s after that failure', () => {
    const { clock, throttle } = setup();
    for (let i = 0; i < 5; i++) throttle.failed('203.0.113.7', 'http');
    clock.now += 30_000;
    throttle.failed('203.0.113.7', 'http');
    clock.now += 30_000; // 60 s after the 5th failure, 30 s after the 6th
    expect(throttle.turn('203.0.113.7')).toBe(1_000);
    clock.now += 30_000; // 60 s after the 6th
    expect(throttle.turn('203.0.113.7')).toBe(0);
  });

  test('failures spread so that no five fall within 10 s never cause a delay', () => {
    const { clock, throttle, lines } = setup();
    for (let i = 0; i < 100; i++) {
      throttle.failed('203.0.113.7', 'http');
      expect(throttle.turn('203.0.113.7')).toBe(0);
      clock.now += 2_600; // five failures span 10.4 s
    }
    expect(lines).toHaveLength(0);
  });

  test('five failures spanning 9.6 s do cause a delay', () => {
    const { clock, throttle } = setup();
    for (let i = 0; i < 5; i++) {
      if (i > 0) clock.now += 2_400;
      throttle.failed('203.0.113.7', 'http');
    }
    expect(throttle.turn('203.0.113.7')).toBe(1_000);
  });

  test('one warn line per burst: the 6th and 7th failures within the penalty do not log again', () => {
    const { clock, throttle, lines } = setup();
    for (let i = 0; i < 4; i++) throttle.failed('203.0.113.7', 'socks5');
    expect(lines).toHaveLength(0);
    throttle.failed('203.0.113.7', 'socks5');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: PINO_WARN, client: '203.0.113.7', inbound: 'socks5', failures: 5 });
    clock.now += 1_000;
    throttle.failed('203.0.113.7', 'socks5');
    clock.now += 1_000;
    throttle.failed('203.0.113.7', 'socks5');
    expect(lines).toHaveLength(1);
  });

  test('a new burst after the penalty has ended logs a second line', () => {
    const { clock, throttle, lines } = setup();
    for (let i = 0; i < 5; i++) throttle.failed('203.0.113.7', 'http');
    expect(lines).toHaveLength(1);
    clock.now += 120_000;
    expect(throttle.turn('203.0.113.7')).toBe(0);
    for (let i = 0; i < 4; i++) throttle.failed('203.0.113.7', 'http');
    expect(lines).toHaveLength(1);
    expect(throttle.turn('203.0.113.7')).toBe(0);
    throttle.failed('203.0.113.7', 'http');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ level: PINO_WARN, client: '203.0.113.7', inbound: 'http', failures: 5 });
  });

  test('at most 10,000 addresses are remembered: failures from 10,000 more addresses forget the oldest, even a throttled one', () => {
    const { throttle } = setup();
    const first = '203.0.113.1';
    const second = '203.0.113.2';
    for (let i = 0; i < 5; i++) throttle.failed(first, 'http');
    for (let i = 0; i < 5; i++) throttle.failed(second, 'http');
    expect(throttle.turn(first)).toBe(1_000);
    expect(throttle.turn(second)).toBe(1_000);
    // 9,998 more distinct addresses: 10,000 remembered, nothing forgotten yet
    for (let i = 0; i < 9_998; i++) throttle.failed(`10.0.${i >> 8}.${i & 0xff}`, 'http');
    expect(throttle.turn(first)).toBe(2_000);
    // the 10,001st distinct address pushes out the oldest one only
    throttle.failed('10.255.255.255', 'http');
    expect(throttle.turn(first)).toBe(0);
    expect(throttle.turn(second)).toBe(2_000);
  });
});

describe('AllowList', () => {
  const cidr = (text: string): Cidr => {
    const c = parseCidr(text);
    if (!c) throw new Error(`test setup: bad CIDR ${text}`);
    return c;
  };

  test('an IPv4 CIDR allows addresses inside it and refuses those outside', () => {
    const list = new AllowList([cidr('10.0.0.0/8'), cidr('192.168.1.7')]);
    expect(list.allows('10.1.2.3')).toBe(true);
    expect(list.allows('10.255.255.255')).toBe(true);
    expect(list.allows('192.168.1.7')).toBe(true);
    expect(list.allows('11.0.0.1')).toBe(false);
    expect(list.allows('9.255.255.255')).toBe(false);
    expect(list.allows('192.168.1.8')).toBe(false);
  });

  test('an IPv6 CIDR allows addresses inside it and refuses those outside', () => {
    const list = new AllowList([cidr('2001:db8::/32')]);
    expect(list.allows('2001:db8::1')).toBe(true);
    expect(list.allows('2001:db8:ffff:1::5')).toBe(true);
    expect(list.allows('2001:db9::1')).toBe(false);
    expect(list.allows('::1')).toBe(false);
    expect(list.allows('10.1.2.3')).toBe(false);
  });

  test('an IPv4-mapped IPv6 client address matches an IPv4 CIDR', () => {
    const list = new AllowList([cidr('10.0.0.0/8')]);
    expect(list.allows('::ffff:10.1.2.3')).toBe(true);
    expect(list.allows('::FFFF:10.1.2.3')).toBe(true);
    expect(list.allows('::ffff:a01:203')).toBe(true);
    expect(list.allows('::ffff:11.1.2.3')).toBe(false);
  });

  test('an empty list allows everyone', () => {
    const list = new AllowList([]);
    expect(list.size).toBe(0);
    expect(list.allows('203.0.113.7')).toBe(true);
    expect(list.allows('2001:db8::1')).toBe(true);
    expect(list.allows('::ffff:10.1.2.3')).toBe(true);
    expect(list.allows('127.0.0.1')).toBe(true);
  });

  test.each(['', 'not-an-ip', '10.1.2', '10.1.2.3.4', '10.1.2.3/8', '10.01.2.3', 'localhost', '2001:db8:::1'])(
    'a non-empty list refuses the junk address %j',
    (junk) => {
      const list = new AllowList([cidr('0.0.0.0/0'), cidr('2001:db8::/32')]);
      expect(list.allows(junk)).toBe(false);
    },
  );
});

describe('Credentials', () => {
  const users = [
    { username: 'alice', password: 'open:sesame' },
    { username: 'bob', password: 'pw' },
  ];
  const basic = (text: string) => Buffer.from(text, 'utf8').toString('base64');

  test('a valid Basic header is accepted and names its user (passwords may contain colons)', () => {
    const c = new Credentials(users);
    expect(c.checkBasic(`Basic ${basic('alice:open:sesame')}`)).toEqual({ user: 'alice', ok: true });
    expect(c.checkBasic(`Basic ${basic('bob:pw')}`)).toEqual({ user: 'bob', ok: true });
  });

  test('a wrong password is refused but still names the claimed user', () => {
    const c = new Credentials(users);
    expect(c.checkBasic(`Basic ${basic('alice:open')}`)).toEqual({ user: 'alice', ok: false });
    expect(c.checkBasic(`Basic ${basic('alice:pw')}`)).toEqual({ user: 'alice', ok: false });
    expect(c.checkBasic(`Basic ${basic('alice:')}`)).toEqual({ user: 'alice', ok: false });
  });

  test('an unknown user is refused', () => {
    const c = new Credentials(users);
    expect(c.checkBasic(`Basic ${basic('mallory:pw')}`)).toEqual({ user: 'mallory', ok: false });
    expect(c.checkBasic(`Basic ${basic('Alice:open:sesame')}`)).toEqual({ user: 'Alice', ok: false });
  });

  test('a Basic header without a colon is refused', () => {
    const c = new Credentials(users);
    expect(c.checkBasic(`Basic ${basic('aliceopensesame')}`).ok).toBe(false);
    expect(c.checkBasic(`Basic ${basic('alice')}`)).toEqual({ user: 'alice', ok: false });
  });

  test.each(['Bearer', 'Digest', 'Basicx', 'Negotiate'])('the non-Basic scheme %s is refused without naming a user', (scheme) => {
    const c = new Credentials(users);
    expect(c.checkBasic(`${scheme} ${basic('alice:open:sesame')}`)).toEqual({ user: undefined, ok: false });
  });

  test('a missing, empty or malformed header is refused without naming a user', () => {
    const c = new Credentials(users);
    expect(c.checkBasic(undefined)).toEqual({ user: undefined, ok: false });
    expect(c.checkBasic('')).toEqual({ user: undefined, ok: false });
    expect(c.checkBasic('Basic')).toEqual({ user: undefined, ok: false });
    expect(c.checkBasic(basic('alice:open:sesame'))).toEqual({ user: undefined, ok: false });
    expect(c.checkBasic(`Basic ${basic('alice:open:sesame')} extra`)).toEqual({ user: undefined, ok: false });
  });

  test.each([
    ['basic', (b: string) => `basic ${b}`],
    ['BASIC', (b: string) => `BASIC ${b}`],
    ['bAsIc', (b: string) => `bAsIc ${b}`],
    ['several spaces', (b: string) => `Basic    ${b}`],
    ['a tab', (b: string) => `Basic\t${b}`],
    ['leading and trailing spaces', (b: string) => `  Basic ${b}  `],
  ])('a valid header with %s is accepted', (_name, header) => {
    const c = new Credentials(users);
    expect(c.checkBasic(header(basic('bob:pw')))).toEqual({ user: 'bob', ok: true });
  });

  test('with no users configured, credentials are not required and none are valid', () => {
    const c = new Credentials([]);
    expect(c.required).toBe(false);
    expect(new Credentials(users).required).toBe(true);
    expect(c.checkBasic(`Basic ${basic('alice:open:sesame')}`).ok).toBe(false);
    expect(c.verify('', '')).toBe(false);
  });

  test('loggable shows a configured user name as written', () => {
    const c = new Credentials(users);
    expect(c.loggable('alice')).toBe('alice');
    expect(c.loggable('bob')).toBe('bob');
    expect(c.loggable(undefined)).toBeUndefined();
  });

  test('loggable shows any other name as unknown: and 8 hex chars that do not contain the name', () => {
    const c = new Credentials(users);
    const shown = c.loggable('hunter2secret');
    expect(shown).toMatch(/^unknown:[0-9a-f]{8}$/);
    expect(shown).not.toContain('hunter2');
    expect(shown).not.toContain('secret');
    expect(c.loggable('Alice')).toMatch(/^unknown:[0-9a-f]{8}$/);
    expect(c.loggable('open:sesame')).toMatch(/^unknown:[0-9a-f]{8}$/);
  });

  test('loggable gives the same hash for the same unknown name, and different hashes for different names', () => {
    const c = new Credentials(users);
    expect(c.loggable('hunter2secret')).toBe(c.loggable('hunter2secret'));
    expect(c.loggable('hunter2secreT')).not.toBe(c.loggable('hunter2secret'));
  });

  test('the hash is keyed per loaded config: it is not the plain SHA-256 a dictionary could be checked against', () => {
    const c = new Credentials(users);
    const other = new Credentials(users);
    const plain = `unknown:${createHash('sha256').update('hunter2secret').digest('hex').slice(0, 8)}`;
    expect(c.loggable('hunter2secret')).not.toBe(plain);
    expect(other.loggable('hunter2secret')).not.toBe(c.loggable('hunter2secret'));
  });
});

describe('the open-file budget shared by all listeners', () => {
  test('with 1,024 files, 880 connections in all, across listeners (64 for proxyd, 64 for the control sockets, 16 for the dashboard); loopback clients may use the last 16', () => {
    const files = fileBudget(1024);
    expect(files.max).toBe(880);
    const limits = { maxConnections: 4096, maxConnectionsPerClient: 1_000_000 };
    const socks = new ConnectionCount('socks', capturingLogger().log, files);
    const http = new ConnectionCount('http', capturingLogger().log, files);
    for (let i = 0; i < 500; i++) expect(socks.admit(fakeSocket(), '203.0.113.7', false, limits)).toBe(true);
    const client = fakeSocket();
    expect(http.admit(client, '203.0.113.8', false, limits)).toBe(true);
    for (let i = 0; i < 363; i++) countUpstream(client); // 864 used
    expect(http.admit(fakeSocket(), '203.0.113.9', false, limits)).toBe(false);
    expect(http.admit(fakeSocket(), '127.0.0.1', true, limits)).toBe(true);
    expect(files.used).toBe(865);
    socks.close();
    http.close();
  });

  test('an unknown limit (not Linux) bounds nothing', () => {
    expect(fileBudget(undefined).max).toBe(Infinity);
  });
});
