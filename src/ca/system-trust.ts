// `proxyctl ca trust --system` and `untrust --system`: the CA into the operating system's trust
// store and exactly out again. What trust added is recorded in a manifest in root's own directory
// (never one the daemon's account may write: untrust deletes what it names).
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { z } from 'zod';
import type { CaReport } from '../control/api.js';
import { writeAtomic } from '../service/files.js';
import { PLATFORMS, type Platform } from '../service/layout.js';
import type { Run } from '../service/run.js';
import { UserError } from '../user-error.js';

export const DISTROS = ['debian', 'fedora'] as const;
export type Distro = (typeof DISTROS)[number];

/** where the certificates go on one kind of system, and the commands that take them in and out */
interface Store {
  /** where each CA is written (one file each) */
  dir: string;
  file(fingerprint: string): string;
  /** run after adding one file (macOS, Windows) */
  add(file: string): string[][];
  /** run before removing one file */
  remove(file: string, sha1: string): string[][];
  /** run once after the files changed (Linux), trusting and untrusting */
  refresh?: { trust: string[]; untrust: string[] };
}

const Manifest = z.object({
  version: z.literal(1),
  platform: z.enum(PLATFORMS),
  distro: z.enum(DISTROS).optional(),
  certs: z.array(z.object({ fingerprint: z.string(), sha1: z.string(), file: z.string() })),
  /** directories trust created, outermost first; untrust removes them when empty */
  dirs: z.array(z.string()),
});
type Manifest = z.infer<typeof Manifest>;

const KEYCHAIN = '/Library/Keychains/System.keychain';

function storeFor(platform: Platform, distro: Distro | undefined, home: string): Store {
  if (platform === 'windows') {
    const dir = `${home}\\ca-trust`;
    return { dir, file: (fp) => `${dir}\\${fileName(fp, 'crt')}`, add: (f) => [['certutil', '-addstore', 'Root', f]], remove: (_f, sha1) => [['certutil', '-delstore', 'Root', sha1]] };
  }
  if (platform === 'darwin') {
    const dir = `${home}/ca-trust`;
    return {
      dir,
      file: (fp) => `${dir}/${fileName(fp, 'pem')}`,
      add: (f) => [['security', 'add-trusted-cert', '-d', '-r', 'trustRoot', '-k', KEYCHAIN, f]],
      remove: (f, sha1) => [['security', 'remove-trusted-cert', '-d', f], ['security', 'delete-certificate', '-Z', sha1, KEYCHAIN]],
    };
  }
  return linuxStore(distro ?? 'debian');
}

export function linuxStore(distro: Distro): Store {
  if (distro === 'fedora') {
    const dir = '/etc/pki/ca-trust/source/anchors';
    const refresh = ['update-ca-trust', 'extract'];
    return { dir, file: (fp) => `${dir}/${fileName(fp, 'pem')}`, add: () => [], remove: () => [], refresh: { trust: refresh, untrust: refresh } };
  }
  // update-ca-certificates takes *.crt files, also in subdirectories; --fresh drops the links to removed ones
  const dir = '/usr/local/share/ca-certificates/proxyd';
  return { dir, file: (fp) => `${dir}/${fileName(fp, 'crt')}`, add: () => [], remove: () => [], refresh: { trust: ['update-ca-certificates'], untrust: ['update-ca-certificates', '--fresh'] } };
}

function fileName(fingerprint: string, ext: string): string {
  return `proxyd-ca-${fingerprint.replace(/:/g, '').slice(0, 16).toLowerCase()}.${ext}`;
}

/** the Linux family by the tool it has (--distro names one elsewhere) */
export function detectDistro(): Distro | undefined {
  const has = (path: string) => existsSync(path);
  if (has('/usr/sbin/update-ca-certificates') || has('/etc/debian_version')) return 'debian';
  if (has('/usr/bin/update-ca-trust') || has('/etc/fedora-release') || has('/etc/redhat-release')) return 'fedora';
  return undefined;
}

/** Adds every CA in use that is not in the store yet. `home`: root's proxyd directory (the manifest's). */
export function trust(run: Run, report: CaReport, distro: Distro | undefined, home: string): void {
  const platform = run.layout.platform;
  const store = storeFor(platform, distro, home);
  const manifestPath = manifestFile(run, home);
  const manifest = readManifest(run, manifestPath) ?? { version: 1, platform, ...(distro ? { distro } : {}), certs: [], dirs: [] };
  const fresh = report.cas.filter((ca) => !manifest.certs.some((c) => c.fingerprint === ca.fingerprint));
  if (!fresh.length) return run.say(`the system store already trusts ${report.cas.length === 1 ? 'the CA' : `all ${report.cas.length} CAs`} in use`);
  record(manifest, run.makeDirs(store.dir, 0o755));
  for (const ca of fresh) {
    const file = store.file(ca.fingerprint);
    run.write(file, ca.pem, 0o644);
    manifest.certs.push({ fingerprint: ca.fingerprint, sha1: new X509Certificate(ca.pem).fingerprint.replace(/:/g, ''), file });
    for (const argv of store.add(file)) command(run, argv);
  }
  if (store.refresh) command(run, store.refresh.trust);
  record(manifest, run.makeDirs(run.layout.path.dirname(manifestPath), 0o755));
  if (run.dryRun) return run.say(`record what was added in ${manifestPath}`);
  writeAtomic(run.disk(manifestPath), `${JSON.stringify(manifest, null, 2)}\n`, 0o644);
}

/** Removes exactly what trust added: its files, the store's entries, the directories it made. */
export function untrust(run: Run, home: string): void {
  const manifestPath = manifestFile(run, home);
  const manifest = readManifest(run, manifestPath);
  if (!manifest) return run.say(`nothing to undo: ${manifestPath} is not there (proxyctl ca trust --system has not run here)`);
  const store = storeFor(manifest.platform, manifest.distro, home);
  for (const cert of manifest.certs) {
    if (run.layout.path.dirname(cert.file) !== store.dir) throw new UserError(`${manifestPath} names ${cert.file}, outside ${store.dir}: not removing it`);
    for (const argv of store.remove(cert.file, cert.sha1)) command(run, argv, 'not in the store');
    remove(run, cert.file);
  }
  if (store.refresh) command(run, store.refresh.untrust);
  remove(run, manifestPath);
  for (const dir of [...manifest.dirs].reverse()) removeEmptyDir(run, dir);
}

function manifestFile(run: Run, home: string): string {
  return run.layout.path.join(home, 'ca-trust.json');
}

function readManifest(run: Run, path: string): Manifest | undefined {
  if (!existsSync(run.disk(path))) return undefined;
  const parsed = Manifest.safeParse(JSON.parse(readFileSync(run.disk(path), 'utf8')));
  if (!parsed.success) throw new UserError(`${path} is not a trust manifest of this proxyctl: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

function record(m: Manifest, dirs: string[]): void {
  for (const d of dirs) if (!m.dirs.includes(d)) m.dirs.push(d);
}

/** a command of the store: run on this system; under --root only shown */
function command(run: Run, argv: string[], mayFail?: string): void {
  if (run.root) run.say(`not run under --root: ${argv.join(' ')}`);
  else run.change(argv, mayFail);
}

function remove(run: Run, path: string): void {
  if (run.dryRun) return run.say(`remove ${path}`);
  rmSync(run.disk(path), { force: true });
  run.say(`removed ${path}`);
}

function removeEmptyDir(run: Run, dir: string): void {
  if (run.dryRun) return run.say(`remove ${dir} (when empty)`);
  try {
    rmdirSync(run.disk(dir));
    run.say(`removed ${dir}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'ENOTEMPTY') throw err;
  }
}
