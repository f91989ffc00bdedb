// The control socket through the real proxyctl: figures after real traffic, route explanations,
// reloads (with a 100 MB transfer running), connections, checks, /metrics through promtool,
// the socket's permissions, and the exit code when no daemon answers.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { Closed, Connections, Health, HealthGroup, Reload, RouteExplanation, Stats, Status } from '../../src/control/api.js';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { startHttpOrigin, type Origin } from '../fixtures/origin.js';
import { PROXYCTL, proxyctl, proxyctlJson } from '../fixtures/proxyctl.js';
import { curl, run } from '../fixtures/run.js';

let origin: Origin;
/** answers after holding its response head for 100 ms */
let slow: Server;
let slowPort: number;
let d: TestDaemon | undefined;

beforeAll(async () => {
  origin = await startHttpOrigin();
  slow = createServer((_req, res) => void setTimeout(() => res.end('slow hello'), 100));
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  slowPort = (slow.address() as AddressInfo).port;
});
afterAll(async () => {
  await origin.close();
  slow.closeAllConnections();
  slow.close();
});
afterEach(async () => {
  await d?.stop({ now: true });
  d = undefined;
});

const CONFIG = `hosts: { slow.test: 127.0.0.1, fast.test: 127.0.0.1 }
groups:
  - { name: slow-out, type: fallback, members: [DIRECT], check: { interval: 1h } }
rules:
  - DOMAIN,slow.test,slow-out
  - MATCH,DIRECT
`;

const control = () => d!.controlPath!;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const logsOf = (route: string) => d!.logs.filter((l) => l.msg === 'connection' || l.msg === 'request').filter((l) => String(l.route).split('/')[0] === route);

describe('figures after real traffic', () => {
  test('status and stats count every connection exactly, and time to first byte tells a 100 ms origin from a fast one', async () => {
    d = await startTestDaemon(CONFIG);
    const viaHttp = (host: string, port: number, path: string) => curl(['-x', `http://127.0.0.1:${d!.httpPort}`, `http://${host}:${port}${path}`]);
    const viaSocks = (host: string, port: number, path: string) => curl(['--socks5-hostname', `127.0.0.1:${d!.socksPort}`, `http://${host}:${port}${path}`]);
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await viaHttp('slow.test', slowPort, '/'));
    for (let i = 0; i < 2; i++) answers.push(await viaSocks('slow.test', slowPort, '/'));
    for (let i = 0; i < 4; i++) answers.push(await viaHttp('fast.test', origin.port, '/hello'));
    for (let i = 0; i < 3; i++) answers.push(await viaSocks('fast.test', origin.port, '/hello'));
    expect(answers.map((a) => a.stdout)).toEqual([...Array(5).fill('slow hello'), ...Array(7).fill('hello from origin')]);
    await expect.poll(() => logsOf('slow-out').length + logsOf('DIRECT').length).toBe(12);

    const status = await proxyctlJson(control(), ['status'], Status);
    expect(status).toMatchObject({ pid: process.pid, configFile: d.config.file, rules: 2, control: control() });
    expect(status.listeners.map((l) => l.name)).toEqual(['socks', 'http']);
    const route = (name: string) => status.routes.find((r) => r.name === name)!;
    expect(status.routes.map((r) => r.name)).toEqual(['DIRECT', 'slow-out']);
    for (const [name, n] of [['slow-out', 5], ['DIRECT', 7]] as const) {
      const r = route(name);
      expect(r).toMatchObject({ connections: n, active: 0 });
      expect(Object.values(r.errors).filter((e) => e > 0)).toEqual([]);
      expect(r.connectMs.lifetime.count).toBe(n);
      expect(r.ttfbMs.lifetime.count).toBe(n);
      expect(r.ttfbMs.recent.count).toBe(n);
      expect(r.bytesDown).toBe(sum(logsOf(name).map((l) => Number(l.down))));
      expect(r.bytesUp).toBe(sum(logsOf(name).map((l) => Number(l.up))));
    }
    expect(route('slow-out').bytesDown).toBeGreaterThan(5 * 'slow hello'.length);
    expect(route('slow-out').ttfbMs.lifetime.p50).toBeGreaterThanOrEqual(100);
    expect(route('slow-out').ttfbMs.recent.p50).toBeGreaterThanOrEqual(100);
    expect(route('DIRECT').ttfbMs.lifetime.p50).toBeLessThan(20);
    expect(route('DIRECT').ttfbMs.lifetime.p99).toBeLessThan(100);

    const stats = await proxyctlJson(control(), ['stats'], Stats);
    expect(stats.rules).toEqual([
      { index: 0, rule: 'DOMAIN,slow.test,slow-out', target: 'slow-out', hits: 5 },
      { index: 1, rule: 'MATCH,DIRECT', target: 'DIRECT', hits: 7 },
    ]);
    // the group's member carried the group's five
    expect(stats.upstreams.map((u) => [u.name, u.connections, u.ttfbMs.lifetime.count])).toEqual([['DIRECT', 5, 5]]);
    const slowBuckets = stats.routes.find((r) => r.name === 'slow-out')!.ttfbBuckets;
    expect(sum(slowBuckets.map(([, n]) => n))).toBe(5);
    expect(Math.min(...slowBuckets.map(([le]) => le))).toBeGreaterThanOrEqual(100);

    // the human table: a row per route with its percentiles
    const text = await proxyctl(control(), ['status']);
    expect(text.code).toBe(0);
    const row = text.stdout.split('\n').find((l) => l.startsWith('slow-out'))!;
    expect(row.split(/\s{2,}/).slice(0, 4)).toEqual(['slow-out', '5', '0', '-']);
    expect(Number(row.split(/\s{2,}/)[7])).toBeGreaterThanOrEqual(100); // TTFB p50, ms
  });

  test('/metrics passes promtool, Prometheus\'s own strict parser, and carries the same counts', async () => {
    d = await startTestDaemon(CONFIG);
    for (let i = 0; i < 3; i++) await curl(['-x', `http://127.0.0.1:${d.httpPort}`, `http://slow.test:${slowPort}/`]);
    await curl(['-x', `http://127.0.0.1:${d.httpPort}`, `http://127.0.0.1:1/`]); // refused: an error of class `refused`
    await expect.poll(() => d!.logs.filter((l) => l.msg === 'request').length).toBe(4);
    const r = await proxyctl(control(), ['metrics']);
    expect(r.code).toBe(0);
    const promtool = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let said = '';
    promtool.stdout.on('data', (c) => (said += c));
    promtool.stderr.on('data', (c) => (said += c));
    promtool.stdin.end(r.stdout);
    const [code] = await once(promtool, 'exit');
    expect({ code, said }).toEqual({ code: 0, said: '' });
    const value = (sample: string) => Number(r.stdout.split('\n').find((l) => l.startsWith(`${sample} `))?.split(' ')[1]);
    expect(value('proxyd_route_connections_total{route="slow-out"}')).toBe(3);
    expect(value('proxyd_route_connections_total{route="DIRECT"}')).toBe(1);
    expect(value('proxyd_route_errors_total{route="DIRECT",class="refused"}')).toBe(1);
    expect(value('proxyd_route_ttfb_seconds_count{route="slow-out"}')).toBe(3);
    expect(value('proxyd_route_ttfb_seconds_bucket{route="slow-out",le="0.065536"}')).toBe(0);
    expect(value('proxyd_route_ttfb_seconds_bucket{route="slow-out",le="+Inf"}')).toBe(3);
    expect(value('proxyd_rule_hits_total{index="0",rule="DOMAIN,slow.test,slow-out",target="slow-out"}')).toBe(3);
    // no two samples share a name and labels
    const samples = r.stdout.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.slice(0, l.lastIndexOf(' ')));
    expect(new Set(samples).size).toBe(samples.length);
  });
});

describe('stats --watch', () => {
  test('draws a frame per interval with a sparkline per route; with --json, one checked document per line', async () => {
    d = await startTestDaemon(CONFIG);
    for (let i = 0; i < 3; i++) await curl(['-x', `http://127.0.0.1:${d.httpPort}`, `http://fast.test:${origin.port}/hello`]);
    await expect.poll(() => logsOf('DIRECT').length).toBe(3);
    const text = await proxyctl(control(), ['stats', '--watch', '--count', '3', '--interval', '0.2']);
    expect(text.code, text.stderr).toBe(0);
    const frames = text.stdout.split(/^proxyd stats {2}/m).slice(1);
    expect(frames).toHaveLength(3);
    for (const frame of frames) {
      const row = frame.split('\n').find((l) => l.startsWith('DIRECT '))!;
      expect(row).toMatch(/[▁▂▃▄▅▆▇█]/); // the sparkline of its time to first byte
    }
    expect(text.stdout).not.toContain('\x1b['); // not a terminal: no escapes, frames one after another
    const json = await proxyctl(control(), ['stats', '--watch', '--count', '2', '--interval', '0.2', '--json']);
    const docs = json.stdout.trim().split('\n').map((l) => Stats.parse(JSON.parse(l)));
    expect(docs.map((doc) => doc.routes.find((r) => r.name === 'DIRECT')!.connections)).toEqual([3, 3]);
  });
});

describe('route', () => {
  test('explains each rule kind: the rule that matched, why the earlier ones did not, and the addresses used', async () => {
    d = await startTestDaemon(`hosts: { corp.test: 10.1.2.3, pub.test: 198.51.100.7 }
rule-sets: { internal: internal.txt }
rules:
  - DOMAIN,exact.test,REJECT
  - DOMAIN-SUFFIX,suffix.test,DIRECT
  - DOMAIN-KEYWORD,kw,REJECT
  - DOMAIN-WILDCARD,w?.wild.test,DIRECT
  - IP-CIDR,192.0.2.0/24,REJECT,no-resolve
  - RULE-SET,internal,DIRECT
  - IP-CIDR,10.0.0.0/8,DIRECT
  - IP-CIDR6,2001:db8::/32,REJECT
  - DST-PORT,2222,REJECT
  - MATCH,DIRECT
`, { 'internal.txt': '+.internal.test\n' });
    const explain = (target: string) => proxyctlJson(control(), ['route', target], RouteExplanation);
    const cases: Array<[string, string, number]> = [
      ['exact.test', 'DOMAIN,exact.test,REJECT', 0],
      ['a.suffix.test:80', 'DOMAIN-SUFFIX,suffix.test,DIRECT', 1],
      ['mykwhost.test', 'DOMAIN-KEYWORD,kw,REJECT', 2],
      ['w1.wild.test', 'DOMAIN-WILDCARD,w?.wild.test,DIRECT', 3],
      ['192.0.2.9:80', 'IP-CIDR,192.0.2.0/24,REJECT,no-resolve', 4],
      ['git.internal.test', 'RULE-SET,internal,DIRECT', 5],
      ['corp.test', 'IP-CIDR,10.0.0.0/8,DIRECT', 6],
      ['[2001:db8::5]:443', 'IP-CIDR6,2001:db8::/32,REJECT', 7],
      ['pub.test:2222', 'DST-PORT,2222,REJECT', 8],
      ['pub.test', 'MATCH,DIRECT', 9],
    ];
    for (const [target, rule, index] of cases) {
      const e = await explain(target);
      expect({ target, rule: e.rule, index: e.index, tried: e.tried.map((t) => t.index) }).toEqual({ target, rule, index, tried: [...Array(index).keys()] });
    }
    const corp = await explain('corp.test');
    expect(corp).toMatchObject({ target: 'corp.test:443', route: 'DIRECT', kind: 'direct', resolved: ['10.1.2.3'], addresses: ['10.1.2.3'] });
    expect(corp.tried.map((t) => t.reason)).toEqual([
      'corp.test is not exact.test',
      'corp.test is not suffix.test or below it',
      'corp.test does not contain "kw"',
      'corp.test does not match w?.wild.test',
      'IP rule skipped: no-resolve (corp.test is a name)',
      expect.stringContaining('no entry of rule set internal'),
    ]);
    const human = await proxyctl(control(), ['route', 'corp.test']);
    expect(human.stdout.split('\n').slice(0, 2)).toEqual(['corp.test:443 → DIRECT (direct)', '  matched rule 7: IP-CIDR,10.0.0.0/8,DIRECT']);
    expect(human.stdout).toContain('IP rule skipped: no-resolve (corp.test is a name)');
    expect(human.stdout).toContain('addresses: 10.1.2.3');
    const bad = await proxyctl(control(), ['route', 'no such host']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('proxyctl: route: "no such host" is not HOST[:PORT]\n');
  });
});

describe('reload through proxyctl', () => {
  const MB100 = 100 * 1024 * 1024;

  test('a 100 MB transfer survives a reload; a bad config is refused with FILE:LINE:COL while traffic goes on', async () => {
    d = await startTestDaemon('rules:\n  - MATCH,DIRECT\n');
    const file = d.config.file;
    const head = `control: ${control()}\nlisten: { socks: 127.0.0.1:0, http: 127.0.0.1:0 }\n`;
    const big = `http://127.0.0.1:${origin.port}/big?n=${MB100}`;
    const download = curl(['--socks5', `127.0.0.1:${d.socksPort}`, '--limit-rate', '40M', '-o', '/dev/null', '-w', '%{size_download}', big]);
    await expect.poll(() => origin.seen.some((s) => s.url === `/big?n=${MB100}`), { timeout: 5000 }).toBe(true);

    writeFileSync(file, `${head}rules:\n  - DOMAIN,blocked.test,REJECT\n  - MATCH,DIRECT\n`);
    const dry = await proxyctlJson(control(), ['reload', '--dry-run'], Reload);
    expect(dry).toEqual({ ok: true, dryRun: true, file, errors: [], changes: ['rules: 1 → 2', '  + DOMAIN,blocked.test,REJECT'] });
    expect(d.config.rules).toEqual(['MATCH,DIRECT']); // a dry run changes nothing
    const done = await proxyctl(control(), ['reload']);
    expect(done).toMatchObject({ code: 0, stdout: `reloaded ${file}:\n  rules: 1 → 2\n    + DOMAIN,blocked.test,REJECT\n` });
    const blocked = await curl(['-x', `http://127.0.0.1:${d.httpPort}`, '-o', '/dev/null', '-w', '%{http_code}', 'http://blocked.test/']);
    expect(blocked.stdout).toBe('403');

    writeFileSync(file, `${head}rules:\n  - DOMAIN,blocked.test,NOWHERE\n`);
    const refused = await proxyctl(control(), ['reload']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe(`${file}:4:25 unknown target "NOWHERE" (known: DIRECT, REJECT)\nreload refused: 1 error(s) in ${file}; the running config stays\n`);
    const refusedJson = await proxyctl(control(), ['reload', '--json']);
    expect(refusedJson.code).toBe(1);
    expect(Reload.parse(JSON.parse(refusedJson.stdout))).toMatchObject({ ok: false, errors: [{ file, line: 4, col: 25 }] });
    expect((await curl(['-x', `http://127.0.0.1:${d.httpPort}`, '-o', '/dev/null', '-w', '%{http_code}', 'http://blocked.test/'])).stdout).toBe('403');

    expect((await download).stdout).toBe(String(MB100)); // the transfer ran to its end through both reloads
  });

  test('a changed listener address is bound anew; the other listener and a tunnel open on the old address go on', async () => {
    d = await startTestDaemon('rules:\n  - MATCH,DIRECT\n');
    const [oldHttp, socks] = [d.httpPort, d.socksPort];
    const tunnel = connect(oldHttp, '127.0.0.1');
    await once(tunnel, 'connect');
    tunnel.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await once(tunnel, 'data');
    const newHttp = await freePort();
    writeFileSync(d.config.file, `control: ${control()}\nlisten: { socks: 127.0.0.1:0, http: 127.0.0.1:${newHttp} }\nrules:\n  - MATCH,DIRECT\n`);
    const r = await proxyctlJson(control(), ['reload'], Reload);
    expect(r.changes).toEqual([`listen.http: 127.0.0.1:0 → 127.0.0.1:${newHttp}`]);
    const hello = (port: number) => curl(['-x', `http://127.0.0.1:${port}`, `http://127.0.0.1:${origin.port}/hello`]);
    expect((await hello(newHttp)).stdout).toBe('hello from origin');
    expect((await hello(oldHttp)).code).toBe(7); // curl: failed to connect: the old address is closed
    expect((await hello(socks)).stdout).toBe('hello from origin'); // the other listener, untouched
    expect(d.addresses).toMatchObject({ http: { port: newHttp }, socks: { port: socks } });
    const status = await proxyctlJson(control(), ['status'], Status);
    expect(status.listeners).toEqual([
      { name: 'socks', address: `127.0.0.1:${socks}`, connections: expect.any(Number) },
      { name: 'http', address: `127.0.0.1:${newHttp}`, connections: expect.any(Number) },
    ]);
    // the tunnel opened before the reload still carries bytes both ways
    let got = '';
    tunnel.on('data', (c) => (got += c));
    tunnel.write('GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await once(tunnel, 'close');
    expect(got).toContain('hello from origin');
  });
});

describe('connections, checks and health', () => {
  test('connections lists an open tunnel, --close ends it; check runs a group\'s checks now; upstreams and mirrors answer', async () => {
    d = await startTestDaemon(CONFIG);
    const tunnel = connect(d.httpPort, '127.0.0.1');
    await once(tunnel, 'connect');
    tunnel.write(`CONNECT fast.test:${origin.port} HTTP/1.1\r\nHost: fast.test\r\n\r\n`);
    await once(tunnel, 'data');
    const list = await proxyctlJson(control(), ['connections'], Connections);
    expect(list.connections).toEqual([expect.objectContaining({ inbound: 'http', mode: 'tunnel', target: `fast.test:${origin.port}`, route: 'DIRECT', rule: 'MATCH,DIRECT' })]);
    const id = list.connections[0]!.id;
    const closing = once(tunnel, 'close');
    expect(await proxyctlJson(control(), ['connections', '--close', String(id)], Closed)).toEqual({ closed: id });
    await closing;
    await expect.poll(() => d!.logs.find((l) => l.id === id)).toMatchObject({ error: 'reset', hop: 'proxyd', reason: 'closed by proxyctl connections --close' });
    expect((await proxyctlJson(control(), ['connections'], Connections)).connections).toEqual([]);
    const again = await proxyctl(control(), ['connections', '--close', String(id)]);
    expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 1, stderr: `proxyctl: no open connection #${id}\n` });

    const checked = await proxyctlJson(control(), ['check', 'slow-out'], HealthGroup);
    expect(checked).toMatchObject({ name: 'slow-out', type: 'fallback', current: 'DIRECT', members: [{ name: 'DIRECT', status: 'up' }] });
    const unknown = await proxyctl(control(), ['check', 'nope']);
    expect({ code: unknown.code, stderr: unknown.stderr }).toEqual({ code: 1, stderr: 'proxyctl: no group or mirror named "nope"\n' });
    expect((await proxyctlJson(control(), ['upstreams'], Health)).groups.map((g) => g.name)).toEqual(['slow-out']);
    expect(await proxyctlJson(control(), ['mirrors'], Health)).toEqual({ groups: [] });
  });
});

describe('the socket', () => {
  test('mode 0600 in a directory only its owner may enter; removed when the daemon stops', async () => {
    d = await startTestDaemon(CONFIG);
    const path = control();
    expect((statSync(path).mode & 0o777).toString(8)).toBe('600');
    expect((statSync(dirname(path)).mode & 0o777).toString(8)).toBe('700');
    expect(statSync(path).isSocket()).toBe(true);
    expect(readdirSync(dirname(path))).toEqual(['control.sock']); // nothing left of how it was put there
    await d.stop();
    d = undefined;
    expect(() => statSync(path)).toThrow(/ENOENT/);
  });

  test('a second daemon on the same socket is refused while the first answers', async () => {
    d = await startTestDaemon(CONFIG);
    await expect(startTestDaemon(`control: ${control()}\n${CONFIG}`)).rejects.toThrow(`another proxyd is running: its control socket ${control()} answers`);
    expect((await proxyctl(control(), ['status'])).code).toBe(0);
  });

  test('no daemon: one line and exit 3, with --control, PROXYD_CONTROL, or the default places', async () => {
    const missing = join(dirname(process.env.XDG_RUNTIME_DIR!), 'no-proxyd-here.sock');
    const flag = await proxyctl(missing, ['status']);
    expect({ code: flag.code, stderr: flag.stderr, stdout: flag.stdout }).toEqual({ code: 3, stderr: `proxyctl: cannot reach proxyd: no daemon answers at ${missing} (no socket)\n`, stdout: '' });
    const env = await proxyctl(undefined, ['stats', '--json'], { ...process.env, PROXYD_CONTROL: missing });
    expect({ code: env.code, stderr: env.stderr }).toEqual({ code: 3, stderr: `proxyctl: cannot reach proxyd: no daemon answers at ${missing} (no socket)\n` });
    const auto = await proxyctl(undefined, ['route', 'github.com']);
    expect(auto.code).toBe(3);
    expect(auto.stderr).toBe(`proxyctl: cannot reach proxyd: no daemon answers at ${process.env.XDG_RUNTIME_DIR}/proxyd/control.sock (no socket), /run/proxyd/control.sock (no socket)\n`);
  });

  // dropping to `nobody` takes root: CI runs as root; a developer's own account skips it
  test.runIf(process.getuid?.() === 0 || process.env.CI === 'true')('a socket that refuses the caller: "permission denied", not exit 3', async () => {
    d = await startTestDaemon(CONFIG);
    expect(process.getuid?.()).toBe(0);
    const r = await proxyctlAs('nobody', control());
    expect(r).toEqual({ code: 4, stderr: `proxyctl: permission denied on the control socket ${control()}: it belongs to another user\n` });
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createNetServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** proxyctl run as another user (setpriv from util-linux) */
async function proxyctlAs(user: string, path: string): Promise<{ code: number; stderr: string }> {
  const r = await run('setpriv', ['--reuid', user, '--regid', 'nogroup', '--clear-groups', process.execPath, PROXYCTL, '--control', path, 'status']);
  return { code: r.code, stderr: r.stderr };
}
