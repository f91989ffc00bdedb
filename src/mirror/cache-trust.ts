// Whether a cache directory may hold artifacts that the daemon will serve as verified: only when
// no one but the daemon's user (or root) can put a file there. A directory another user owns or
// may write to, or whose parent lets others swap it, could hold artifacts planted with matching
// sidecars; such a cache is not used at all.
import { realpath, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';

const STICKY = 0o1000;

/** Why `dir` cannot be trusted, or undefined when it can (or does not exist yet: it is then made 0700). */
export async function distrust(dir: string, subdirs: readonly string[], uid = process.getuid?.()): Promise<string | undefined> {
  if (uid === undefined) return undefined; // Windows: the directory's ACL is the owner's by default
  let real: string;
  try {
    real = await realpath(dir);
  } catch {
    return undefined;
  }
  const owners = new Set([uid, 0]);
  for (const path of [real, ...subdirs.map((s) => join(real, s))]) {
    const st = await stat(path).catch(() => undefined);
    if (!st) continue;
    if (!st.isDirectory()) return `${path} is not a directory`;
    if (!owners.has(st.uid)) return `${path} belongs to another user (uid ${st.uid})`;
    if ((st.mode & 0o022) !== 0) return `${path} is writable by ${st.mode & 0o002 ? 'every user' : 'its group'} (mode ${(st.mode & 0o7777).toString(8)})`;
  }
  const parent = await stat(dirname(real)).catch(() => undefined);
  if (parent && !owners.has(parent.uid) && (parent.mode & 0o022) !== 0) return `its parent ${dirname(real)} is another user's and writable by others`;
  if (parent && (parent.mode & 0o002) !== 0 && (parent.mode & STICKY) === 0) return `its parent ${dirname(real)} lets every user rename it (mode ${(parent.mode & 0o7777).toString(8)})`;
  return undefined;
}
