// A control socket is put in place whole: bound in a fresh directory only proxyd may enter, given
// its mode and group there, then renamed onto its path. rename() replaces a stale socket or a link
// at the path without following it, and no step changes the mode of a name anyone could swap.
import { chmodSync, chownSync, lstatSync, mkdtempSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';

/** what a Unix socket address holds (sun_path, less its final NUL): 108 bytes on Linux, 104 elsewhere */
const ADDRESS_BYTES = process.platform === 'linux' ? 107 : 103;

export interface Placement {
  mode: number;
  /** the group the socket is given (undefined: the process's) */
  gid?: number | undefined;
}

/**
 * Binds `server` at `path` (in a directory socketDirectory checked). Refuses a path where a proxyd
 * answers or where something other than a socket or a link is. Returns what removes the socket
 * again, unless something else has taken its path since.
 */
export async function placeSocket(server: Server, path: string, { mode, gid }: Placement): Promise<() => void> {
  await checkVacant(path);
  const staging = mkdtempSync(join(dirname(path), '.p'));
  try {
    const bound = join(staging, 's');
    // Node would bind a cut-off name instead
    if (Buffer.byteLength(bound) > ADDRESS_BYTES || Buffer.byteLength(path) > ADDRESS_BYTES) {
      throw new Error(`the path is too long for a socket address (at most ${ADDRESS_BYTES} bytes, and proxyd binds it as ${bound} first): choose a shorter one`);
    }
    await listen(server, bound);
    chmodSync(bound, mode);
    if (gid !== undefined) chownSync(bound, -1, gid);
    renameSync(bound, path);
  } catch (err) {
    server.close();
    throw err;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  const { ino } = lstatSync(path);
  return () => {
    try {
      if (lstatSync(path).ino === ino) unlinkSync(path);
    } catch {
      // already gone
    }
  };
}

export function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
}

/** A socket left by a daemon that died is replaced; one that answers means proxyd already runs. */
async function checkVacant(path: string): Promise<void> {
  let info;
  try {
    info = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (info.isSymbolicLink()) return;
  if (!info.isSocket()) throw new Error(`${path} exists and is not a socket: remove it, or set control: to another path`);
  if (await answers(path)) throw new Error(`another proxyd is running: its control socket ${path} answers (stop it first, or set control: to another path)`);
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
