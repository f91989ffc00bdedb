// `ca: { dir: auto }`: the service's state directory when systemd gives one, else the user's, per OS.
import { homedir } from 'node:os';
import { join, win32 } from 'node:path';

export function autoCaDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home = homedir()): string {
  // StateDirectory=proxyd: systemd passes its path (a list, colon-separated, when there are several)
  const systemd = env.STATE_DIRECTORY?.split(':')[0];
  if (systemd) return join(systemd, 'ca');
  if (platform === 'win32') return win32.join(env.LOCALAPPDATA ?? win32.join(home, 'AppData', 'Local'), 'proxyd', 'ca');
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'proxyd', 'ca');
  return join(env.XDG_STATE_HOME || join(home, '.local', 'state'), 'proxyd', 'ca');
}
