// What a local user can do through the control sockets. The system service's status.sock is open
// to everyone: a flood of it under a small open-file limit, by another user, must leave the proxy
// listeners and control.sock answering, be logged once, and drain by the request deadline; each
// socket holds a bounded number of connections, for a bounded time. And the socket's directory
// must be the daemon user's alone, or a link swapped in could turn proxyd's own steps on a file
// of the attacker's choosing, or keep proxyd from starting.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, existsSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { Connections, Health, Reload, RouteExplanation, Stats, Status } from '../../src/control/api.js';
import { CONTROL_BOUNDS, type ControlBounds } from '../../src/control/bounds.js';
import { startControlServer, type ControlHandlers, type ControlServer } from '../../src/control/server.js';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { capturingLogger } from '../fixtures/logger.js';
import { startHttpOrigin, type Origin } from '../fixtures/origin.js';
import { proxyctl } from '../fixtures/proxyctl.js';
import { curl, run } from '../fixtures/run.js';

const PROXYD = join(import.meta.dirname, '../../dist/proxyd.js');
const CONFIG = 'rules:\n  - MATCH,DIRECT\n';
const scratch = mkdtempSync(join(tmpdir(), 'proxyd-control-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** the log lines that say a control socket refused connections at its cap */
const refusals = (logs: Array<Record<string, unknown>>, socket: string) => logs.filter((l) => l.control === socket && typeof l.refused === 'number');

describe('a flood of status.sock by another user, under an open-file limit of 256', () => {
  let origin: Origin;
  let daemon: Namespaced | undefined;
  let attacker: Attacker | undefined;
  let skipReason: string | undefined;

  beforeAll(async () => {
    if (!existsSync(PROXYD)) throw new Error('dist/proxyd.js is missing: run `npm run build` (npm test does it first)');
    const probe = await run('unshare', ['-m', 'true']).catch((e: Error) => ({ code: -1, stderr: e.message }));
    if (probe.code !== 0) {
      skipReason = `needs root for a private mount namespace (unshare -m: ${probe.stderr.trim()})`;
      if (process.env.CI === 'true') throw new Error(skipReason);
    }
    origin = await startHttpOrigin();
  });
  afterAll(async () => {
    attacker?.child.kill('SIGKILL');
    if (daemon) await stop(daemon.child);
    await origin?.close();
  });

  test('the proxy listeners and control.sock keep answering, the cap is logged once, and the flood drains by the request deadline', async (ctx) => {
    if (skipReason) return ctx.skip(skipReason);
    daemon = await startNamespaced(256);
    const { pid } = daemon;
    const inside = (path: string) => `/proc/${pid}/root${path}`; // the daemon's /run, seen from here
    expect((statSync(inside('/run/proxyd')).mode & 0o7777).toString(8)).toBe('755');
    expect((statSync(inside('/run/proxyd/control.sock')).mode & 0o777).toString(8)).toBe('660');
    expect((statSync(inside('/run/proxyd/status.sock')).mode & 0o777).toString(8)).toBe('666');

    attacker = await flood(pid, '/run/proxyd/status.sock', 300);

    const proxied = await curl(['-x', `http://127.0.0.1:${daemon.http}`, `http://127.0.0.1:${origin.port}/hello`]);
    expect(proxied, 'the HTTP listener answers through the flood').toMatchObject({ code: 0, stdout: 'hello from origin' });
    const socks = await curl(['--socks5', `127.0.0.1:${daemon.socks}`, `http://127.0.0.1:${origin.port}/hello`]);
    expect(socks, 'the SOCKS listener answers through the flood').toMatchObject({ code: 0, stdout: 'hello from origin' });
    const status = await proxyctl(inside('/run/proxyd/control.sock'), ['status', '--json']);
    expect(status.code, `control.sock answers through the flood: ${status.stderr}`).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ pid });
    expect(await attacker.open(), 'status.sock holds its cap, and no more, while the others answer').toBe(CONTROL_BOUNDS.maxConnections);
    await expect.poll(() => refusals(daemon!.logs, '/run/proxyd/status.sock')).toEqual([
      expect.objectContaining({ level: 40, refused: 1, maxConnections: CONTROL_BOUNDS.maxConnections, msg: expect.stringContaining('it holds at most 32 at once') }),
    ]);

    // idle connections are closed by the request deadline: status.sock serves others again
    await within(CONTROL_BOUNDS.requestTimeoutMs + 3_000, attacker.drained, 'the idle connections are closed');
    expect((await get(inside('/run/proxyd/status.sock'), '/status')).status).toBe(200);
  });
});

describe('each control socket', () => {
  let server: ControlServer | undefined;
  const held: Socket[] = [];
  afterEach(async () => {
    for (const s of held.splice(0)) s.destroy();
    await server?.close();
    server = undefined;
  });

  const start = async (bounds: Partial<ControlBounds>, handlers: Partial<ControlHandlers> = {}) => {
    const { log, lines } = capturingLogger();
    const path = join(mkdtempSync(join(scratch, 'own-')), 'control', 'control.sock');
    server = await startControlServer(path, { ...fakeHandlers, ...handlers }, log, { ...CONTROL_BOUNDS, ...bounds });
    return { path, lines };
  };
  const hold = async (path: string) => {
    const s = connect(path);
    s.on('error', () => undefined);
    s.resume(); // what it is sent is read and dropped, so that its end is seen
    held.push(s);
    await once(s, 'connect');
    return s;
  };

  test('holds at most maxConnections: the next is closed at once and logged once; a freed place serves again', async () => {
    const { path, lines } = await start({ maxConnections: 4 });
    const four = await Promise.all([0, 1, 2, 3].map(() => hold(path)));
    const refused = await Promise.all([0, 1, 2].map(async () => {
      const s = await hold(path);
      await within(3_000, closed(s), 'a connection over the cap is closed');
      return s.bytesRead;
    }));
    expect(refused).toEqual([0, 0, 0]);
    await expect.poll(() => refusals(lines, path)).toHaveLength(1);
    expect(refusals(lines, path)[0]).toMatchObject({ refused: 1, maxConnections: 4 });
    const freed = closed(four[0]!);
    four[0]!.destroy();
    await freed;
    expect((await get(path, '/status')).status).toBe(200);
  });

  test('closes a connection that sends no complete request within the deadline, whether silent or trickling', async () => {
    const { path } = await start({ requestTimeoutMs: 300 });
    const silent = await hold(path);
    const trickling = await hold(path);
    trickling.write('GET /status HTTP/1.1\r\n');
    const timer = setInterval(() => trickling.writable && trickling.write('X-Slow: 1\r\n'), 50);
    try {
      const t0 = performance.now();
      await within(3_000, Promise.all([closed(silent), closed(trickling)]), 'both are closed');
      expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
    } finally {
      clearInterval(timer);
    }
  });

  test('closes a connection whose client does not read its answer', async () => {
    const size = 16 * 1024 * 1024; // more than the socket buffers hold
    const { path } = await start({ maxConnections: 1, idleTimeoutMs: 300 }, { metrics: () => 'x'.repeat(size) });
    const stuck = await hold(path);
    stuck.pause();
    stuck.write('GET /metrics HTTP/1.1\r\nHost: proxyd\r\n\r\n');
    const answer = () => get(path, '/status').then((r) => r.status, () => 'refused');
    expect(await answer(), 'the unread answer holds the only place').toBe('refused');
    await expect.poll(answer, { timeout: 5_000 }).toBe(200);
    let read = 0;
    stuck.on('data', (c: Buffer) => (read += c.length));
    stuck.resume();
    await closed(stuck);
    expect(read).toBeLessThan(size);
  });

  test('does not close a connection whose answer proxyd is still working on (a slow health check)', async () => {
    let finish: (() => void) | undefined;
    const { path } = await start({ idleTimeoutMs: 300 }, {
      check: (name) => new Promise((resolve) => (finish = () => resolve({ name, type: 'fallback', current: null, why: 'slow', members: [] }))),
    });
    const checking = post(path, '/check/slow').catch((e: Error) => e);
    await expect.poll(() => finish).toBeDefined();
    const idle = await hold(path);
    await within(3_000, closed(idle), 'an idle connection is closed'); // an idle period has passed during the check
    finish!();
    expect(await checking).toMatchObject({ status: 200 });
  });
});

describe('the control socket\'s directory: the daemon user\'s alone', () => {
  let d: TestDaemon | undefined;
  afterEach(async () => {
    await d?.stop({ now: true });
    d = undefined;
  });

  test('a dangling link at its path (left in its own directory) is replaced, and nothing is made where it pointed', async () => {
    const dir = mkdtempSync(join(scratch, 'link-'));
    const path = join(dir, 'control.sock');
    symlinkSync(join(dir, 'nowhere'), path);
    d = await startTestDaemon(`control: ${path}\n${CONFIG}`);
    expect(lstatSync(path).isSocket()).toBe(true);
    expect(existsSync(join(dir, 'nowhere'))).toBe(false);
    expect((await proxyctl(path, ['status'])).code).toBe(0);
  });

  test('a directory anyone may write to, sticky like /tmp, is refused with what to do instead', async () => {
    const dir = mkdtempSync(join(scratch, 'shared-'));
    chmodSync(dir, 0o1777);
    const path = join(dir, 'control.sock');
    await expect(startTestDaemon(`control: ${path}\n${CONFIG}`)).rejects.toThrow(
      `cannot open the control socket ${path}: refusing the control socket directory ${dir}: other users may write to it (mode 1777): they could replace the socket. ` +
      "Set control: to a path in a directory only proxyd's user may write to (control: auto, or a new directory under its home: proxyd creates it, mode 0700)",
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  // another user's directories take root to make: CI runs as root
  describe.runIf(process.getuid?.() === 0 || process.env.CI === 'true')('refused: what another user (nobody) could swap', () => {
    const NOBODY = 65534;
    const refusal = (dir: string, why: string) => `refusing the control socket directory ${dir}: ${why}`;

    test('its directory: a link planted at the socket path stays as it is, and so does the root-owned file it points to', async () => {
      const base = mkdtempSync(join(scratch, 'theirs-'));
      const secret = join(base, 'secret');
      writeFileSync(secret, 'root only\n', { mode: 0o644 });
      const dir = join(base, 'theirs');
      mkdirSync(dir, { mode: 0o755 });
      chownSync(dir, NOBODY, NOBODY);
      const path = join(dir, 'control.sock');
      symlinkSync(secret, path);
      lchownSync(path, NOBODY, NOBODY);
      await expect(startTestDaemon(`control: ${path}\n${CONFIG}`)).rejects.toThrow(refusal(dir, `it belongs to uid ${NOBODY}, not to proxyd's user (uid 0): that user could replace the socket`));
      expect(lstatSync(path).isSymbolicLink()).toBe(true);
      expect(statSync(secret).mode & 0o777).toBe(0o644);
      expect(readdirSync(dir)).toEqual(['control.sock']);
    });

    test('a directory above it: the socket directory could be renamed away and replaced', async () => {
      const base = mkdtempSync(join(scratch, 'above-'));
      chownSync(base, NOBODY, NOBODY);
      const dir = join(base, 'mine');
      await expect(startTestDaemon(`control: ${join(dir, 'control.sock')}\n${CONFIG}`)).rejects.toThrow(refusal(dir, `it is inside ${base}, which belongs to uid ${NOBODY}: that user could replace the directory`));
    });

    test('a link on the way to it: it could be pointed elsewhere', async () => {
      const shared = mkdtempSync(join(scratch, 'way-'));
      chmodSync(shared, 0o1777);
      const real = mkdtempSync(join(scratch, 'real-'));
      const link = join(shared, 'link');
      symlinkSync(real, link);
      lchownSync(link, NOBODY, NOBODY);
      const dir = join(link, 'proxyd');
      await expect(startTestDaemon(`control: ${join(dir, 'control.sock')}\n${CONFIG}`)).rejects.toThrow(refusal(dir, `${link} on the way to it is a link of uid ${NOBODY}: that user could point it elsewhere`));
    });
  });
});

// ---- helpers --------------------------------------------------------------------------------

const fakeHandlers: ControlHandlers = {
  status: () => ({ version: '0', pid: process.pid, startedAt: '', uptimeS: 0, configFile: '', rules: 0, control: '', listeners: [], routes: [], upstreams: [], mirrors: [] }) satisfies Status,
  stats: () => ({ at: '', routes: [], upstreams: [], rules: [] }) satisfies Stats,
  route: async (target) => ({ target, route: 'DIRECT', rule: 'MATCH,DIRECT', index: 0, tried: [], omitted: 0, kind: 'direct' }) satisfies RouteExplanation,
  reload: async (dryRun) => ({ ok: true, dryRun, file: '', errors: [], changes: [] }) satisfies Reload,
  connections: () => ({ connections: [] }) satisfies Connections,
  closeConnection: () => false,
  upstreams: () => ({ groups: [] }) satisfies Health,
  mirrors: () => ({ groups: [] }) satisfies Health,
  check: async () => undefined,
  metrics: () => '',
};

/** resolves when the socket has closed, however (an error on the way is expected) */
function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** `promise`, or a failure saying what did not happen within `ms` */
async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what}`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

function get(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return ask(socketPath, 'GET', path);
}

function post(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return ask(socketPath, 'POST', path);
}

function ask(socketPath: string, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

interface Namespaced {
  child: ChildProcess;
  pid: number;
  http: number;
  socks: number;
  logs: Array<Record<string, unknown>>;
}

/**
 * proxyd as the system service runs (control: /run/proxyd/control.sock, so status.sock too) in a
 * private mount namespace whose /run is its own, under an open-file limit; its JSON log read as
 * it comes.
 */
async function startNamespaced(openFiles: number): Promise<Namespaced> {
  const config = join(scratch, 'system.yaml');
  writeFileSync(config, 'listen: { socks: 127.0.0.1:0, http: 127.0.0.1:0 }\ncontrol: /run/proxyd/control.sock\nlimits: { drain-timeout: 1s }\nrules:\n  - MATCH,DIRECT\n');
  const script = `mount -t tmpfs -o mode=0755 tmpfs /run && ulimit -n ${openFiles} && exec "$0" "$1" --config "$2"`;
  const child = spawn('unshare', ['-m', '--', 'sh', '-c', script, process.execPath, PROXYD, config], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Array<Record<string, unknown>> = [];
  let out = '';
  let pending = '';
  child.stderr!.on('data', (c: Buffer) => (out += c));
  child.stdout!.on('data', (c: Buffer) => {
    out += c;
    pending += c;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) if (line.startsWith('{')) logs.push(JSON.parse(line) as Record<string, unknown>);
  });
  const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`proxyd exited (${code ?? signal}) before it started:\n${out}`)));
    const look = () => {
      const line = logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('proxyd ') && l.control);
      if (line) resolve(line);
      else child.stdout!.once('data', () => setImmediate(look));
    };
    look();
  });
  const listeners = started.listeners as Record<string, string>;
  const port = (a: string) => Number(a.slice(a.lastIndexOf(':') + 1));
  return { child, pid: child.pid!, http: port(listeners.http!), socks: port(listeners.socks!), logs };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

interface Attacker {
  child: ChildProcess;
  /** how many of its connections are open now */
  open(): Promise<number>;
  /** resolves when the daemon has closed every one of them */
  drained: Promise<void>;
}

/**
 * `nobody`, inside the daemon's mount namespace, opens `count` connections to `socket` and sends
 * nothing on them. Resolves once each has connected or failed.
 */
async function flood(pid: number, socket: string, count: number): Promise<Attacker> {
  const script = `
    const path = process.argv[1];
    const sockets = [];
    let settled = 0;
    for (let i = 0; i < ${count}; i++) {
      const s = require('net').connect(path).resume();
      sockets.push(s);
      let done = false;
      const settle = () => { if (!done && (done = true) && ++settled === ${count}) console.log('ready'); };
      s.once('connect', settle);
      s.on('error', settle);
    }
    const open = () => sockets.filter((s) => s.readyState === 'open').length;
    process.stdin.on('data', () => console.log(JSON.stringify({ open: open() })));
    const watch = setInterval(() => { if (settled === ${count} && open() === 0) { console.log('drained'); clearInterval(watch); } }, 50);
  `;
  const child = spawn('nsenter', ['-t', String(pid), '-m', '--', 'setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '-e', script, socket], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c));
  const lines: string[] = [];
  const waiters: Array<(line: string) => void> = [];
  let pending = '';
  child.stdout!.on('data', (c: Buffer) => {
    pending += c;
    const got = pending.split('\n');
    pending = got.pop()!;
    for (const line of got) {
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  const next = () => new Promise<string>((resolve, reject) => {
    const line = lines.shift();
    if (line !== undefined) return resolve(line);
    waiters.push(resolve);
    child.once('exit', (code) => reject(new Error(`the attacker exited (${code}): ${err}`)));
  });
  expect(await next()).toBe('ready');
  let drained: Promise<void> | undefined;
  return {
    child,
    open: async () => {
      child.stdin!.write('\n');
      return (JSON.parse(await next()) as { open: number }).open;
    },
    get drained() {
      drained ??= next().then((line) => expect(line).toBe('drained'));
      return drained;
    },
  };
}
