// The service managers, each through its own tool: systemd (systemctl), launchd (launchctl),
// Windows' service control manager (WinSW, sc.exe), and for Linux without a running systemd,
// a background process. Each says what it runs through Run, so --dry-run shows it.
import { startBackground, runningPid, stopBackground } from './background.js';
import { LAUNCHD_LABEL, SERVICE_NAME, systemdRunning } from './layout.js';
import type { Run } from './run.js';

interface Manager {
  /** for messages: "systemd (system)", "launchd LaunchAgent", … */
  name: string;
  /** after the files are written: enable for boot or login, and (re)start */
  activate(daemon: DaemonFacts): Promise<void>;
  /** before the files are removed: stop, and disable or unregister */
  deactivate(daemon: DaemonFacts): Promise<void>;
  /** after the files are removed */
  forget(): void;
  start(daemon: DaemonFacts): Promise<void>;
  stop(daemon: DaemonFacts): Promise<void>;
  /** the manager's own view */
  view(): string;
}

/** what a manager needs to know of the daemon it runs */
export interface DaemonFacts {
  config: string;
  control: string;
  stopTimeoutS: number;
}

const UNIT = `${SERVICE_NAME}.service`;

/** the manager for this run; `background`: Linux where install found no running systemd */
export function managerFor(run: Run, background: boolean): Manager {
  if (run.layout.platform === 'darwin') return launchd(run);
  if (run.layout.platform === 'windows') return winsw(run);
  return background ? backgroundSystemd(run) : systemd(run);
}

/** Linux: is there a systemd to hand the service to (else the background process)? */
export function wantsBackground(run: Run): boolean {
  return run.layout.platform === 'linux' && run.host.local && !run.root && !systemdRunning(run.host, run.layout.scope);
}

function systemctl(run: Run, ...args: string[]): string[] {
  return ['systemctl', ...(run.layout.scope === 'user' ? ['--user'] : []), ...args];
}

function notUnderRoot(run: Run, what: string): void {
  run.say(`(--root: not ${what}: that needs the running system)`);
}

function systemd(run: Run): Manager {
  return {
    name: `systemd (${run.layout.scope})`,
    async activate() {
      if (run.root) {
        // `systemctl --root` enables offline (the [Install] links); it cannot do so for --user
        if (run.layout.scope === 'system') run.change(['systemctl', `--root=${run.root}`, 'enable', UNIT]);
        else notUnderRoot(run, 'enabled (systemctl --user has no --root)');
        return notUnderRoot(run, 'started');
      }
      run.change(systemctl(run, 'daemon-reload'));
      run.change(systemctl(run, 'enable', UNIT));
      run.change(systemctl(run, 'restart', UNIT));
    },
    async deactivate() {
      if (!run.root) run.change(systemctl(run, 'disable', '--now', UNIT));
      else if (run.layout.scope === 'system') run.change(['systemctl', `--root=${run.root}`, 'disable', UNIT]);
    },
    forget() {
      if (!run.root) run.change(systemctl(run, 'daemon-reload'));
    },
    async start() {
      run.change(systemctl(run, 'start', UNIT));
    },
    async stop() {
      run.change(systemctl(run, 'stop', UNIT));
    },
    view() {
      const active = run.ask(systemctl(run, 'is-active', UNIT))?.output.trim() || 'unknown';
      const enabled = run.ask(systemctl(run, 'is-enabled', UNIT))?.output.trim() || 'unknown';
      return `systemd (${run.layout.scope}): ${UNIT} is ${active}, ${enabled}`;
    },
  };
}

function backgroundSystemd(run: Run): Manager {
  const why = `systemd is not running here (${run.layout.scope === 'system' ? 'no /run/systemd/system' : 'no systemd user manager'})`;
  const short = run.layout.scope === 'system' ? 'no systemd here' : 'no systemd user manager here';
  const enable = (verb: 'enable' | 'disable') => run.change(systemctl(run, verb, UNIT), `not ${verb}d: systemctl cannot do that offline here`);
  return {
    name: 'a background process (no systemd)',
    async activate(d) {
      run.say(`${why}: proxyd runs as a background process and will NOT start at boot. The unit is written and enabled for when this machine runs systemd.`);
      enable('enable');
      await stopBackground(run, d.stopTimeoutS * 1000, true); // an upgrade: the new code starts below
      await startBackground(run, d.config, d.control);
    },
    async deactivate(d) {
      await stopBackground(run, d.stopTimeoutS * 1000);
      enable('disable');
    },
    forget() {},
    async start(d) {
      await startBackground(run, d.config, d.control);
    },
    async stop(d) {
      await stopBackground(run, d.stopTimeoutS * 1000);
    },
    view() {
      const pid = runningPid(run);
      return `background process (${short}, so not started at boot): ${pid ? `running, pid ${pid}` : 'not running'}; log ${run.layout.logFile}`;
    },
  };
}

function launchd(run: Run): Manager {
  const domain = run.layout.scope === 'user' ? `gui/${run.host.uid}` : 'system';
  const target = `${domain}/${LAUNCHD_LABEL}`;
  return {
    name: `launchd ${run.layout.scope === 'user' ? 'LaunchAgent' : 'LaunchDaemon'}`,
    async activate() {
      if (run.root) return notUnderRoot(run, 'loaded or started');
      run.change(['launchctl', 'enable', target]);
      run.change(['launchctl', 'bootout', target], 'it was not loaded');
      run.change(['launchctl', 'bootstrap', domain, run.layout.definition]);
    },
    async deactivate() {
      if (!run.root) run.change(['launchctl', 'bootout', target], 'it was not loaded');
    },
    forget() {},
    async start() {
      run.change(['launchctl', 'kickstart', target]);
    },
    async stop() {
      // exit 0 after SIGTERM: KeepAlive (SuccessfulExit false) leaves it stopped until the next login or boot
      run.change(['launchctl', 'kill', 'SIGTERM', target]);
    },
    view() {
      const printed = run.ask(['launchctl', 'print', target]);
      if (!printed?.ok) return `launchd: ${target} is not loaded`;
      const field = (name: string) => printed.output.match(new RegExp(`^\\s*${name} = (.*)$`, 'm'))?.[1];
      return `launchd: ${target} is ${field('state') ?? 'loaded'}${field('pid') ? `, pid ${field('pid')}` : ''}`;
    },
  };
}

function winsw(run: Run): Manager {
  const wrapper = run.layout.wrapper!;
  const query = () => run.ask(['sc.exe', 'query', SERVICE_NAME]);
  return {
    name: 'Windows service (WinSW)',
    async activate() {
      if (run.root) return notUnderRoot(run, 'registered or started');
      // WinSW reads the XML at each start: a service registered before only needs a restart
      if (query()?.ok) return run.change([wrapper, 'restart']);
      run.change([wrapper, 'install']);
      run.change([wrapper, 'start']);
    },
    async deactivate() {
      if (run.root) return;
      run.change([wrapper, 'stop'], 'it was not running');
      run.change([wrapper, 'uninstall']);
    },
    forget() {},
    async start() {
      run.change([wrapper, 'start']);
    },
    async stop() {
      run.change([wrapper, 'stop']);
    },
    view() {
      const q = query();
      if (!q?.ok) return `Windows service ${SERVICE_NAME}: not registered`;
      return `Windows service ${SERVICE_NAME}: ${q.output.match(/STATE\s*:\s*\d+\s+(\w+)/)?.[1] ?? 'registered'}`;
    },
  };
}
