// `proxyctl service start | stop | status`: through the manager install used, and for status the
// manager's view together with the daemon's own, from its control socket.
import { Status } from '../control/api.js';
import { ControlClient, Failed, Refused, Unreachable } from '../control/client.js';
import { duration } from '../durations.js';
import { UserError } from '../user-error.js';
import { installedFacts, requireLive } from './context.js';
import { readManifest, type Manifest } from './manifest.js';
import { managerFor, wantsBackground } from './managers.js';
import type { Run } from './run.js';

const ANSWER_TIMEOUT_MS = 20_000;

function installed(run: Run): Manifest {
  const m = readManifest(run.disk(run.layout.manifest));
  if (!m) throw new UserError(`proxyd is not installed as a ${run.layout.scope} service here: proxyctl service install${run.layout.scope === 'user' ? ' --user' : ''}`);
  return m;
}

export async function start(run: Run): Promise<void> {
  requireLive(run, 'start');
  const m = installed(run);
  const daemon = installedFacts(run, m.config);
  await managerFor(run, m.background).start(daemon);
  if (run.dryRun || m.background) return; // the background start waits for the answer itself
  if (!(await run.daemonAnswers(daemon.control, ANSWER_TIMEOUT_MS))) throw new UserError(`started, but proxyd does not answer on ${daemon.control}`);
  run.say(`proxyd answers on ${daemon.control}`);
}

export async function stop(run: Run): Promise<void> {
  requireLive(run, 'stop');
  const m = installed(run);
  await managerFor(run, m.background).stop(installedFacts(run, m.config));
}

interface ServiceStatus {
  platform: string;
  scope: string;
  installed: boolean;
  /** the service manager's view */
  manager: string;
  control: string;
  /** the daemon's own status, when it answers */
  daemon: Status | null;
  /** why it does not */
  error?: string;
}

/** Prints the manager's and the daemon's view; returns the exit code (0, or 3/4 as proxyctl status). */
export async function status(run: Run, json: boolean, controlOption?: string): Promise<number> {
  requireLive(run, 'status');
  const m = readManifest(run.disk(run.layout.manifest));
  const manager = managerFor(run, m?.background ?? wantsBackground(run));
  const control = controlOption ?? installedFacts(run, m?.config ?? run.layout.config).control;
  const report: ServiceStatus = { platform: run.layout.platform, scope: run.layout.scope, installed: !!m, manager: manager.view(), control, daemon: null };
  let code = 0;
  try {
    report.daemon = await new ControlClient(control).report('GET', '/status', Status);
  } catch (err) {
    if (!(err instanceof Unreachable || err instanceof Refused || err instanceof Failed)) throw err;
    report.error = err.message;
    code = err instanceof Refused ? 4 : err instanceof Unreachable ? 3 : 1;
  }
  if (json) run.say(JSON.stringify(report, null, 2));
  else run.say(statusText(report));
  return code;
}

function statusText(s: ServiceStatus): string {
  const d = s.daemon;
  return [
    `service  ${s.installed ? `${s.scope} service` : `not installed as a ${s.scope} service`}; ${s.manager}`,
    d
      ? `daemon   proxyd ${d.version}, up ${duration(d.uptimeS)}, pid ${d.pid}, config ${d.configFile}, listening ${d.listeners.map((l) => `${l.name} ${l.address}`).join(', ') || 'nowhere'}`
      : `daemon   not answering: ${s.error}`,
    `control  ${s.control}`,
  ].join('\n');
}
