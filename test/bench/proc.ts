// Child processes of the bench: start with a raised fd limit, wait for a port,
// read resident memory of a process tree, stop.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A port that was free a moment ago (listen on 0, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Every daemon started by the bench, so that exit paths can stop them all. */
const running = new Set<Daemon>();

export class Daemon {
  readonly child: ChildProcess;
  #log = '';
  readonly exited: Promise<number | null>;

  readonly #logFile: string | undefined;

  /**
   * `env`: variables added to the bench's own environment (e.g. PROXYD_STATS=off); `logFile`:
   * stdout goes there instead of through a pipe to the bench (a daemon logging every connection
   * would otherwise make the load generator read its log)
   */
  constructor(readonly name: string, cmd: string, args: string[], cwd?: string, env?: Record<string, string>, logFile?: string) {
    // The soft fd limit is raised to the hard one (20000 here; root cannot go higher in
    // this sandbox): 1000 idle tunnels need 2000+ descriptors in the proxy.
    // Own process group (detached) so that forked children (danted) are stopped with it.
    const out = logFile === undefined ? 'pipe' : openSync(logFile, 'a');
    this.child = spawn('bash', ['-c', 'ulimit -n "$(ulimit -Hn)"; exec "$@"', 'bash', cmd, ...args], {
      cwd,
      env: env ? { ...process.env, ...env } : process.env,
      detached: true,
      stdio: ['ignore', out, 'pipe'],
    });
    if (typeof out === 'number') closeSync(out);
    this.#logFile = logFile;
    const keep = (b: Buffer) => { this.#log = (this.#log + b.toString()).slice(-4000); };
    this.child.stdout?.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((r) => this.child.once('exit', (code) => { running.delete(this); r(code); }));
    this.child.once('error', (e) => keep(Buffer.from(`spawn error: ${e.message}\n`)));
    running.add(this);
  }

  get pid(): number { return this.child.pid ?? -1; }
  get alive(): boolean { return this.child.exitCode === null && this.child.signalCode === null; }
  /** Last lines the process printed, for error messages. */
  tail(lines = 5): string {
    return this.#printed().trim().split('\n').slice(-lines).join(' | ');
  }

  #printed(): string {
    if (this.#logFile === undefined) return this.#log;
    let file = '';
    try { file = readFileSync(this.#logFile, 'utf8').slice(-4000); } catch { /* not written yet */ }
    return file + this.#log;
  }

  /** Waits until the process has printed something matching re. */
  async waitFor(re: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.#printed());
      if (m) return m;
      if (!this.alive) throw new Error(`${this.name} exited (${this.child.exitCode}): ${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`${this.name}: no ${re} after ${timeoutMs} ms: ${this.tail()}`);
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    const group = (sig: NodeJS.Signals) => { try { process.kill(-this.pid, sig); } catch { /* gone */ } };
    group('SIGTERM');
    const timer = setTimeout(() => group('SIGKILL'), 1500);
    await this.exited;
    clearTimeout(timer);
    group('SIGKILL'); // leftovers of the group (helpers that outlive their parent)
  }
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((d) => d.stop()));
}

/** Same as stopAll, synchronously, for process 'exit' handlers. */
export function killAllNow(): void {
  for (const d of running) { try { process.kill(-d.pid, 'SIGKILL'); } catch { /* gone */ } }
}

/** Poll-connect until the port accepts; fails early if the daemon exits. */
export async function waitForPort(port: number, daemon: Daemon, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!daemon.alive) throw new Error(`${daemon.name} exited (${daemon.child.exitCode}): ${daemon.tail()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${daemon.name}: port ${port} not accepting after ${timeoutMs} ms: ${daemon.tail()}`);
    await sleep(50);
  }
}

/**
 * Resident memory (KiB) of a process and all its descendants (found through the ppid
 * field of /proc/PID/stat), two ways: the sum of VmRSS, which counts pages shared by
 * forked children once per process (what adding up `ps` columns gives), and the sum of
 * Pss (proportional set size), which splits each shared page among its sharers.
 */
export function treeMemoryKiB(root: number): { rss: number; pss: number } {
  const total = { rss: 0, pss: 0 };
  const field = (text: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  for (const pid of processTree(root)) {
    try {
      total.rss += field(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS');
      total.pss += field(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Pss');
    } catch { /* exited meanwhile */ }
  }
  return total;
}

/**
 * CPU seconds (user + system) used so far by a process and its live descendants, with the
 * children they have reaped (danted forks and reaps workers as the load changes).
 */
export function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) {
    try {
      const rest = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      ticks += Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]); // utime, stime, cutime, cstime
    } catch { /* exited meanwhile */ }
  }
  return ticks / 100; // USER_HZ
}

/**
 * CPU seconds used so far by a process and its live descendants, to the nanosecond: the sum of
 * the run time of each of their threads (first field of /proc/PID/task/TID/schedstat, the figure
 * utime + stime are scaled from). Undefined when the kernel does not provide it.
 */
export function treeCpuSecondsPrecise(root: number): number | undefined {
  if (!hasSchedstat) return undefined;
  let ns = 0;
  for (const pid of processTree(root)) {
    let tasks: string[];
    try { tasks = readdirSync(`/proc/${pid}/task`); } catch { continue; /* exited meanwhile */ }
    for (const tid of tasks) {
      try { ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]); } catch { /* exited meanwhile */ }
    }
  }
  return ns / 1e9;
}

const hasSchedstat = existsSync('/proc/self/schedstat');

/** The fields of /proc/PID/stat after the command name (which may contain spaces and parentheses). */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** A process and all its descendants, found through the ppid field of /proc/PID/stat. */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try { stat = readFileSync(`/proc/${name}/stat`, 'utf8'); } catch { continue; }
    const ppid = Number(statFields(stat)[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/**
 * Pins a process and its descendants, every thread, to the given CPUs (`taskset -a -p -c`);
 * false when taskset is not installed.
 */
export async function pinTree(root: number, cpus: string): Promise<boolean> {
  const taskset = findBinary('taskset');
  if (!taskset) return false;
  for (const pid of processTree(root)) await runCommand(taskset, ['-a', '-p', '-c', cpus, String(pid)], 5000);
  return true;
}

/** Runs a command to completion with a hard time limit; resolves with its output. */
export function runCommand(cmd: string, args: string[], timeoutMs: number, cwd?: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { out += b; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => { out += e.message; });
    child.once('close', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

/** Absolute path of an installed program (PATH plus the sbin folders), or undefined. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    try {
      const p = `${dir}/${name}`;
      if (statSync(p).isFile()) return p;
    } catch { /* not here */ }
  }
  return undefined;
}

/** Builds dist/ (tsc) when it is missing or older than a file in src/; throws when the build fails. */
export async function buildIfStale(repoRoot: string): Promise<void> {
  const newest = (dir: string): number => readdirSync(dir, { withFileTypes: true })
    .reduce((t, e) => Math.max(t, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs), 0);
  let built = 0;
  try { built = statSync(join(repoRoot, 'dist', 'proxyd.js')).mtimeMs; } catch { /* not built */ }
  if (built > newest(join(repoRoot, 'src'))) return;
  console.error('building proxyd (tsc) ...');
  const { code, out } = await runCommand(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], 300_000, repoRoot);
  if (code !== 0) throw new Error(`build failed (${code}): ${out.trim().split('\n').slice(0, 3).join(' | ')}`);
}

/**
 * Waits (at most 70 s) until few sockets are in TIME_WAIT: after the tunnel row they can hold
 * the whole ephemeral port range, and a new listener on port 0 would fail with EADDRINUSE.
 */
export async function awaitFreePorts(maxTimeWait = 2000): Promise<void> {
  const timeWait = () => Number(/TCP:.* tw (\d+)/.exec(readFileSync('/proc/net/sockstat', 'utf8'))?.[1] ?? 0);
  const deadline = Date.now() + 70_000;
  while (timeWait() > maxTimeWait && Date.now() < deadline) await sleep(1000);
}
