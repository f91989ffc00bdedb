// proxyctl doctor on loopback, through the real proxyctl and a daemon in this process: the exit
// code (0 when every target's route today works, 1 otherwise), --json against its schema, a bad
// target, the bound of 16 probes at once (counted at the server they connect to) and the run's
// deadline. The network lab (test/e2e/doctor-lab.test.ts) covers what each route sees.
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DoctorReport } from '../../src/control/api.js';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { proxyctl } from '../fixtures/proxyctl.js';

/**
 * A port that accepts and holds every connection until the client closes it, and keeps when each
 * was open. The server learns of a close a moment after the client made it, and the client may
 * already have opened the next connection by then: overlaps of less than CLOSE_LAG_MS are that.
 */
interface CountingServer {
  port: number;
  accepted: number;
  /** the most connections open at once (held for longer than CLOSE_LAG_MS together) since `since` */
  maxOpen(since: number): number;
  close(): Promise<void>;
}

const CLOSE_LAG_MS = 100;

async function startCountingServer(): Promise<CountingServer> {
  const sockets = new Set<Socket>();
  const spans: Array<{ from: number; to: number }> = [];
  const server: Server = createServer((socket) => {
    const span = { from: performance.now(), to: Infinity };
    spans.push(span);
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => { span.to = performance.now(); sockets.delete(socket); });
  });
  server.listen(0, '0.0.0.0'); // every 127.x address reaches it
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    get accepted() { return spans.length; },
    maxOpen: (since) => {
      const events = spans.filter((s) => s.from >= since).flatMap((s) => [[s.from, 1], [s.to - CLOSE_LAG_MS, -1]] as const);
      events.sort((a, b) => a[0] - b[0] || a[1] - b[1]); // a close before an open at the same moment
      let open = 0;
      let max = 0;
      for (const [, step] of events) max = Math.max(max, (open += step));
      return max;
    },
    close: () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/** a loopback port with nothing listening */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let daemon: TestDaemon;
let holder: CountingServer;
/** as a user without settings of their own: the settings audit after the probes reads an empty home, and no proxy variable */
const user = { PATH: process.env.PATH, HOME: mkdtempSync(join(tmpdir(), 'proxyd-doctor-home-')) };
const doctor = (args: string[]) => proxyctl(daemon.controlPath!, ['doctor', ...args], user);

beforeAll(async () => {
  daemon = await startTestDaemon('rules:\n  - MATCH,DIRECT\n');
  holder = await startCountingServer();
});

afterAll(async () => {
  await daemon?.stop({ now: true });
  await holder?.close();
});

function parse(stdout: string): DoctorReport {
  const checked = DoctorReport.safeParse(JSON.parse(stdout));
  if (!checked.success) throw new Error(`doctor --json is not a DoctorReport: ${checked.error.message}`);
  return checked.data;
}

describe('exit code and --json', () => {
  test('an open port: exit 0, a report of the schema that says open through DIRECT, with the rule', async () => {
    const r = await doctor([ `127.0.0.1:${holder.port}`, '--timeout', '2', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = parse(r.stdout);
    expect(report.ok).toBe(true);
    const [t] = report.targets;
    expect(t).toMatchObject({ target: `127.0.0.1:${holder.port}`, source: 'given', https: false, ok: true, today: { by: 'rule', route: 'DIRECT', rule: 'MATCH,DIRECT', works: true } });
    expect(t!.dns).toBeUndefined(); // an address needs no lookup
    expect(t!.routes).toEqual([expect.objectContaining({ route: 'DIRECT', state: 'open', works: true, address: '127.0.0.1' })]);
    expect(t!.verdict).toMatch(new RegExp(`^127\\.0\\.0\\.1:${holder.port}  DIRECT open [\\d.]+ ms · rule MATCH → DIRECT \\(ok\\)$`));
    expect(t!.fixes).toEqual([]);
  });

  test('a refused port: exit 1, the verdict says refused, and the human text has the verdict and a fix', async () => {
    const port = await closedPort();
    const json = await doctor([ `127.0.0.1:${port}`, '--json']);
    expect(json.code).toBe(1);
    const [t] = parse(json.stdout).targets;
    expect(t).toMatchObject({ ok: false, routes: [{ route: 'DIRECT', state: 'refused', summary: 'refused (RST)', works: false, error: { class: 'refused', hop: 'origin' } }] });
    expect(t!.fixes.length).toBeGreaterThan(0);
    const human = await doctor([ `127.0.0.1:${port}`]);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain(`127.0.0.1:${port}  DIRECT refused (RST) · rule MATCH → DIRECT (fails)`);
    expect(human.stdout).toContain(`\n    fix  127.0.0.1 refuses port ${port} on every route: nothing listens there (is the port right, is the service up?)\n`);
    expect(human.stdout).toMatch(/1 target\(s\): 0 ok, 1 without a working route today/);
  });

  test('a server that does not speak TLS where TLS is expected (SSH on an https URL): open, but it does not speak TLS', async () => {
    const ssh = createServer((s) => void s.on('error', () => undefined).write('SSH-2.0-test\r\n')).listen(0, '127.0.0.1');
    await once(ssh, 'listening');
    const url = `https://127.0.0.1:${(ssh.address() as AddressInfo).port}/`;
    try {
      const r = await doctor([url, '--timeout', '2', '--json']);
      expect(r.code).toBe(1);
      expect(parse(r.stdout).targets[0]).toMatchObject({ target: url, https: true, routes: [{ route: 'DIRECT', state: 'failed', summary: 'open, but the server does not speak TLS', works: false }] });
    } finally {
      ssh.close();
    }
  });

  test('a target that is not HOST[:PORT] is refused with exit 1 and says so; so is a timeout out of range', async () => {
    const bad = await doctor([ 'no such host']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('proxyctl: doctor: "no such host" is not HOST[:PORT] or an http:// or https:// URL\n');
    const slow = await doctor([ '127.0.0.1:1', '--timeout', '600']);
    expect(slow.code).toBe(1);
    expect(slow.stderr).toBe('proxyctl: doctor: the timeout must be from 100 to 60000 ms (got 600000)\n');
  });
});

describe('bounds', () => {
  // 40 targets (127.0.0.2 … 127.0.0.41, one port): each probe holds its connection for the second
  // doctor watches a plain TCP port for a banner, so probes overlap for as long as slots allow
  const targets = (n: number) => Array.from({ length: n }, (_, i) => `127.0.0.${i + 2}:${holder.port}`);

  test('at most 16 probes at once: 40 targets never hold more than 16 connections at the server, and all are probed', async () => {
    const since = performance.now();
    const before = holder.accepted;
    const r = await doctor([ ...targets(40), '--json']);
    expect(r.code).toBe(0);
    const report = parse(r.stdout);
    expect(report.targets).toHaveLength(40);
    expect(report.targets.every((t) => t.routes[0]?.state === 'open')).toBe(true);
    expect(holder.accepted - before).toBe(40);
    expect(holder.maxOpen(since)).toBe(16);
  });

  test('the run ends at its deadline: probes not started by then are skipped, and the report still comes', async () => {
    const started = Date.now();
    const r = await doctor([ ...targets(40), '--deadline', '1', '--json']);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.code).toBe(1);
    const report = parse(r.stdout);
    expect(report.deadlineMs).toBe(1000);
    const states = report.targets.map((t) => t.routes[0]?.state);
    expect(states.filter((s) => s === 'skipped').length).toBeGreaterThanOrEqual(40 - 2 * 16);
    expect(states.filter((s) => s === 'open').length).toBeGreaterThan(0);
    const skipped = report.targets.find((t) => t.routes[0]?.state === 'skipped')!;
    expect(skipped.routes[0]!.summary).toBe("not probed: the run's deadline passed first");
  });
});
