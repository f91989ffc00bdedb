// What `proxyctl service install` made, kept in the state directory, so that uninstall removes
// exactly that: the files it wrote (a config changed since is kept), the directories and
// accounts it created, and nothing that was there before.
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { UserError } from '../user-error.js';
import { writeAtomic } from './files.js';
import { PLATFORMS, type Platform, type Scope } from './layout.js';

export const Manifest = z.object({
  version: z.literal(1),
  platform: z.enum(PLATFORMS),
  scope: z.enum(['user', 'system']),
  /** the config file the service runs with (written by install, or named by --config) */
  config: z.string(),
  /** started without a service manager: a background process with a pid file */
  background: z.boolean(),
  /** sha256 of what install wrote (a file changed since is kept), or null: ours whatever it holds (logs) */
  files: z.array(z.object({ path: z.string(), sha256: z.string().nullable() })),
  /** directories install (or a command it ran) created, outermost first; removed when empty */
  dirs: z.array(z.string()),
  /** directories of the service's own logs that install created: removed with what is in them */
  logDirs: z.array(z.string()),
  createdUser: z.boolean(),
  createdGroup: z.boolean(),
  /** users install added to the group, when the group was there before */
  addedToGroup: z.array(z.string()),
});
export type Manifest = z.infer<typeof Manifest>;

export function emptyManifest(platform: Platform, scope: Scope, config: string): Manifest {
  return { version: 1, platform, scope, config, background: false, files: [], dirs: [], logDirs: [], createdUser: false, createdGroup: false, addedToGroup: [] };
}

/** the manifest at `file` on this disk, or undefined when install has not run (for that scope) */
export function readManifest(file: string): Manifest | undefined {
  if (!existsSync(file)) return undefined;
  const parsed = Manifest.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new UserError(`${file} is not an install manifest of this proxyctl: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

export function writeManifest(file: string, m: Manifest): void {
  writeAtomic(file, `${JSON.stringify(m, null, 2)}\n`, 0o644);
}

export function recordFile(m: Manifest, path: string, sha256: string | null): void {
  const known = m.files.find((f) => f.path === path);
  if (known) known.sha256 = sha256;
  else m.files.push({ path, sha256 });
}

export function recordDirs(m: Manifest, dirs: string[]): void {
  for (const d of dirs) if (!m.dirs.includes(d)) m.dirs.push(d);
}
