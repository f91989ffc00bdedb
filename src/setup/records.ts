// What `proxyctl setup` changed, kept in the user's state directory so that --undo can put each
// file back byte for byte: its bytes before the first setup (or that it was not there), the
// directories setup made for it, and a hash of it after the last setup (a file changed since is
// restored value by value instead, through the tool, so that later edits are not lost).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { writeAtomic } from '../service/files.js';
import { UserError } from '../user-error.js';
import type { Place } from './tools.js';

export const SETUP_TARGETS = ['git', 'go', 'npm', 'pip', 'ssh'] as const;
export type SetupTarget = (typeof SETUP_TARGETS)[number];

export const SetupRecord = z.object({
  version: z.literal(1),
  target: z.enum(SETUP_TARGETS),
  file: z.string(),
  /** base64 of the file before the first setup; null: it did not exist */
  before: z.string().nullable(),
  mode: z.number().int().nullable(),
  /** sha256 of the file after the last setup; null: absent */
  after: z.string().nullable(),
  /** directories made for the file, outermost first */
  dirs: z.array(z.string()),
  /** other files setup made (the backup of a file edited directly) */
  created: z.array(z.string()),
  /** each key setup changed, with its value before the first setup (null: unset) */
  values: z.array(z.object({ key: z.string(), before: z.string().nullable() })),
});
export type SetupRecord = z.infer<typeof SetupRecord>;

/** Linux $XDG_STATE_HOME/proxyd/setup (~/.local/state/…), macOS ~/Library/Application Support/proxyd/setup, Windows %LOCALAPPDATA%\proxyd\setup */
export function setupStateDir(place: Place, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') return join(place.env.LOCALAPPDATA ?? join(place.home, 'AppData', 'Local'), 'proxyd', 'setup');
  if (platform === 'darwin') return join(place.home, 'Library', 'Application Support', 'proxyd', 'setup');
  return join(place.env.XDG_STATE_HOME || join(place.home, '.local', 'state'), 'proxyd', 'setup');
}

export class Records {
  constructor(readonly dir: string) {}

  #path(target: SetupTarget): string {
    return join(this.dir, `${target}.json`);
  }

  read(target: SetupTarget): SetupRecord | undefined {
    const path = this.#path(target);
    if (!existsSync(path)) return undefined;
    const parsed = SetupRecord.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    if (!parsed.success) throw new UserError(`${path} is not a record of proxyctl setup (${parsed.error.issues[0]?.message}): remove it to start afresh`);
    return parsed.data;
  }

  write(record: SetupRecord): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeAtomic(this.#path(record.target), `${JSON.stringify(record, null, 2)}\n`, 0o600);
  }

  remove(target: SetupTarget): void {
    rmSync(this.#path(target), { force: true });
  }
}

/** the file's bytes and mode, or null when it is not there */
export function snapshot(file: string): { bytes: Buffer | null; mode: number | null } {
  try {
    return { bytes: readFileSync(file), mode: statSync(file).mode & 0o7777 };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { bytes: null, mode: null };
    throw err;
  }
}

export function hashOf(bytes: Buffer | null): string | null {
  return bytes ? createHash('sha256').update(bytes).digest('hex') : null;
}

/** the directories above `file` that are not there, outermost first */
export function missingDirs(file: string): string[] {
  const missing: string[] = [];
  for (let d = dirname(file); !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
  return missing;
}

/** Puts the file back as the record has it before setup, and removes what setup made; false when the file changed since setup. */
export function restoreExactly(record: SetupRecord): boolean {
  if (hashOf(snapshot(record.file).bytes) !== record.after) return false;
  if (record.before === null) rmSync(record.file, { force: true });
  else writeAtomic(record.file, Buffer.from(record.before, 'base64'), record.mode ?? 0o644);
  for (const f of record.created) rmSync(f, { force: true });
  removeEmptyDirs(record.dirs);
  return true;
}

/** deepest first, each only when empty */
export function removeEmptyDirs(dirs: readonly string[]): void {
  for (const d of [...dirs].reverse()) {
    try {
      rmdirSync(d);
    } catch {
      // not empty (something else lives there now) or gone: it stays as it is
    }
  }
}
