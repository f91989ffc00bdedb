// Where the control socket lives. The daemon binds there and proxyctl looks there, the same way:
// the user's own place first, then the system service's.
import { homedir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';

/** the system service's socket (mode 0660, group `proxyd`): Linux's */
export const SYSTEM_CONTROL_PATH = '/run/proxyd/control.sock';
/** macOS's LaunchDaemon keeps it under /var/run */
export const DARWIN_SYSTEM_CONTROL_PATH = '/var/run/proxyd/control.sock';

/** the system service's socket on this platform (none on Windows: the service's pipe is named there) */
function systemControlPath(platform: NodeJS.Platform = process.platform): string | undefined {
  return platform === 'win32' ? undefined : platform === 'darwin' ? DARWIN_SYSTEM_CONTROL_PATH : SYSTEM_CONTROL_PATH;
}
/** the group whose members may use the system service's socket */
export const CONTROL_GROUP = 'proxyd';

export interface Place {
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  home?: string;
  user?: string;
}

/** `control: auto` for this user: Linux $XDG_RUNTIME_DIR/proxyd (else ~/.local/state/proxyd), macOS ~/Library/Application Support/proxyd, Windows a pipe named for the user. */
export function autoControlPath(place: Place = {}): string {
  const env = place.env ?? process.env;
  const platform = place.platform ?? process.platform;
  const home = place.home ?? homedir();
  if (platform === 'win32') return `\\\\.\\pipe\\proxyd-${place.user ?? userInfo().username}`;
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'proxyd', 'control.sock');
  const runtime = env.XDG_RUNTIME_DIR;
  return runtime ? join(runtime, 'proxyd', 'control.sock') : join(home, '.local', 'state', 'proxyd', 'control.sock');
}

/** The socket path a config's `control:` names (undefined: off). */
export function controlPathOf(control: string, place: Place = {}): string | undefined {
  if (control === 'off') return undefined;
  return control === 'auto' ? autoControlPath(place) : control;
}

/** Where proxyctl looks, in order: `--control`/PROXYD_CONTROL alone when given; else the user's place, then the system service's. */
export function controlCandidates(explicit: string | undefined, place: Place = {}): string[] {
  const given = explicit ?? (place.env ?? process.env).PROXYD_CONTROL;
  if (given) return [given];
  const own = autoControlPath(place);
  const system = systemControlPath(place.platform ?? process.platform);
  return system ? [own, system] : [own];
}

export function isPipe(path: string): boolean {
  return path.startsWith('\\\\.\\pipe\\');
}

export function isSystemPath(path: string): boolean {
  return path === SYSTEM_CONTROL_PATH || path === DARWIN_SYSTEM_CONTROL_PATH;
}

/** the system service's read-only socket, beside its control socket: reports for every local user */
export function readOnlySocket(controlPath: string): string {
  return join(dirname(controlPath), 'status.sock');
}

/** what any local user may ask the system service: reports, no changes and no one's connections (open, or failed) */
export function isReport(method: string, pathname: string): boolean {
  return method === 'GET' && pathname !== '/connections' && pathname !== '/errors';
}
