// The file side of installing: the target's paths on this disk (--root), atomic writes, directories
// made level by level (so that uninstall can remove exactly those), owners by account name.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { UserError } from '../user-error.js';

/** An account by name, resolved from /etc/passwd and /etc/group when the change is made. */
export interface Owner {
  user?: string;
  group?: string;
}

/**
 * Where a path of the target machine is on this disk: itself, or under `root` (like DESTDIR).
 * A Windows path `C:\ProgramData\x` lands at ROOT/C/ProgramData/x.
 */
export function onDisk(path: string, root: string | undefined): string {
  if (!root) return path;
  return join(root, ...path.split(/[\\/]+/).map((part) => part.replace(/:$/, '')).filter(Boolean));
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Writes through a temporary file in the same directory and a rename: never a half-written file.
 * The temporary file is made new (O_EXCL) under a random name, so that a link someone put in a
 * directory they own (the pid file's) is never followed by root.
 */
export function writeAtomic(file: string, content: string | Uint8Array, mode: number, owner?: Owner): void {
  const temp = join(dirname(file), `.${file.split(sep).pop()}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', mode);
  try {
    writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    chmodSync(temp, mode); // the umask may have narrowed it
    if (owner) chown(temp, owner);
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}

/** Makes `dir` and any missing parents (0755); `dir` itself gets `mode` and `owner`. */
export function makeDirs(dir: string, mode: number, owner?: Owner): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, mode);
  if (owner) chown(dir, owner);
}

export function chown(path: string, owner: Owner): void {
  chownSync(path, owner.user ? accountId('passwd', owner.user) : -1, owner.group ? accountId('group', owner.group) : -1);
}

/** uid or gid by name, from /etc/passwd or /etc/group; undefined when there is none */
export function findAccount(db: 'passwd' | 'group', name: string): { id: number; members: string[] } | undefined {
  const line = readFileSync(`/etc/${db}`, 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) return undefined;
  const fields = line.split(':');
  return { id: Number(fields[2]), members: db === 'group' ? (fields[3] ?? '').split(',').filter(Boolean) : [] };
}

function accountId(db: 'passwd' | 'group', name: string): number {
  const found = findAccount(db, name);
  if (!found) throw new UserError(`no ${db === 'passwd' ? 'user' : 'group'} "${name}" in /etc/${db}`);
  return found.id;
}
