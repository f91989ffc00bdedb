// Linux without a running systemd (a container, WSL1, a chroot): the daemon as a detached
// background process with a pid file and a log file, so that install still leaves it running and
// `service start | stop | status` work. It does not start at boot: there is nothing to start it.
import { spawn } from 'node:child_process';
import { closeSync, constants, fchownSync, fstatSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { UserError } from '../user-error.js';
import { findAccount, writeAtomic } from './files.js';
import { SERVICE_ACCOUNT } from './layout.js';
import type { Run } from './run.js';

/** how long the daemon has to answer on its control socket after it was started */
const START_TIMEOUT_MS = 15_000;

/** the system daemon runs as the proxyd account, like the unit's User= and Group= */
function serviceIds(run: Run): { uid: number; gid: number } | undefined {
  if (run.layout.scope !== 'system') return undefined;
  return { uid: findAccount('passwd', SERVICE_ACCOUNT)!.id, gid: findAccount('group', SERVICE_ACCOUNT)!.id };
}

/** the pid in the pid file, when that process is alive and is this proxyd */
export function runningPid(run: Run): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(run.layout.pidFile!, 'utf8').trim());
  } catch {
    return undefined;
  }
  return Number.isInteger(pid) && pid > 0 && isOurDaemon(pid, run.host.proxyd) ? pid : undefined;
}

/** alive (not a zombie) and running the proxyd script: a recycled pid is not ours */
function isOurDaemon(pid: number, script: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(script);
  } catch {
    return false;
  }
}

/**
 * Starts the daemon detached (output appended to the log file), writes the pid file and waits
 * until it answers on its control socket. Throws with the log's last lines when it does not.
 */
export async function startBackground(run: Run, config: string, control: string): Promise<void> {
  const { layout, host } = run;
  const pidFile = layout.pidFile!; // Linux layouts have one
  const argv = [host.node, host.proxyd, '--config', config];
  run.say(`start in the background: ${argv.join(' ')}${layout.scope === 'system' ? ` (as ${SERVICE_ACCOUNT})` : ''}, output to ${layout.logFile}, pid in ${pidFile}`);
  if (run.dryRun) return;
  const running = runningPid(run);
  if (running) {
    run.say(`  already running (pid ${running})`);
    return;
  }
  const ids = serviceIds(run);
  const log = openLog(layout.logFile, ids);
  const env = { ...process.env };
  for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy']) delete env[k];
  let exited: string | undefined;
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', log, log], cwd: layout.stateDir, env, ...ids });
  child.on('exit', (code, signal) => (exited = signal ?? `exit ${code}`));
  child.on('error', (err) => (exited = err.message));
  child.unref();
  if (child.pid === undefined) throw new UserError(`could not start ${argv[0]}`);
  writeAtomic(pidFile, `${child.pid}\n`, 0o644);
  try {
    if (!(await run.daemonAnswers(control, START_TIMEOUT_MS, () => exited !== undefined))) {
      if (exited === undefined) await stopPid(child.pid, 2_000, host.proxyd);
      rmSync(pidFile, { force: true });
      throw new UserError(`proxyd did not come up (${exited ?? `no answer on ${control} within ${START_TIMEOUT_MS / 1000} s`}); the end of ${layout.logFile}:\n  ${lastLines(log, 5).join('\n  ')}`);
    }
  } finally {
    closeSync(log);
  }
  run.say(`  running, pid ${child.pid}`);
}

/**
 * Opens the log for appending. Its directory belongs to the daemon's account, so root opens it
 * without following a link and refuses anything but a plain file with one name.
 */
function openLog(file: string, ids?: { uid: number; gid: number }): number {
  const fd = openSync(file, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o640);
  const info = fstatSync(fd);
  if (!info.isFile() || info.nlink !== 1) {
    closeSync(fd);
    throw new UserError(`${file} is not a plain file: not writing the daemon's output there`);
  }
  if (ids) fchownSync(fd, ids.uid, ids.gid);
  return fd;
}

/** the last lines of the log, read through the descriptor opened above (not the path, which may have changed) */
function lastLines(fd: number, n: number): string[] {
  const size = fstatSync(fd).size;
  const buf = Buffer.alloc(Math.min(size, 8192));
  readSync(fd, buf, 0, buf.length, size - buf.length);
  return buf.toString('utf8').trimEnd().split('\n').slice(-n);
}

/** SIGTERM (the daemon drains), SIGKILL after `timeoutMs`; removes the pid file. `quiet`: say nothing when it is not running. */
export async function stopBackground(run: Run, timeoutMs: number, quiet = false): Promise<void> {
  const pid = runningPid(run);
  if (!pid && quiet) return;
  run.say(`stop the background daemon${pid ? ` (pid ${pid})` : ''}: SIGTERM, SIGKILL after ${timeoutMs / 1000} s`);
  if (run.dryRun) return;
  if (pid) await stopPid(pid, timeoutMs, run.host.proxyd);
  else run.say('  (not running)');
  rmSync(run.layout.pidFile!, { force: true });
}

async function stopPid(pid: number, timeoutMs: number, script: string): Promise<void> {
  const alive = () => isOurDaemon(pid, script);
  signal(pid, 'SIGTERM');
  if (await ended(alive, timeoutMs)) return;
  signal(pid, 'SIGKILL');
  if (!(await ended(alive, 5_000))) throw new UserError(`pid ${pid} is still there after SIGKILL`);
}

async function ended(alive: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (alive()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone meanwhile
  }
}
