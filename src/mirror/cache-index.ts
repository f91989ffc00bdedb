// The artifact cache's files on disk (the layout is described in cache.ts): naming, the sidecar
// format, durable writes, moving a bad entry aside, and the scan that rebuilds the index at open.
import { createHash, randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

export const OBJECTS = 'objects';
export const TMP = 'tmp';
export const QUARANTINE = 'quarantine';
export const SIDECAR = '.json';

const HEX64 = /^[0-9a-f]{64}$/;
/** sidecars read at once while scanning */
const SCAN_PARALLEL = 16;

/** What the sidecar `objects/<name>.json` holds. */
export interface Sidecar {
  key: string;
  size: number;
  sha256: string;
  meta: Record<string, string>;
  /** ms since the epoch */
  storedAt: number;
  /** the artifact file's inode and mtime when stored (absent in sidecars of earlier versions: taken at open) */
  ino?: number;
  mtimeMs?: number;
}

/** A sidecar, its file's stamp, and its place in the recency order: ms of last use (the artifact's atime). */
export interface Found extends Sidecar {
  name: string;
  used: number;
  mtimeMs: number;
  ino: number;
}

interface ScanResult {
  /** committed entries, least recently used first */
  entries: Found[];
  /** names (under objects/) whose files do not make a valid entry: to be quarantined */
  bad: string[];
  /** files under objects/ that are not part of any entry (a crash between the two renames): to be removed */
  strays: string[];
}

/** The file name of a key: keys are arbitrary strings and never become paths. */
export function nameOf(key: string): string {
  return sha256Hex(key);
}

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function errCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}

function parseSidecar(text: string): Sidecar | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const s = v as Partial<Sidecar>;
  const meta = s.meta as unknown;
  const metaOk = typeof meta === 'object' && meta !== null && !Array.isArray(meta) && Object.values(meta).every((x) => typeof x === 'string');
  const ok = typeof s.key === 'string' && Number.isSafeInteger(s.size) && (s.size as number) >= 0 && typeof s.sha256 === 'string'
    && HEX64.test(s.sha256) && metaOk && typeof s.storedAt === 'number';
  if (!ok || (s.ino !== undefined && !Number.isSafeInteger(s.ino)) || (s.mtimeMs !== undefined && typeof s.mtimeMs !== 'number')) return undefined;
  const side: Sidecar = { key: s.key as string, size: s.size as number, sha256: s.sha256 as string, meta: { ...(meta as Record<string, string>) }, storedAt: s.storedAt as number };
  if (s.ino !== undefined) side.ino = s.ino;
  if (s.mtimeMs !== undefined) side.mtimeMs = s.mtimeMs;
  return side;
}

/** A fresh name under tmp/ for a file about to be written. */
export function tempName(name: string): string {
  return `${name}.${randomBytes(6).toString('hex')}`;
}

/** Creates `path` (must not exist), writes `data`, sets its mtime to `mtimeMs` if given, fsyncs, closes. */
export async function writeDurably(path: string, data: Buffer, mtimeMs?: number): Promise<void> {
  const fh = await open(path, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    if (mtimeMs !== undefined) await fh.utimes(mtimeMs / 1000, mtimeMs / 1000);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync a directory so the renames in it survive a power cut; best effort (not every platform allows it). */
export async function syncDir(path: string): Promise<void> {
  try {
    const fh = await open(path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // durability of the rename only; the entry itself is complete either way
  }
}

/**
 * Moves objects/<name> and its sidecar into quarantine/ (sidecar first: without it the entry no
 * longer exists), deleting what cannot be moved. Says where the artifact went.
 */
export async function quarantine(dir: string, name: string): Promise<string> {
  const stamp = Date.now();
  const outcomes: string[] = [];
  for (const suffix of [SIDECAR, '']) {
    const from = join(dir, OBJECTS, name + suffix);
    const to = join(QUARANTINE, `${name}-${stamp}${suffix}`);
    try {
      await rename(from, join(dir, to));
      outcomes.push(to);
    } catch (err) {
      if (errCode(err) === 'ENOENT') continue;
      outcomes.push(await rm(from, { force: true }).then(() => 'deleted', (e: unknown) => `left in place (${errCode(e)})`));
    }
  }
  return outcomes.at(-1) ?? 'already gone';
}

/** Empties tmp/: anything there is a write that a crash interrupted. */
export async function clearTemp(dir: string): Promise<void> {
  const tmp = join(dir, TMP);
  for (const name of await readdir(tmp)) await rm(join(tmp, name), { recursive: true, force: true });
}

/** Reads objects/ into entries, least recently used first; never modifies anything. */
export async function scan(dir: string): Promise<ScanResult> {
  const objects = join(dir, OBJECTS);
  const names = await readdir(objects);
  const artifacts = new Set(names.filter((n) => HEX64.test(n)));
  const sidecars = names.filter((n) => n.endsWith(SIDECAR) && HEX64.test(n.slice(0, -SIDECAR.length))).map((n) => n.slice(0, -SIDECAR.length));
  const committed = new Set(sidecars);
  const strays = names.filter((n) => !committed.has(n) && !(n.endsWith(SIDECAR) && committed.has(n.slice(0, -SIDECAR.length))));
  const entries: Found[] = [];
  const bad: string[] = [];

  const check = async (name: string): Promise<void> => {
    if (!artifacts.has(name)) return void bad.push(name); // sidecar of a vanished artifact
    try {
      const side = parseSidecar(await readFile(join(objects, name + SIDECAR), 'utf8'));
      const st = await stat(join(objects, name));
      // an artifact changed while no daemon watched (rewritten: another mtime; replaced: another inode) is bad
      const same = side && nameOf(side.key) === name && st.isFile() && st.size === side.size && (side.ino === undefined || side.ino === st.ino)
        && (side.mtimeMs === undefined || sameTime(side.mtimeMs, st.mtimeMs));
      // before stamps, the mtime held the recency; since, the atime does
      if (same) entries.push({ ...side, name, used: Math.round(side.mtimeMs === undefined ? st.mtimeMs : st.atimeMs), mtimeMs: st.mtimeMs, ino: st.ino });
      else bad.push(name);
    } catch {
      bad.push(name);
    }
  };
  for (let i = 0; i < sidecars.length; i += SCAN_PARALLEL) await Promise.all(sidecars.slice(i, i + SCAN_PARALLEL).map(check));

  entries.sort((a, b) => a.used - b.used || (a.name < b.name ? -1 : 1));
  return { entries, bad, strays };
}

/** two file times, in ms, that are the same (a float read back from the file system may differ in its last bits) */
export function sameTime(a: number, b: number): boolean {
  return Math.abs(a - b) < 0.001;
}
