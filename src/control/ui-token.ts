// The dashboard's token: a random secret in a file beside the control socket, with the socket's
// permissions (its owner only; the system service's group `proxyd` may read it too), so that
// whoever may use the control socket may open the dashboard, and no one else. The daemon writes
// a new one each time it starts; `proxyctl ui` reads it into the link it prints.
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, constants, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, win32 } from 'node:path';
import { isPipe } from './paths.js';

/** `control.sock` → `control.ui-token` beside it; a named pipe's is in proxyd's state directory (`%LOCALAPPDATA%\proxyd`) */
export function uiTokenPath(controlPath: string, env: NodeJS.ProcessEnv = process.env): string {
  if (isPipe(controlPath)) {
    const local = env.LOCALAPPDATA ?? win32.join(homedir(), 'AppData', 'Local');
    return win32.join(local, 'proxyd', `${win32.basename(controlPath)}.ui-token`);
  }
  return join(dirname(controlPath), `${basename(controlPath).replace(/\.sock$/, '')}.ui-token`);
}

/**
 * Writes a new token whole (a temporary file with its mode, then a rename: never readable by
 * others, never half written) and returns it. `gid`: the group that may read it too (mode 0640).
 */
export function writeUiToken(path: string, gid?: number): string {
  const token = randomBytes(32).toString('base64url');
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}`);
  const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o600);
  try {
    try {
      writeSync(fd, `${token}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (gid !== undefined) {
      chownSync(temporary, -1, gid);
      chmodSync(temporary, 0o640);
    }
    renameSync(temporary, path);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw err;
  }
  return token;
}

/** Removes the token file when it still holds `token` (a daemon started since has written its own). */
export function removeUiToken(path: string, token: string): void {
  try {
    if (readUiToken(path) === token) rmSync(path);
  } catch {
    // already gone
  }
}

/** the token in the file (throws the read's error: ENOENT, EACCES) */
export function readUiToken(path: string): string {
  return readFileSync(path, 'utf8').trim();
}
