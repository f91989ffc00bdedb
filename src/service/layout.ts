// Where the service's files go, per OS and scope, and the facts of the machine they are filled
// with. Paths here are the target machine's own (posix, or win32 for Windows); --root maps them
// onto the local disk elsewhere (files.ts).
import { existsSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { posix, win32 } from 'node:path';
import { fileURLToPath } from 'node:url';
import { autoControlPath, DARWIN_SYSTEM_CONTROL_PATH, SYSTEM_CONTROL_PATH } from '../control/paths.js';

export const PLATFORMS = ['linux', 'darwin', 'windows'] as const;
export type Platform = (typeof PLATFORMS)[number];
export type Scope = 'user' | 'system';

/** the systemd unit's and the Windows service's name */
export const SERVICE_NAME = 'proxyd';
/** the launchd job's label ("local." is the namespace for jobs no vendor owns) */
export const LAUNCHD_LABEL = 'local.proxyd';
/** the account the Linux system service runs as, and the group that may use its control socket */
export const SERVICE_ACCOUNT = 'proxyd';
/** WinSW, the wrapper that runs node as a Windows service; install.ps1 fetches this version */
export const WINSW_VERSION = '2.12.0';
/** the macOS LaunchDaemon's control socket (root only: /run/proxyd does not exist on macOS) */
const WINDOWS_CONTROL_PIPE = '\\\\.\\pipe\\proxyd';

/** The machine the service is for: this one, or the usual values of another OS (--platform). */
export interface Host {
  platform: Platform;
  /** false: showing another OS, with its usual paths (nothing may be done there) */
  local: boolean;
  env: NodeJS.ProcessEnv;
  home: string;
  uid: number;
  /** the node binary and the installed proxyd script the service runs */
  node: string;
  proxyd: string;
}

export function hostPlatform(): Platform {
  return process.platform === 'win32' ? 'windows' : process.platform === 'darwin' ? 'darwin' : 'linux';
}

/** rules/, service/ and dist/ of the installed package */
export const PACKAGE_DIR = fileURLToPath(new URL('../../', import.meta.url));

export function hostFor(platform: Platform = hostPlatform()): Host {
  if (platform === hostPlatform()) {
    return {
      platform,
      local: true,
      env: process.env,
      home: homedir(),
      uid: process.getuid?.() ?? 0,
      node: process.execPath,
      proxyd: fileURLToPath(new URL('../proxyd.js', import.meta.url)),
    };
  }
  // another OS: where a global npm install usually puts things there
  const user = userInfo().username;
  if (platform === 'windows') {
    return { platform, local: false, env: {}, home: `C:\\Users\\${user}`, uid: 0, node: 'C:\\Program Files\\nodejs\\node.exe', proxyd: 'C:\\Program Files\\proxyd\\node_modules\\proxyd\\dist\\proxyd.js' };
  }
  const home = platform === 'darwin' ? `/Users/${user}` : `/home/${user}`;
  return { platform, local: false, env: {}, home, uid: platform === 'darwin' ? 501 : 1000, node: platform === 'darwin' ? '/usr/local/bin/node' : '/usr/bin/node', proxyd: '/usr/local/lib/node_modules/proxyd/dist/proxyd.js' };
}

export interface Layout {
  platform: Platform;
  scope: Scope;
  /** the service definition: systemd unit, launchd plist or WinSW XML */
  definition: string;
  /** its template, under service/ of the package */
  template: string;
  /** the config the service runs with, when --config does not name another */
  config: string;
  /** the default config's `control:` value, and the socket or pipe it means */
  controlLine: string;
  controlPath: string;
  /** the daemon's working directory */
  stateDir: string;
  /** what install made (in the state directory, or a root-only one when the daemon has an account of its own) */
  manifest: string;
  /** where the daemon's output goes when not to the journal */
  logDir: string;
  logFile: string;
  /** Linux: the background daemon's pid file (when systemd is not running) */
  pidFile?: string;
  /** the directory `systemctl enable` links the unit into */
  wantsDir?: string;
  /** WinSW's executable, beside its XML */
  wrapper?: string;
  /** path functions of the target OS */
  path: typeof posix;
}

export function layoutFor(host: Host, scope: Scope): Layout {
  const { env, home } = host;
  if (host.platform === 'windows') {
    const base = win32.join(env.ProgramData ?? 'C:\\ProgramData', 'proxyd');
    const logDir = win32.join(base, 'logs');
    return {
      platform: 'windows', scope, path: win32,
      definition: win32.join(base, 'proxyd-service.xml'), template: 'windows/proxyd-service.xml', wrapper: win32.join(base, 'proxyd-service.exe'),
      config: win32.join(base, 'config.yaml'), controlLine: WINDOWS_CONTROL_PIPE, controlPath: WINDOWS_CONTROL_PIPE,
      stateDir: base, manifest: win32.join(base, 'install-manifest.json'),
      logDir, logFile: win32.join(logDir, 'proxyd-service.out.log'),
    };
  }
  const configHome = env.XDG_CONFIG_HOME || posix.join(home, '.config');
  if (host.platform === 'darwin') {
    const user = scope === 'user';
    const stateDir = user ? posix.join(home, 'Library', 'Application Support', 'proxyd') : '/Library/Application Support/proxyd';
    const logDir = user ? posix.join(home, 'Library', 'Logs', 'proxyd') : '/Library/Logs/proxyd';
    const controlPath = user ? autoControlPath({ env, platform: 'darwin', home }) : DARWIN_SYSTEM_CONTROL_PATH;
    return {
      platform: 'darwin', scope, path: posix,
      definition: posix.join(user ? posix.join(home, 'Library', 'LaunchAgents') : '/Library/LaunchDaemons', `${LAUNCHD_LABEL}.plist`), template: `launchd/${LAUNCHD_LABEL}.plist`,
      config: user ? posix.join(configHome, 'proxyd', 'config.yaml') : '/etc/proxyd/config.yaml', controlLine: user ? 'auto' : controlPath, controlPath,
      stateDir, manifest: posix.join(stateDir, 'install-manifest.json'),
      logDir, logFile: posix.join(logDir, 'proxyd.log'),
    };
  }
  if (scope === 'user') {
    const stateDir = posix.join(env.XDG_STATE_HOME || posix.join(home, '.local', 'state'), 'proxyd');
    const unitDir = posix.join(configHome, 'systemd', 'user');
    const logDir = posix.join(stateDir, 'log');
    return {
      platform: 'linux', scope, path: posix,
      definition: posix.join(unitDir, `${SERVICE_NAME}.service`), template: 'systemd/proxyd-user.service', wantsDir: posix.join(unitDir, 'default.target.wants'),
      config: posix.join(configHome, 'proxyd', 'config.yaml'), controlLine: 'auto', controlPath: autoControlPath({ env, platform: 'linux', home }),
      stateDir, manifest: posix.join(stateDir, 'install-manifest.json'),
      logDir, logFile: posix.join(logDir, 'proxyd.log'), pidFile: posix.join(stateDir, 'proxyd.pid'),
    };
  }
  return {
    platform: 'linux', scope, path: posix,
    definition: `/etc/systemd/system/${SERVICE_NAME}.service`, template: 'systemd/proxyd-system.service', wantsDir: '/etc/systemd/system/multi-user.target.wants',
    config: '/etc/proxyd/config.yaml', controlLine: SYSTEM_CONTROL_PATH, controlPath: SYSTEM_CONTROL_PATH,
    // the manifest tells root what to delete: not in the state directory, which the daemon's account owns
    stateDir: '/var/lib/proxyd', manifest: '/etc/proxyd/install-manifest.json',
    // the pid file where every user can read it and the daemon's account cannot write
    logDir: '/var/log/proxyd', logFile: '/var/log/proxyd/proxyd.log', pidFile: '/run/proxyd.pid',
  };
}

/** Whether a service manager answers here: systemd (the system one, or this user's) on Linux. */
export function systemdRunning(host: Host, scope: Scope): boolean {
  if (!host.local || host.platform !== 'linux' || !existsSync('/run/systemd/system')) return false;
  if (scope === 'system') return true;
  const runtime = host.env.XDG_RUNTIME_DIR;
  return !!runtime && existsSync(posix.join(runtime, 'systemd', 'private'));
}
