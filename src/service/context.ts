// From command-line options to a Run: which OS and scope, refusing combinations that cannot work,
// and the facts of the config the service runs with.
import { existsSync, statSync } from 'node:fs';
import { ConfigError, formatProblem, loadConfig, type Config } from '../config/index.js';
import { controlPathOf } from '../control/paths.js';
import { UserError } from '../user-error.js';
import { onDisk } from './files.js';
import { hostFor, hostPlatform, layoutFor, type Host, type Platform, type Scope } from './layout.js';
import type { DaemonFacts } from './managers.js';
import { Run } from './run.js';

export interface ServiceOptions {
  user?: boolean;
  system?: boolean;
  dryRun?: boolean;
  platform?: Platform;
  root?: string;
}

/** the time a manager gives the daemon to stop: its drain-timeout and 10 s more */
function stopTimeoutS(config: Config): number {
  return Math.ceil(config.limits.drainTimeoutMs / 1000) + 10;
}

/** `existing`: for commands on an installed service (start, stop, status, uninstall) */
export function openRun(o: ServiceOptions, out: (text: string) => void, existing: boolean): Run {
  if (o.user && o.system) throw new UserError('--user and --system: choose one');
  const platform = o.platform ?? hostPlatform();
  const host = hostFor(platform);
  if (!host.local && !o.dryRun && !o.root) {
    throw new UserError(`--platform ${platform}: this machine runs ${hostPlatform()}; add --dry-run to see the files and commands, or --root DIR to write the files there`);
  }
  const asRoot = process.getuid?.() === 0;
  let scope: Scope = o.system ? 'system' : o.user ? 'user' : platform === 'windows' || asRoot ? 'system' : 'user';
  if (platform === 'windows' && scope === 'user') throw new UserError('a Windows service is for the whole machine: run proxyctl from an elevated PowerShell, without --user');
  const other: Scope = scope === 'user' ? 'system' : 'user';
  // acting on what is there: with no scope given, the one that is installed, if only one is
  if (existing && !o.user && !o.system && platform !== 'windows' && !isInstalled(host, scope, o.root) && isInstalled(host, other, o.root)) scope = other;
  return new Run(host, layoutFor(host, scope), { dryRun: !!o.dryRun, root: o.root, out });
}

function isInstalled(host: Host, scope: Scope, root: string | undefined): boolean {
  return existsSync(onDisk(layoutFor(host, scope).manifest, root));
}

/** install and uninstall change the system service's files: root's business (not under --root or on a dry run) */
export function requireRootFor(run: Run, verb: string): void {
  const { layout, host } = run;
  if (layout.scope === 'system' && layout.platform !== 'windows' && run.live && host.uid !== 0) {
    throw new UserError(`${verb} --system needs root: sudo proxyctl service ${verb} --system (or --user for a service of your own)`);
  }
}

/** start, stop and status act on the running system */
export function requireLive(run: Run, verb: string): void {
  if (run.root || !run.host.local) throw new UserError(`service ${verb} acts on the running system: not with --root or --platform`);
}

/** The config the service runs with, checked as the daemon will check it. Throws a UserError with every problem. */
export function checkConfig(run: Run, file: string): Config {
  try {
    return loadConfig(run.disk(file));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new UserError(`the config ${file} has errors; the service would not start:\n${err.problems.map(formatProblem).join('\n')}`);
  }
}

/** where the daemon with this config listens for proxyctl, as the target machine spells it */
export function daemonFacts(run: Run, file: string, config: Config): DaemonFacts {
  const { host } = run;
  const place = { env: host.env, home: host.home, platform: (host.platform === 'windows' ? 'win32' : host.platform) as NodeJS.Platform };
  const control = controlPathOf(config.control, place);
  if (!control) throw new UserError(`the config ${file} has "control: off": the service needs its control socket (status, start, reload)`);
  return { config: file, control, stopTimeoutS: stopTimeoutS(config) };
}

/** the facts of an installed daemon from its config; when that is gone or unreadable to this user, the layout's defaults */
export function installedFacts(run: Run, file: string): DaemonFacts {
  try {
    return daemonFacts(run, file, checkConfig(run, file));
  } catch {
    return { config: file, control: run.layout.controlPath, stopTimeoutS: 20 };
  }
}

/** Files the system service's account must read: node, proxyd and the config; a path in a private home is named. */
export function unreadableByService(paths: string[]): string[] {
  return paths.filter((p) => {
    try {
      if ((statSync(p).mode & 0o004) === 0) return true;
      for (let d = p.slice(0, p.lastIndexOf('/')); d; d = d.slice(0, d.lastIndexOf('/'))) {
        if ((statSync(d).mode & 0o001) === 0) return true;
      }
      return false;
    } catch {
      return true;
    }
  });
}
