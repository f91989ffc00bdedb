// A connect the host itself refuses is a network condition, class `blocked`, not a bug (issue 17,
// items 6 and 7): a real proxyd, real curl clients, and real refusals from the kernel.
//
// proxyd runs in a network namespace of its own (`unshare -n`) with loopback up and two routes
// of the kinds a firewall or a VPN sets up:
//   - `prohibit 192.0.2.0/24`: connect() fails with EACCES (what SELinux, AppArmor, Landlock
//     also answer);
//   - `blackhole 198.51.100.0/24`: connect() fails with EINVAL, which from connect is the
//     network's answer (unreachable), not a bug.
// EPERM (what seccomp and cgroup BPF filters, systemd's IPAddressDeny among them, answer) is
// injected into the daemon's connect() calls by `strace -e inject=connect:error=EPERM`
// attached to it for that test alone.
// Clients run inside the namespace (`nsenter --net`); proxyctl reaches the control socket, a
// file, from outside.
//
// Needs root (namespaces). Outside CI the file is skipped when `unshare -n` or `ip` is missing;
// the EPERM test is skipped when strace cannot inject faults here.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { Stats } from '../../src/control/api.js';
import { BLOCKED_ADVICE } from '../../src/errors.js';
import { proxyctl, proxyctlJson } from '../fixtures/proxyctl.js';
import { run, type RunResult } from '../fixtures/run.js';
import { followDaemonLog, type DaemonLog, type LogEntry } from '../fixtures/daemon-log.js';

const PROXYD = join(import.meta.dirname, '../../dist/proxyd.js');
const PROHIBITED = '192.0.2.1';
const BLACKHOLED = '198.51.100.1';
/** any address: under strace every connect() fails with EPERM before a route is looked at */
const FILTERED = '203.0.113.7';
const dir = mkdtempSync(join(tmpdir(), 'proxyd-blocked-'));

let skipReason: string | undefined;
let straceMissing: string | undefined;
let daemon: ChildProcess;
let daemonExited: Promise<void>;
let control: string;
let ports: { http: number; socks: number };
let log: DaemonLog | undefined;
const logs = (): LogEntry[] => log?.logs ?? [];

beforeAll(async () => {
  if (!existsSync(PROXYD)) throw new Error('dist/proxyd.js is missing: run `npm run build` (npm test does it first)');
  const probe = await run('unshare', ['-n', 'sh', '-c', 'ip link set lo up && ip route add prohibit 192.0.2.0/24']).catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message }));
  if (probe.code !== 0) {
    const why = `\`unshare -n\` with \`ip route add prohibit\` is not possible here (exit ${probe.code}: ${probe.stderr.trim()}); these tests need a network namespace (root) and iproute2`;
    if (process.env.CI === 'true') throw new Error(`${why}; in CI they may not be skipped`);
    skipReason = `blocked-connect.test.ts skipped: ${why}`;
    console.warn(skipReason);
    return;
  }
  const strace = await run('strace', ['-f', '-qq', '-o', '/dev/null', '-e', 'trace=connect', '-e', 'inject=connect:error=EPERM', 'true']).catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message }));
  if (strace.code !== 0) {
    straceMissing = `strace cannot inject faults here (exit ${strace.code}: ${strace.stderr.trim()})`;
    if (process.env.CI === 'true') throw new Error(`${straceMissing}; in CI the EPERM test may not be skipped (.ci/run installs strace)`);
  }
  await startProxyd();
});

beforeEach((ctx) => {
  if (skipReason) ctx.skip(skipReason);
});

afterAll(async () => {
  if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
    daemon.kill('SIGTERM');
    const timer = setTimeout(() => daemon.kill('SIGKILL'), 5000);
    await daemonExited;
    clearTimeout(timer);
  }
  rmSync(dir, { recursive: true, force: true });
});

test('EACCES (a prohibit route): class blocked at the origin, SOCKS5 0x02, HTTP 502 with the fix in words, a warning without a stack, counted by class', async () => {
  const before = blockedCount(await proxyctlJson(control, ['stats'], Stats));
  const socks = await curlIn(['--socks5-hostname', `127.0.0.1:${ports.socks}`, `http://${PROHIBITED}:80/`]);
  expect(socks.code, socks.stderr).toBe(97); // the proxy refused the connection
  expect(socks.stderr).toContain('(2)'); // 0x02: connection not allowed by ruleset
  const http = await curlIn(['-x', `http://127.0.0.1:${ports.http}`, '-D', '-', `http://${PROHIBITED}:80/`]);
  expect(http.stdout).toMatch(/^HTTP\/1\.1 502 /);
  expect(http.stdout).toMatch(/^x-proxyd-error: blocked\r$/im);
  expect(http.stdout).toContain(`proxyd: connect to ${PROHIBITED}:80: EACCES (${BLOCKED_ADVICE}) (blocked)`);
  const tunnel = await curlIn(['-p', '-x', `http://127.0.0.1:${ports.http}`, '-w', '%{http_connect}', `http://${PROHIBITED}:80/`]);
  expect(tunnel.stdout).toBe('502');

  for (const [inbound, mode] of [['socks5', 'tunnel'], ['http', 'forward'], ['http', 'tunnel']] as const) {
    const line = await logLine(`${PROHIBITED}:80`, inbound, mode);
    expect(line).toMatchObject({ level: 40, error: 'blocked', hop: 'origin', reason: `connect to ${PROHIBITED}:80: EACCES (${BLOCKED_ADVICE})` });
    expect(line.stack).toBeUndefined();
  }
  // counted: stats by class, the Prometheus label, proxyctl's table
  await expect.poll(async () => blockedCount(await proxyctlJson(control, ['stats'], Stats))).toBe(before + 3);
  const metrics = await proxyctl(control, ['metrics']);
  expect(metrics.stdout).toContain(`proxyd_route_errors_total{route="DIRECT",class="blocked"} ${before + 3}`);
  const status = await proxyctl(control, ['status']);
  expect(status.stdout).toMatch(new RegExp(`^DIRECT .*blocked ${before + 3}`, 'm'));
});

test('EINVAL from connect (a blackhole route) is the network\'s answer: unreachable at the origin, SOCKS5 0x04, HTTP 502, not a bug', async () => {
  const socks = await curlIn(['--socks5-hostname', `127.0.0.1:${ports.socks}`, `http://${BLACKHOLED}:80/`]);
  expect(socks.code, socks.stderr).toBe(97);
  expect(socks.stderr).toContain('(4)'); // 0x04: host unreachable
  const http = await curlIn(['-x', `http://127.0.0.1:${ports.http}`, '-D', '-', `http://${BLACKHOLED}:80/`]);
  expect(http.stdout).toMatch(/^HTTP\/1\.1 502 /);
  expect(http.stdout).toContain(`proxyd: connect to ${BLACKHOLED}:80: EINVAL (unreachable)`);
  for (const [inbound, mode] of [['socks5', 'tunnel'], ['http', 'forward']] as const) {
    const line = await logLine(`${BLACKHOLED}:80`, inbound, mode);
    expect(line).toMatchObject({ level: 40, error: 'unreachable', hop: 'origin' });
    expect(line.stack).toBeUndefined();
  }
});

test('EPERM (a seccomp-style filter: strace injects it into connect): class blocked, SOCKS5 0x02, HTTP 502 with the fix in words', async (ctx) => {
  if (straceMissing) ctx.skip(`blocked-connect.test.ts: the EPERM test skipped: ${straceMissing}`);
  const stop = await injectEperm();
  try {
    const socks = await curlIn(['--socks5-hostname', `127.0.0.1:${ports.socks}`, `http://${FILTERED}:80/`]);
    expect(socks.code, socks.stderr).toBe(97);
    expect(socks.stderr).toContain('(2)');
    const http = await curlIn(['-x', `http://127.0.0.1:${ports.http}`, '-D', '-', `http://${FILTERED}:80/`]);
    expect(http.stdout).toMatch(/^HTTP\/1\.1 502 /);
    expect(http.stdout).toMatch(/^x-proxyd-error: blocked\r$/im);
    expect(http.stdout).toContain(`proxyd: connect to ${FILTERED}:80: EPERM (${BLOCKED_ADVICE}) (blocked)`);
  } finally {
    await stop();
  }
  for (const [inbound, mode] of [['socks5', 'tunnel'], ['http', 'forward']] as const) {
    const line = await logLine(`${FILTERED}:80`, inbound, mode);
    expect(line).toMatchObject({ level: 40, error: 'blocked', hop: 'origin', reason: `connect to ${FILTERED}:80: EPERM (${BLOCKED_ADVICE})` });
    expect(line.stack).toBeUndefined();
  }
});

// ---- helpers -------------------------------------------------------------------------------------

const blockedCount = (s: Stats) => s.routes.find((r) => r.name === 'DIRECT')?.errors.blocked ?? 0;

/** curl inside the daemon's network namespace, with no proxy environment leaking in. */
function curlIn(args: string[]): Promise<RunResult> {
  const env = { ...process.env };
  for (const k of ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'all_proxy', 'NO_PROXY', 'no_proxy']) delete env[k];
  return run('nsenter', [`--net=/proc/${daemon.pid}/ns/net`, 'curl', '-sS', '--max-time', '20', ...args], { env });
}

/** The log lines of finished tunnels or requests to `target`, waiting for the newest to be written. */
async function logLine(target: string, inbound: 'http' | 'socks5', mode: 'forward' | 'tunnel'): Promise<Record<string, unknown>> {
  const lines = () => logs().filter((l) => l.target === target && l.inbound === inbound && l.mode === mode);
  await expect.poll(() => lines().length, { timeout: 5000, message: `a log line for ${target} (${inbound}, ${mode}) in:\n${log?.out()}` }).toBeGreaterThan(0);
  return lines().at(-1)!;
}

/** strace attached to the daemon, every connect() of it failing with EPERM until the returned function detaches it. */
async function injectEperm(): Promise<() => Promise<void>> {
  const tracer = spawn('strace', ['-f', '-o', '/dev/null', '-e', 'trace=connect', '-e', 'inject=connect:error=EPERM', '-p', String(daemon.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => tracer.on('exit', () => resolve()));
  let said = '';
  const attached = new Promise<void>((resolve) => tracer.stderr!.on('data', (c: Buffer) => {
    said += c;
    if (said.includes(`Process ${daemon.pid} attached`)) resolve();
  }));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`strace did not attach within 10 s: ${said}`)), 10_000)));
  try {
    await Promise.race([attached, late, exited.then(() => { throw new Error(`strace exited ${tracer.exitCode ?? tracer.signalCode}: ${said}`); })]);
  } finally {
    clearTimeout(timer);
  }
  return async () => {
    tracer.kill('SIGTERM'); // strace detaches; the daemon goes on untraced
    await exited;
  };
}

/**
 * proxyd in a network namespace of its own, loopback up, with a prohibit and a blackhole route:
 * `unshare -n` execs the shell, which execs node, so the daemon keeps the child's pid.
 */
async function startProxyd(): Promise<void> {
  control = join(dir, 'control', 'control.sock');
  const config = join(dir, 'config.yaml');
  writeFileSync(config, [
    'listen: { socks: 127.0.0.1:0, http: 127.0.0.1:0 }',
    `control: ${control}`,
    'log: { level: info }',
    'limits: { drain-timeout: 1s }',
    'rules:',
    '  - MATCH,DIRECT',
    '',
  ].join('\n'));
  const script = 'ip link set lo up && ip route add prohibit 192.0.2.0/24 && ip route add blackhole 198.51.100.0/24 && exec "$1" "$2" --config "$3"';
  daemon = spawn('unshare', ['-n', '--', 'sh', '-c', script, 'sh', process.execPath, PROXYD, config], { stdio: ['ignore', 'pipe', 'pipe'] });
  daemonExited = new Promise((resolve) => daemon.on('exit', () => resolve()));
  log = followDaemonLog(daemon);
  const found = await log.started;
  ports = { http: found.http!, socks: found.socks! };
}
