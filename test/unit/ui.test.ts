// The dashboard's parts without a browser or a socket: `ui:` in the config, the Host and Origin
// rules, the token and its brake, the escaping of everything a client can name, the history the
// charts draw, and the live feed's ticker, which runs only while a page listens.
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { AuthThrottle } from '../../src/access/auth-throttle.js';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import type { ControlHandlers } from '../../src/control/server.js';
import { Stats } from '../../src/stats/stats.js';
import { loopbackHost, sameOrigin } from '../../src/ui/guard.js';
import { History } from '../../src/ui/history.js';
import { LiveFeed } from '../../src/ui/live.js';
import { UiSessions } from '../../src/ui/sessions.js';
import { html } from '../../src/ui/view/html.js';
import { renderSections } from '../../src/ui/view/sections.js';
import { capturingLogger } from '../fixtures/logger.js';

const dir = mkdtempSync(join(tmpdir(), 'proxyd-ui-unit-'));

function problems(text: string): string[] {
  try {
    parseConfig(text, join(dir, 'c.yaml'));
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.line}:${p.col} ${p.message}`);
    throw err;
  }
}

describe('ui: in the config', () => {
  test('a loopback ADDRESS:PORT, localhost, port 0, or off (the default)', () => {
    expect(parseConfig('ui: 127.0.0.1:9090\n', join(dir, 'a.yaml')).ui).toEqual({ host: '127.0.0.1', port: 9090 });
    expect(parseConfig('ui: "[::1]:0"\n', join(dir, 'a.yaml')).ui).toEqual({ host: '::1', port: 0 });
    expect(parseConfig('ui: localhost:9090\n', join(dir, 'a.yaml')).ui).toEqual({ host: 'localhost', port: 9090 });
    expect(parseConfig('ui: off\n', join(dir, 'a.yaml')).ui).toBeNull();
    expect(parseConfig('rules:\n  - MATCH,DIRECT\n', join(dir, 'a.yaml')).ui).toBeNull();
  });

  test('a non-loopback address is refused at its position, like anything else that is wrong', () => {
    expect(problems('rules:\n  - MATCH,DIRECT\nui: 0.0.0.0:9090\n')).toEqual([
      '3:5 ui: 0.0.0.0 is not a loopback address: the dashboard is served on loopback only, like the control socket (from another machine, forward it: ssh -L 9090:127.0.0.1:9090 HOST)',
    ]);
    expect(problems('ui: 192.168.1.2:9090\n')[0]).toMatch(/^1:5 ui: 192\.168\.1\.2 is not a loopback address/);
    expect(problems('ui: dashboard.example:9090\n')).toEqual(['1:5 ui: expected off or a loopback ADDRESS:PORT such as 127.0.0.1:9090 (got "dashboard.example:9090")']);
  });

  test('it needs the control socket, where its token is kept', () => {
    expect(problems('control: off\nui: 127.0.0.1:9090\n')).toEqual([
      "2:5 ui: the dashboard needs the control socket (control: off): the token that opens it is kept beside the socket, and its actions are the socket's",
    ]);
  });
});

describe('Host and Origin', () => {
  test('only a loopback name or address is a Host the dashboard answers (a rebound name is not)', () => {
    for (const ok of ['127.0.0.1:9090', '127.0.0.1', '127.1.2.3:9090', '[::1]:9090', 'localhost:9090', 'LOCALHOST', 'app.localhost:9090']) expect(loopbackHost(ok), ok).toBe(true);
    for (const bad of [undefined, '', 'evil.example:9090', 'evil.example', '10.0.0.1:9090', '[::2]:9090', '0.0.0.0:9090', 'localhost.evil.example', '127.0.0.1.nip.io:9090', 'a b', '127.0.0.1:9090@evil']) {
      expect(loopbackHost(bad), String(bad)).toBe(false);
    }
  });

  test("an action's Origin must be the page's own: scheme, host and port", () => {
    const req = (origin: string | undefined) => ({ headers: { host: '127.0.0.1:9090', ...(origin === undefined ? {} : { origin }) } }) as IncomingMessage;
    expect(sameOrigin(req('http://127.0.0.1:9090'))).toBe(true);
    for (const bad of [undefined, 'null', 'http://127.0.0.1:9091', 'http://localhost:9090', 'https://127.0.0.1:9090', 'http://evil.example']) expect(sameOrigin(req(bad)), String(bad)).toBe(false);
  });
});

describe('the token', () => {
  const request = () => ({ socket: { remoteAddress: '127.0.0.1', remotePort: 40000 }, headers: {} }) as unknown as IncomingMessage;

  test('the right one gets an HttpOnly, SameSite=Strict session cookie; a wrong one nothing, and is logged', async () => {
    const { log, lines } = capturingLogger();
    const sessions = new UiSessions('right-token-right-token', new AuthThrottle(log), log);
    const cookie = await sessions.signIn('right-token-right-token', request());
    expect(cookie).toMatch(/^proxyd_ui=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/$/);
    expect(await sessions.admits({ ...request(), headers: { cookie: `other=1; ${cookie!.split(';')[0]}` } } as IncomingMessage)).toBe(true);
    expect(await sessions.admits({ ...request(), headers: { authorization: 'Bearer right-token-right-token' } } as IncomingMessage)).toBe(true);
    expect(await sessions.signIn('wrong', request())).toBeUndefined();
    expect(await sessions.signIn(42, request())).toBeUndefined();
    expect(await sessions.admits({ ...request(), headers: { cookie: 'proxyd_ui=made-up' } } as IncomingMessage)).toBe(false);
    expect(lines.filter((l) => l.msg === 'dashboard sign-in failed: wrong token')).toHaveLength(2);
  });

  test('wrong tokens feed the same brake as proxy passwords: after 5, the address waits its turn', async () => {
    let now = 1_000_000;
    const { log } = capturingLogger();
    const throttle = new AuthThrottle(log, () => now);
    const sessions = new UiSessions('right-token-right-token', throttle, log);
    for (let i = 0; i < 5; i++) expect(await sessions.signIn(`wrong-${i}`, request())).toBeUndefined();
    // the proxy listeners' next attempt from this address is held too: it is one brake
    expect(throttle.turn('127.0.0.1')).toBe(1000);
    now += 120_000;
    expect(throttle.turn('127.0.0.1')).toBe(0);
  });
});

describe('what a client can name is text, never markup', () => {
  test('html`` escapes every value and keeps Html made by another template', () => {
    const target = '<script>alert(1)</script>:443';
    expect(html`<td>${target}</td>`.text).toBe('<td>&lt;script&gt;alert(1)&lt;/script&gt;:443</td>');
    expect(html`<a title="${'" onclick="x'}">${html`<b>${'&'}</b>`}</a>`.text).toBe('<a title="&quot; onclick=&quot;x"><b>&amp;</b></a>');
  });

  test("a connection's hostile target and rule are escaped in the rendered sections", () => {
    const stats = new Stats();
    const connections = { connections: [{ id: 7, inbound: 'http' as const, mode: 'tunnel' as const, client: '127.0.0.1:5', target: '"><img src=x onerror=alert(1)>:443', route: 'DIRECT', rule: 'MATCH,DIRECT', ageMs: 1, up: 0, down: 0 }] };
    const history = new History(stats);
    const s = renderSections({ now: Date.now(), status: status(), stats: stats.report([]), errors: { errors: [] }, connections, history }, { page: 1, filter: '' });
    expect(s.connections.text).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;:443');
    expect(s.connections.text).not.toContain('<img');
  });
});

describe('the history the charts draw', () => {
  test('latency per 5-second slot from what was timed since the previous sample; the minutes before the first sample come from the statistics', () => {
    const stats = new Stats();
    const t0 = Date.UTC(2026, 0, 1, 12, 0, 30);
    const route = stats.route('out');
    route.connect.record(40_000, t0 - 60_000); // a minute before: 40 ms
    const history = new History(stats);
    history.sample([], t0);
    expect(history.latency('route', 'out', t0).connect.map((p) => [p.count, p.p50])).toEqual([[1, 40]]);
    for (const ms of [1, 2, 3, 100]) route.connect.record(ms * 1000, t0 + 1000);
    history.sample([], t0 + 1000);
    const points = history.latency('route', 'out', t0 + 1000).connect;
    expect(points).toHaveLength(2);
    expect(points[1]).toMatchObject({ start: t0, count: 4 });
    expect(points[1]!.p50).toBeGreaterThanOrEqual(2);
    expect(points[1]!.p50).toBeLessThan(2.2);
    expect(points[1]!.p99).toBeGreaterThanOrEqual(100); // a bucket's bound: within 4.5%, never below
    expect(points[1]!.p99).toBeLessThan(104.5);
  });

  test('rates count bytes while they move (open connections), not only when a connection ends, and not twice', () => {
    const stats = new Stats();
    const route = stats.route('DIRECT');
    const history = new History(stats);
    const open = (down: number) => [{ id: 1, inbound: 'socks5' as const, mode: 'tunnel' as const, client: 'c', target: 't:1', route: 'DIRECT', rule: 'MATCH,DIRECT', ageMs: 0, up: 10, down }];
    const t0 = 1_000_000;
    history.sample(open(0), t0);
    history.sample(open(1_000_000), t0 + 1000);
    expect(history.rates('DIRECT').now.down).toBe(1_000_000);
    history.sample(open(3_000_000), t0 + 2000);
    expect(history.rates('DIRECT').now.down).toBe(2_000_000);
    // it ends, having carried 3.5 MB in all: only the last 0.5 MB is new (and the 10 bytes up it had sent before it was first seen)
    route.bytesDown += 3_500_000;
    route.bytesUp += 10;
    history.sample([], t0 + 3000);
    expect(history.rates('DIRECT').now).toEqual({ down: 500_000, up: 10 });
  });
});

describe('the live feed', () => {
  afterEach(() => void vi.useRealTimers());

  /** handlers that count how often the dashboard asks for reports */
  function counting(): { handlers: ControlHandlers; asked: () => number } {
    let asked = 0;
    const report = <T>(value: T) => () => (asked++, value);
    const handlers = {
      status: report(status()),
      stats: report({ at: '', routes: [], upstreams: [], rules: [] }),
      connections: report({ connections: [] }),
      errors: report({ errors: [] }),
    } as unknown as ControlHandlers;
    return { handlers, asked: () => asked };
  }

  function page(): { res: ServerResponse; messages: string[]; leave(): void } {
    const messages: string[] = [];
    const res = Object.assign(new EventEmitter(), {
      write: (text: string) => (messages.push(text), true),
      end: () => undefined,
    }) as unknown as ServerResponse;
    return { res, messages, leave: () => void (res as unknown as EventEmitter).emit('close') };
  }

  test('no page, no work; a page gets everything at once, then once a second what changed; when it leaves, the work stops', () => {
    vi.useFakeTimers();
    const { handlers, asked } = counting();
    const feed = new LiveFeed(handlers, new Stats());
    vi.advanceTimersByTime(10_000);
    expect(asked()).toBe(0);
    const p = page();
    feed.listen(p.res, { page: 1, filter: '' });
    expect(feed.listening).toBe(1);
    const events = () => p.messages.filter((m) => m.startsWith('event: sections'));
    expect(events()).toHaveLength(1);
    expect(Object.keys(JSON.parse(events()[0]!.split('data: ')[1]!).sections)).toEqual(['summary', 'routes', 'upstreams', 'groups', 'mirrors', 'rules', 'errors', 'connections']);
    vi.advanceTimersByTime(3_000);
    expect(events()).toHaveLength(4);
    p.leave();
    expect(feed.listening).toBe(0);
    const before = asked();
    vi.advanceTimersByTime(10_000);
    expect(asked()).toBe(before);
  });
});

function status() {
  return { version: '0', pid: 1, startedAt: '', uptimeS: 1, configFile: 'c.yaml', rules: 1, control: 'c.sock', listeners: [], routes: [], upstreams: [], mirrors: [] };
}
