// `npm start` as the README runs it: SIGTERM to npm, or Ctrl-C (SIGINT to the process group),
// stops the daemon and leaves no process behind and both ports free. It runs in a copy of the
// package (package.json, tsconfig.json, src, rules; node_modules linked), so its build does not
// rewrite dist/ under the other tests running the daemon meanwhile.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, expect, test } from 'vitest';
import { descendants, running, type Proc } from '../fixtures/proc-tree.js';

const ROOT = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'proxyd-npm-start-'));
const pkg = join(dir, 'pkg');
const config = join(dir, 'proxyd.yaml');

beforeAll(() => {
  for (const name of ['package.json', 'tsconfig.json', 'src', 'rules']) cpSync(join(ROOT, name), join(pkg, name), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
  writeFileSync(config, 'listen: { socks: 127.0.0.1:0, http: 127.0.0.1:0 }\ncontrol: off\nrules:\n  - MATCH,DIRECT\n');
});

let started: { npm: ChildProcess; tree: () => Proc[] } | undefined;
let seen: Proc[] = [];

afterEach(() => {
  // a failed test must not leave its daemon behind for the next one
  for (const p of [...seen, ...(started ? started.tree() : [])]) if (running(p)) process.kill(p.pid, 'SIGKILL');
  if (started?.npm.exitCode === null) started.npm.kill('SIGKILL');
  started = undefined;
  seen = [];
});

/** `npm start` with PROXYD_CONFIG; resolves once the daemon has logged both listeners (their ports). */
async function npmStart(detached: boolean): Promise<{ npm: ChildProcess; ports: number[]; out: () => string }> {
  const env = { ...process.env, PROXYD_CONFIG: config, npm_config_update_notifier: 'false', npm_config_fund: 'false' };
  const npm = spawn('npm', ['start'], { cwd: pkg, env, detached, stdio: ['ignore', 'pipe', 'pipe'] });
  started = { npm, tree: () => descendants(npm.pid!) };
  let out = '';
  const ports: Record<string, number> = {};
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not bring the daemon up within 45 s:\n${out}`)), 45_000);
    const onData = (chunk: Buffer) => {
      out += chunk;
      for (const m of out.matchAll(/"listener":"(\w+)","address":\{[^}]*"port":(\d+)/g)) ports[m[1]!] = Number(m[2]);
      if (ports.socks && ports.http) {
        clearTimeout(timer);
        resolve();
      }
    };
    npm.stdout!.on('data', onData);
    npm.stderr!.on('data', onData);
    npm.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited ${code} before the daemon listened:\n${out}`));
    });
  });
  return { npm, ports: [ports.socks!, ports.http!], out: () => out };
}

/** npm's exit, or a failure after `ms` */
async function exitOf(child: ChildProcess, ms: number): Promise<[number | null, NodeJS.Signals | null]> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`pid ${child.pid} still running ${ms} ms after the signal`)), ms);
  });
  try {
    return await Promise.race([once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** can this loopback port be bound right now (nobody holds it)? */
async function free(port: number): Promise<boolean> {
  const server = createServer();
  server.listen(port, '127.0.0.1');
  try {
    await once(server, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    server.close();
  }
}

test.each([
  ['SIGTERM to the npm process', false, (npm: ChildProcess): void => void npm.kill('SIGTERM'), 'SIGTERM'],
  ['Ctrl-C: SIGINT to the process group', true, (npm: ChildProcess): void => void process.kill(-npm.pid!, 'SIGINT'), 'SIGINT'],
] as const)('npm start, then %s: the daemon drains and exits, no process is left, both ports are free', async (_name, detached, signal, signalName) => {
  const { npm, ports, out } = await npmStart(detached);
  seen = descendants(npm.pid!);
  // the daemon runs under npm (the script's shell `exec`s it)
  expect(seen.filter((p) => /^(\S*\/)?node dist\/proxyd\.js$/.test(p.cmdline))).toHaveLength(1);
  expect(await Promise.all(ports.map(free))).toEqual([false, false]); // held by the daemon

  const exited = exitOf(npm, 15_000);
  signal(npm);
  const [code] = await exited;
  await expect.poll(() => seen.filter(running).map((p) => `${p.pid} ${p.cmdline}`), { timeout: 5000 }).toEqual([]);
  expect(await Promise.all(ports.map(free))).toEqual([true, true]);
  // the daemon itself got the signal and drained (not killed by the shell going away), and npm reports success
  const events = out().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; signal?: string });
  expect(events.filter((e) => e.signal === signalName && e.msg.startsWith('stopping'))).toHaveLength(1);
  // one Ctrl-C reaches the daemon twice (from the terminal and from npm): it is still one stop that drains
  expect(events.filter((e) => e.msg.startsWith('second signal'))).toEqual([]);
  expect(code).toBe(0);
});
