// `cache: { dir: auto }`: the user's cache directory, per OS.
import { homedir } from 'node:os';
import { join } from 'node:path';

export function autoCacheDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home = homedir()): string {
  if (platform === 'win32') return join(env.LOCALAPPDATA ?? join(home, 'AppData', 'Local'), 'proxyd', 'cache');
  if (platform === 'darwin') return join(home, 'Library', 'Caches', 'proxyd');
  return join(env.XDG_CACHE_HOME || join(home, '.cache'), 'proxyd');
}
