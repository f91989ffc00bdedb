// Linux without a running systemd (a container, WSL1, a chroot): the daemon as a detached
// background process with a pid file and a log file, so that install still leaves it running and
// `service start | stop | status` work. It does not start at boot: there is nothing to start it.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { chown, findAccount, writeAtomic, type Owner } from './files.js';
import { SERVICE_ACCOUNT } from './layout.js';
import type { Run } from './run.js';

/** how long the daemon has to answer on its control socket after it was started */
export const START_TIMEOUT_MS = 15_000;

/** the system daemon runs as the proxyd account, like the unit's User= and Group= */
function account(run: Run): Owner | undefined {
  return run.layout.scope === 'system' ? { user: SERVICE_ACCOUNT, group: SERVICE_ACCOUNT } : undefined;
}

/** the pid in the pid file, when that process is alive and is this proxyd */
export function runningPid(run: Run): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(run.layout.pidFile, 'utf8').trim());
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
  const argv = [host.node, host.proxyd, '--config', config];
  run.say(`start in the background: ${argv.join(' ')}${account(run) ? ` (as ${SERVICE_ACCOUNT})` : ''}, output to ${layout.logFile}, pid in ${layout.pidFile}`);
  if (run.dryRun) return;
  const running = runningPid(run);
  if (running) {
    run.say(`  already running (pid ${running})`);
    return;
  }
  const owner = account(run);
  const ids = owner ? { uid: findAccount('passwd', SERVICE_ACCOUNT)!.id, gid: findAccount('group', SERVICE_ACCOUNT)!.id } : {};
  const log = openSync(layout.logFile, 'a', 0o640);
  if (owner) chown(layout.logFile, owner);
  const env = { ...process.env };
  for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy']) delete env[k];
  let exited: string | undefined;
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', log, log], cwd: layout.stateDir, env, ...ids });
  closeSync(log);
  child.on('exit', (code, signal) => (exited = signal ?? `exit ${code}`));
  child.on('error', (err) => (exited = err.message));
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${argv[0]}`);
  writeAtomic(layout.pidFile, `${child.pid}\n`, 0o644);
  if (!(await run.daemonAnswers(control, START_TIMEOUT_MS, () => exited !== undefined))) {
    const tail = readFileSync(layout.logFile, 'utf8').trimEnd().split('\n').slice(-5).join('\n  ');
    if (exited === undefined) await stopPid(child.pid, 2_000, host.proxyd);
    rmSync(layout.pidFile, { force: true });
    throw new Error(`proxyd did not come up (${exited ?? `no answer on ${control} within ${START_TIMEOUT_MS / 1000} s`}); the end of ${layout.logFile}:\n  ${tail}`);
  }
  run.say(`  running, pid ${child.pid}`);
}

/** SIGTERM (the daemon drains), SIGKILL after `timeoutMs`; removes the pid file. `quiet`: say nothing when it is not running. */
export async function stopBackground(run: Run, timeoutMs: number, quiet = false): Promise<void> {
  const pid = runningPid(run);
  if (!pid && quiet) return;
  run.say(`stop the background daemon${pid ? ` (pid ${pid})` : ''}: SIGTERM, SIGKILL after ${timeoutMs / 1000} s`);
  if (run.dryRun) return;
  if (pid) await stopPid(pid, timeoutMs, run.host.proxyd);
  else run.say('  (not running)');
  rmSync(run.layout.pidFile, { force: true });
}

async function stopPid(pid: number, timeoutMs: number, script: string): Promise<void> {
  const alive = () => isOurDaemon(pid, script);
  signal(pid, 'SIGTERM');
  if (await ended(alive, timeoutMs)) return;
  signal(pid, 'SIGKILL');
  if (!(await ended(alive, 5_000))) throw new Error(`pid ${pid} is still there after SIGKILL`);
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
