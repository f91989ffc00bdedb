// Groups: the health of a member as a state machine, the order each group type tries its members
// in, and the Group dialer over fake members (no sockets, fake timers, a fake clock): retries,
// passive detection, check scheduling, flapping, recovery, and health carried over a reload.
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { PassThrough, Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { Deadline } from '../../src/deadline.js';
import { ERROR_CLASSES, ProxyError } from '../../src/errors.js';
import type { Logger } from '../../src/log/logger.js';
import { Group } from '../../src/outbound/group/index.js';
import type { GroupDef } from '../../src/outbound/group/group.js';
import { MemberHealth, type HealthSettings } from '../../src/health/member-health.js';
import { fallbackOrder, fastestOrder, roundRobinOrder, type Candidate } from '../../src/health/order.js';
import { buildOutbounds, registerOutboundKind, type BuildContext, type DialContext, type Dialed, type Dialer, type Outbound, type OutboundDef, type OutboundDeps } from '../../src/outbound/index.js';
import { targetFailure } from '../../src/outbound/upstream.js';
import { Resolver } from '../../src/resolver.js';
import { Stats } from '../../src/stats/stats.js';
import { FileBudget } from '../../src/access/connection-count.js';

const SETTINGS: HealthSettings = { failures: 3, maxLatencyMs: 500 };
const INTERVAL = 30_000;
const TARGET = { host: 'example.com', port: 443 };

// ─── fakes ──────────────────────────────────────────────────────────────────────────────────

/** What one health check of a fake member does: pass after this many ms, or fail. */
type Outcome = number | 'fail';

function refused(name: string): ProxyError {
  return new ProxyError('refused', `upstream ${name}: connect ECONNREFUSED`, 'ECONNREFUSED', 'upstream');
}

/**
 * A group member without sockets: its checks (`reach`, as an upstream proxy's) follow `check`,
 * called with the number of the check (0 first); its connections follow `connect`.
 */
class FakeMember implements Dialer {
  readonly kind = 'dialer';
  checks = 0;
  dials = 0;
  check: (n: number) => Outcome = () => 10;
  connect: (n: number) => ProxyError | undefined = () => undefined;
  constructor(readonly name: string) {}

  async reach(_ctx: { resolver: Resolver; cancel: Deadline }): Promise<void> {
    const outcome = this.check(this.checks++);
    if (outcome === 'fail') throw refused(this.name);
    await new Promise((resolve) => setTimeout(resolve, outcome));
  }

  async dial(_target: { host: string; port: number }, _ctx: DialContext): Promise<Dialed> {
    const failure = this.connect(this.dials++);
    if (failure) throw failure;
    return { socket: new PassThrough() as unknown as Socket, chain: [this.name] };
  }

  async close(): Promise<void> {}
}

/** A pino logger whose lines are collected; `messages()` are their `msg`s. */
function capturingLogger(): { log: Logger; lines: Array<Record<string, unknown>>; messages(): string[] } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines, messages: () => lines.map((l) => String(l.msg)) };
}

function groupDef(type: GroupDef['type'], members: string[], check: Partial<GroupDef['check']> = {}, toleranceMs = 50): GroupDef {
  return {
    name: 'out', type, members, toleranceMs,
    check: { intervalMs: INTERVAL, timeoutMs: 5_000, failures: 3, maxLatencyMs: 500, expect: [], ...check },
  };
}

const open: Group[] = [];

/** A group over fake members named `names`, built as buildOutbounds would (ctx.dialer by name). */
function makeGroup(type: GroupDef['type'], names: string[], check: Partial<GroupDef['check']> = {}, toleranceMs = 50) {
  const members = Object.fromEntries(names.map((n) => [n, new FakeMember(n)]));
  const logger = capturingLogger();
  const ctx: BuildContext = {
    isSelf: () => false,
    resolver: () => new Resolver(new Map()),
    log: logger.log,
    artifactCache: () => Promise.reject(new Error('groups use no artifact cache')),
    stats: new Stats(),
    files: new FileBudget(Infinity),
    dialer: (name) => members[name]!,
    previous: undefined,
  };
  const group = new Group(groupDef(type, names, check, toleranceMs), ctx);
  open.push(group);
  return { group, members, logger, nowUses: () => logger.messages().filter((m) => m.startsWith('out now uses ')) };
}

async function dial(group: Group): Promise<Dialed> {
  const cancel = new Deadline(10_000, 'connect');
  try {
    return await group.dial(TARGET, { resolver: new Resolver(new Map()), cancel });
  } finally {
    cancel.done();
  }
}

/** The first round of checks (scheduled with setImmediate; each takes its fake latency) and what it leads to. */
const firstChecks = () => vi.advanceTimersByTimeAsync(1_000);
/** `n` check intervals. */
async function intervals(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await vi.advanceTimersByTimeAsync(INTERVAL);
}

/** A MemberHealth after these checks: a number is a passing check of that latency, 'fail' a failed one. */
function health(...checks: Outcome[]): MemberHealth {
  const h = new MemberHealth();
  for (const c of checks) {
    if (c === 'fail') h.fail(0, 'refused', 'refused', SETTINGS, true);
    else h.pass(0, c, SETTINGS);
  }
  return h;
}

const candidates = (spec: Record<string, MemberHealth>): Candidate[] => Object.entries(spec).map(([name, h]) => ({ name, health: h }));
const DOWN = ['fail', 'fail', 'fail'] as const;

beforeEach(() => {
  vi.useFakeTimers();
  // check latencies are timed with perf_hooks' clock, which fake timers leave alone: tie it to the fake one
  vi.spyOn(performance, 'now').mockImplementation(() => Date.now());
});

afterEach(async () => {
  for (const g of open.splice(0)) await g.close();
  vi.restoreAllMocks();
  vi.useRealTimers();
});

// ─── MemberHealth ───────────────────────────────────────────────────────────────────────────

describe('MemberHealth', () => {
  test('an unknown member is up after its first passing check', () => {
    const h = new MemberHealth();
    expect(h.status).toBe('unknown');
    expect(h.pass(1, 20, SETTINGS)).toBe('up');
    expect(h.status).toBe('up');
    expect(h.lastCheck).toEqual({ at: 1, ok: true, latencyMs: 20 });
  });

  test('`failures` failures in a row mark it down, once', () => {
    const h = health(20);
    expect(h.fail(1, 'timeout', 'timed out', SETTINGS, true)).toBeUndefined();
    expect(h.fail(2, 'timeout', 'timed out', SETTINGS, true)).toBeUndefined();
    expect(h.status).toBe('up');
    expect(h.fail(3, 'timeout', 'timed out', SETTINGS, true)).toBe('down');
    expect(h.status).toBe('down');
    expect(h.fail(4, 'timeout', 'timed out', SETTINGS, true)).toBeUndefined();
    expect(h.errors.timeout).toBe(4);
    expect(h.lastCheck).toEqual({ at: 4, ok: false, error: 'timed out (timeout)' });
  });

  test('a pass between failures starts the count again', () => {
    const h = health(20, 'fail', 'fail', 20, 'fail', 'fail');
    expect(h.status).toBe('up');
    expect(h.failuresInRow).toBe(2);
  });

  test('a member never seen passing is down after `failures` failures', () => {
    const h = health('fail', 'fail');
    expect(h.status).toBe('unknown');
    expect(h.fail(0, 'refused', 'refused', SETTINGS, true)).toBe('down');
  });

  test('a failed connection of real traffic counts but leaves lastCheck alone', () => {
    const h = health(20);
    h.fail(5, 'reset', 'reset by peer', SETTINGS, false);
    expect(h.failuresInRow).toBe(1);
    expect(h.errors.reset).toBe(1);
    expect(h.lastCheck).toEqual({ at: 0, ok: true, latencyMs: 20 });
  });

  test('two passes in a row bring a down member back up; one is not enough', () => {
    const h = health(20, ...DOWN);
    expect(h.pass(1, 20, SETTINGS)).toBeUndefined();
    expect(h.status).toBe('down');
    expect(h.pass(2, 20, SETTINGS)).toBe('up');
    expect(h.status).toBe('up');
  });

  test('pass, fail, pass does not bring a down member back', () => {
    const h = health(20, ...DOWN, 20, 'fail', 20);
    expect(h.status).toBe('down');
  });

  test('a pass slower than max-latency makes an up member slow (said once); a faster one makes it fast again', () => {
    const h = health(20);
    expect(h.pass(1, 800, SETTINGS)).toBe('slow');
    expect(h.slow).toBe(true);
    expect(h.status).toBe('up');
    expect(h.pass(2, 900, SETTINGS)).toBeUndefined();
    expect(h.pass(3, 100, SETTINGS)).toBe('fast');
    expect(h.slow).toBe(false);
    expect(h.pass(4, 100, SETTINGS)).toBeUndefined();
  });

  test('exactly max-latency is not slow', () => {
    const h = health(20);
    expect(h.pass(1, 500, SETTINGS)).toBeUndefined();
    expect(h.slow).toBe(false);
  });

  test('a connection of real traffic (no latency) changes neither latency nor slowness', () => {
    const h = health(800);
    expect(h.pass(1, undefined, SETTINGS)).toBeUndefined();
    expect(h.slow).toBe(true);
    expect(h.latencies).toEqual([800]);
  });

  test('recentLatencyMs is the median of the last 10 passing checks', () => {
    expect(new MemberHealth().recentLatencyMs).toBeUndefined();
    expect(health(30, 10, 'fail', 20).recentLatencyMs).toBe(20);
    expect(health(10, 900, 20).recentLatencyMs).toBe(20); // one outlier does not move it
    // the two 5000s are older than the last 10: the median is that of 10..100 with 50 twice
    const h = health(5000, 5000, 10, 20, 30, 40, 50, 50, 70, 80, 90, 100);
    expect(h.latencies).toEqual([10, 20, 30, 40, 50, 50, 70, 80, 90, 100]);
    expect(h.recentLatencyMs).toBe(50);
  });
});

// ─── order ──────────────────────────────────────────────────────────────────────────────────

describe('fallback order', () => {
  test('the first member, in config order, that is up and under max-latency', () => {
    expect(fallbackOrder(candidates({ a: health(20), b: health(20), c: health(20) })).order).toEqual(['a', 'b', 'c']);
    expect(fallbackOrder(candidates({ a: health(20, ...DOWN), b: health(20), c: health(20) })).order).toEqual(['b', 'c', 'a']);
  });

  test('a slow member is used only when no up member is fast', () => {
    expect(fallbackOrder(candidates({ a: health(800), b: health(20) })).order).toEqual(['b', 'a']);
    const onlySlow = fallbackOrder(candidates({ a: health(20, ...DOWN), b: health(800) }));
    expect(onlySlow.order).toEqual(['b', 'a']);
    expect(onlySlow.why).toBe('up but slow (none is up and under max-latency); before it: a down');
  });

  test('unknown members before down ones, down ones last', () => {
    const choice = fallbackOrder(candidates({ a: health(20, ...DOWN), b: new MemberHealth(), c: health(800), d: health(20) }));
    expect(choice.order).toEqual(['d', 'c', 'b', 'a']);
    expect(fallbackOrder(candidates({ a: health(20, ...DOWN), b: new MemberHealth() })).order).toEqual(['b', 'a']);
  });

  test('when every member is down they are tried in config order', () => {
    const choice = fallbackOrder(candidates({ a: health(...DOWN), b: health(...DOWN) }));
    expect(choice).toEqual({ order: ['a', 'b'], why: 'every member is down: trying them in order' });
  });
});

describe('fastest order', () => {
  test('picks the up member with the lowest recent latency', () => {
    const choice = fastestOrder(candidates({ a: health(200), b: health(100), c: health(300), d: health(10, ...DOWN) }), undefined, 50);
    expect(choice.order).toEqual(['b', 'a', 'c', 'd']);
    expect(choice.why).toBe('fastest up member (100 ms)');
  });

  test('does not switch when another member is faster by less than the tolerance', () => {
    const choice = fastestOrder(candidates({ a: health(100), b: health(70) }), 'a', 50);
    expect(choice.order).toEqual(['a', 'b']);
    expect(choice.why).toBe('kept: within 50 ms of the fastest (b)');
  });

  test('switches when another member is faster by more than the tolerance', () => {
    expect(fastestOrder(candidates({ a: health(100), b: health(40) }), 'a', 50).order).toEqual(['b', 'a']);
  });

  test('does not keep the current member once it is down', () => {
    expect(fastestOrder(candidates({ a: health(10, ...DOWN), b: health(100) }), 'a', 50).order).toEqual(['b', 'a']);
  });
});

describe('round-robin order', () => {
  test('rotates among the up members, the others after them', () => {
    const members = candidates({ a: health(20), b: health(...DOWN), c: health(20), d: health(20) });
    expect([0, 1, 2, 3].map((turn) => roundRobinOrder(members, turn).order)).toEqual([
      ['a', 'c', 'd', 'b'],
      ['c', 'd', 'a', 'b'],
      ['d', 'a', 'c', 'b'],
      ['a', 'c', 'd', 'b'],
    ]);
  });
});

// ─── the Group dialer ───────────────────────────────────────────────────────────────────────

describe('Group.dial', () => {
  test('a member failing to connect is retried on the next before the caller is answered; the chain names the member that carried it', async () => {
    const { group, members } = makeGroup('fallback', ['a', 'b']);
    await firstChecks();
    members.a!.connect = () => refused('a');
    const dialed = await dial(group);
    expect(dialed.chain).toEqual(['out', 'b']);
    expect([members.a!.dials, members.b!.dials]).toEqual([1, 1]);
  });

  test('when every member fails, the caller gets the last failure', async () => {
    const { group, members } = makeGroup('fallback', ['a', 'b']);
    await firstChecks();
    members.a!.connect = () => refused('a');
    const last = refused('b');
    members.b!.connect = () => last;
    await expect(dial(group)).rejects.toBe(last);
  });

  test('a failure the upstream reported about the target is not retried and does not count against the member', async () => {
    const { group, members } = makeGroup('fallback', ['a', 'b']);
    await firstChecks();
    const aboutTarget = targetFailure('a', 'unreachable', 'example.com:443: HostUnreachable', 'EHOSTUNREACH');
    members.a!.connect = () => aboutTarget;
    await expect(dial(group)).rejects.toBe(aboutTarget);
    await vi.advanceTimersByTimeAsync(0);
    expect(aboutTarget.hop).toBe('origin');
    expect(members.b!.dials).toBe(0);
    const a = group.health().members[0]!;
    expect(a.status).toBe('up');
    expect(a.errors).toEqual(Object.fromEntries(ERROR_CLASSES.map((c) => [c, 0])));
    expect(members.a!.checks).toBe(1); // not checked again
  });

  test('passive detection: a member whose connection failed counts the failure at once and is checked again without waiting for the interval', async () => {
    const { group, members, logger } = makeGroup('fallback', ['a', 'b'], { failures: 1 });
    await firstChecks();
    expect(members.a!.checks).toBe(1);
    members.a!.connect = () => refused('a');
    members.a!.check = () => 'fail';
    await dial(group);
    expect(group.health().members[0]).toMatchObject({ name: 'a', status: 'down' });
    expect(members.a!.checks).toBe(2); // the check started with the failure, not at the interval
    expect(logger.messages()).toContain('out/a is down: 1 failure(s) in a row (upstream a: connect ECONNREFUSED (refused))');
    await vi.advanceTimersByTimeAsync(0);
    expect(group.health().members[0]!.errors.refused).toBe(2); // the connection and the check
    // the next connection goes to b first
    expect((await dial(group)).chain).toEqual(['out', 'b']);
    expect(members.a!.dials).toBe(1);
  });

  test('a failed connection counts against a member even when its re-check passes', async () => {
    const { group, members } = makeGroup('fallback', ['a', 'b']);
    await firstChecks();
    members.a!.connect = () => refused('a');
    await dial(group);
    await vi.advanceTimersByTimeAsync(0);
    expect(group.health().members[0]!.errors.refused).toBe(1);
    expect(members.a!.checks).toBe(2);
  });

  test('round-robin: connections rotate among the up members', async () => {
    const { group, members } = makeGroup('round-robin', ['a', 'b', 'c', 'd'], { failures: 1 });
    members.b!.check = () => 'fail';
    await firstChecks();
    const carriers: string[] = [];
    for (let i = 0; i < 6; i++) carriers.push((await dial(group)).chain[1]!);
    expect(carriers).toEqual(['a', 'c', 'd', 'a', 'c', 'd']);
    expect(members.b!.dials).toBe(0);
  });

  test('fastest: connections go through the member with the lowest check latency', async () => {
    const { group, members } = makeGroup('fastest', ['a', 'b', 'c']);
    members.a!.check = () => 300;
    members.b!.check = () => 100;
    members.c!.check = () => 200;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(group.health().members.map((m) => m.recentLatencyMs)).toEqual([300, 100, 200]);
    expect((await dial(group)).chain).toEqual(['out', 'b']);
  });
});

describe('Group health checks', () => {
  test('every interval only the chosen member and the next are checked; all of them every fifth interval', async () => {
    const { members } = makeGroup('fallback', ['a', 'b', 'c', 'd']);
    const counts = () => Object.values(members).map((m) => m.checks);
    await firstChecks();
    expect(counts()).toEqual([1, 1, 1, 1]);
    const after: number[][] = [];
    for (let i = 0; i < 10; i++) {
      await intervals(1);
      after.push(counts());
    }
    expect(after).toEqual([
      [2, 2, 1, 1], [3, 3, 1, 1], [4, 4, 1, 1], [5, 5, 1, 1], [6, 6, 2, 2],
      [7, 7, 2, 2], [8, 8, 2, 2], [9, 9, 2, 2], [10, 10, 2, 2], [11, 11, 3, 3],
    ]);
  });

  test('the chosen member and the next follow the group\'s order: a down member waits for the full round', async () => {
    const { members } = makeGroup('fallback', ['a', 'b', 'c', 'd'], { failures: 1 });
    members.a!.check = () => 'fail';
    await firstChecks();
    await intervals(4);
    expect(Object.values(members).map((m) => m.checks)).toEqual([1, 5, 5, 1]);
    await intervals(1);
    expect(Object.values(members).map((m) => m.checks)).toEqual([2, 6, 6, 2]);
  });

  test('the interval is the configured one', async () => {
    const { members } = makeGroup('fallback', ['a'], { intervalMs: 10_000 });
    await vi.advanceTimersByTimeAsync(9_999);
    expect(members.a!.checks).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(members.a!.checks).toBe(2);
  });

  test('a check slower than the timeout fails', async () => {
    const { group, members } = makeGroup('fallback', ['a'], { timeoutMs: 1_000 });
    members.a!.check = () => 2_000;
    await vi.advanceTimersByTimeAsync(3_000);
    const a = group.health().members[0]!;
    expect(a.errors.timeout).toBe(1);
    expect(a.lastCheck).toMatchObject({ ok: false, error: 'health check of a timed out after 1000 ms (timeout)' });
  });

  test('a flapping member (its check fails every other time) changes the choice at most once in 10 intervals', async () => {
    const { group, members, nowUses } = makeGroup('fallback', ['a', 'b']);
    members.a!.check = (n) => (n % 2 === 0 ? 'fail' : 10);
    await firstChecks();
    await intervals(10);
    expect(members.a!.checks).toBe(11);
    expect(group.health().members[0]!.errors.refused).toBe(6);
    expect(nowUses().length).toBeLessThanOrEqual(1);
  });

  test('a member that recovers comes back: a fallback group returns to it', async () => {
    const { group, members, logger } = makeGroup('fallback', ['a', 'b']);
    members.a!.check = (n) => (n >= 1 && n <= 3 ? 'fail' : 10);
    await firstChecks();
    expect((await dial(group)).chain).toEqual(['out', 'a']);
    await intervals(3);
    expect(group.health().current).toBe('b');
    expect((await dial(group)).chain).toEqual(['out', 'b']);
    await intervals(2);
    expect(group.health().current).toBe('a');
    expect((await dial(group)).chain).toEqual(['out', 'a']);
    expect(logger.messages()).toEqual([
      'out/a is up',
      'out/b is up',
      'out/a is down: 3 failure(s) in a row (upstream a: connect ECONNREFUSED (refused))',
      'out now uses b (up; before it: a down)',
      'out/a is up',
      'out now uses a (up)',
    ]);
  });

  test('fastest: keeps its member while another is faster by less than the tolerance, switches beyond it', async () => {
    const { group, members, nowUses } = makeGroup('fastest', ['a', 'b']);
    members.a!.check = () => 100;
    let b = 130;
    members.b!.check = () => b;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(group.health().current).toBe('a');
    b = 60; // 40 ms faster than a: within the 50 ms tolerance
    await intervals(10);
    expect(group.health().members[1]!.recentLatencyMs).toBe(60);
    expect(group.health().current).toBe('a');
    expect(nowUses()).toEqual([]);
    b = 30; // 70 ms faster
    await intervals(10);
    expect(group.health().current).toBe('b');
    expect(nowUses()).toEqual(['out now uses b (fastest up member (30 ms))']);
  });

  test('a slow member is logged once, and a fallback group moves to a fast one', async () => {
    const { group, members, logger } = makeGroup('fallback', ['a', 'b']);
    let a = 10;
    members.a!.check = () => a;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(group.health().current).toBe('a');
    a = 800;
    await intervals(3);
    expect(group.health().current).toBe('b');
    expect(logger.messages()).toEqual([
      'out/a is up',
      'out/b is up',
      'out/a is slow: its check took 800 ms, over max-latency 500 ms',
      'out now uses b (up; before it: a slow)',
    ]);
  });

  test('after close() no more checks run', async () => {
    const { group, members } = makeGroup('fallback', ['a']);
    await firstChecks();
    await group.close();
    await intervals(5);
    expect(members.a!.checks).toBe(1);
  });
});

// ─── reload ─────────────────────────────────────────────────────────────────────────────────

describe('reload carry-over (buildOutbounds with previous)', () => {
  const KIND = 'groups-test-fake-member';
  const built: FakeMember[] = [];
  registerOutboundKind(KIND, { builds: 'dialer', build: (def) => { const m = new FakeMember(def.name); built.push(m); return m; } });

  function deps(): OutboundDeps {
    return {
      isSelf: () => false, resolver: () => new Resolver(new Map()), log: capturingLogger().log, artifactCache: () => Promise.reject(new Error('groups use no artifact cache')),
      stats: new Stats(), files: new FileBudget(Infinity),
    };
  }
  const member = (name: string, version = 1): OutboundDef => ({ name, type: KIND, version });
  const group = (check: Partial<GroupDef['check']> = {}): GroupDef => groupDef('fallback', ['a', 'b'], check);
  const groupOf = (outbounds: ReadonlyMap<string, Outbound>) => {
    const g = outbounds.get('out') as Group;
    if (!open.includes(g)) open.push(g);
    return g;
  };

  test('an unchanged group is kept as the same object, with its health', async () => {
    const first = buildOutbounds([member('a'), member('b'), group()], deps());
    const g = groupOf(first.outbounds);
    await firstChecks();
    const again = buildOutbounds([member('a'), member('b'), group()], deps(), first);
    expect(again.outbounds.get('out')).toBe(g);
    expect(again.outbounds.get('a')).toBe(first.outbounds.get('a'));
    expect(again.retired).toEqual([]);
    expect(g.health().members.map((m) => m.status)).toEqual(['up', 'up']);
  });

  test('a changed group is a new object that takes over the health of its unchanged members', async () => {
    const first = buildOutbounds([member('a'), member('b'), group()], deps());
    const before = groupOf(first.outbounds);
    (first.outbounds.get('a') as FakeMember).check = () => 40;
    await vi.advanceTimersByTimeAsync(1_000);
    const old = before.health().members;
    expect(old.map((m) => m.status)).toEqual(['up', 'up']);

    // the group's interval changed, and b's definition: a is the same member, b a new one
    const next = buildOutbounds([member('a'), member('b', 2), group({ intervalMs: 60_000 })], deps(), first);
    const after = groupOf(next.outbounds);
    expect(after).not.toBe(before);
    expect(next.outbounds.get('a')).toBe(first.outbounds.get('a'));
    expect(next.outbounds.get('b')).not.toBe(first.outbounds.get('b'));
    expect(next.retired).toEqual(expect.arrayContaining([before, first.outbounds.get('b')]));
    expect(next.retired).toHaveLength(2);

    const taken = after.health(); // before any check of the new group
    expect(taken.current).toBe('a');
    expect(taken.members[0]).toEqual(old[0]);
    expect(taken.members[0]).toMatchObject({ name: 'a', status: 'up', recentLatencyMs: 40 });
    expect(taken.members[1]).toMatchObject({ name: 'b', status: 'unknown', lastCheck: undefined, recentLatencyMs: undefined });
  });
});

describe('what the review of the group found', () => {
  test('a member whose server answers but whose connections all fail goes down: a shallow check does not clear real failures', async () => {
    const { group, members } = makeGroup('fallback', ['a', 'b'], { failures: 3 });
    await firstChecks();
    members.a!.connect = () => refused('a');
    for (let i = 0; i < 3; i++) {
      expect((await dial(group)).chain).toEqual(['out', 'b']);
      await vi.advanceTimersByTimeAsync(100); // the immediate re-check of a passes: its server answers
    }
    expect(group.health().members.find((m) => m.name === 'a')!.status).toBe('down');
    expect(group.choice().order[0]).toBe('b');
  });

  test('a target that is proxyd itself (a loop refused by DIRECT) is not retried on another member and counts against none', async () => {
    const { group, members } = makeGroup('fallback', ['a', 'b']);
    await firstChecks();
    members.a!.connect = () => new ProxyError('rejected', '127.0.0.1:1080 is proxyd\'s own listener: refused (proxy loop)', 'ELOOP', 'proxyd');
    await expect(dial(group)).rejects.toMatchObject({ code: 'ELOOP' });
    expect([members.a!.dials, members.b!.dials]).toEqual([1, 0]);
    expect(group.health().members.map((m) => m.errors.rejected)).toEqual([0, 0]);
  });

  test('round-robin does not log a change of member for every connection', async () => {
    const { group, nowUses } = makeGroup('round-robin', ['a', 'b', 'c']);
    await firstChecks();
    const carriers: string[] = [];
    for (let i = 0; i < 6; i++) carriers.push((await dial(group)).chain[1]!);
    expect(carriers).toEqual(['a', 'b', 'c', 'a', 'b', 'c']); // the member changed with every connection
    expect(nowUses()).toEqual([]); // and not one line said so
  });

  test('a group as a member without a check URL is up only while one of its own members may be', async () => {
    const { group, members } = makeGroup('fallback', ['a', 'b'], { failures: 1 });
    members.a!.check = () => 'fail';
    members.b!.check = () => 'fail';
    await firstChecks();
    await expect(group.reach()).rejects.toMatchObject({ cls: 'unreachable' });
    members.b!.check = () => 10;
    await intervals(5); // a full round: b passes again
    await expect(group.reach()).resolves.toBeUndefined();
  });
});
