// The real clients of the workload rows, each timed from spawn to exit, in a clean environment
// confined to a fresh directory (the mirror tests' environments: no proxy variables, no user or
// system config), each checked to have fetched everything before its time counts.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { git, gitEnv } from '../../fixtures/git-server.ts';
import { goEnv, npmEnv, pipEnv } from '../../fixtures/mirror-clients.ts';
import { run, type RunResult } from '../../fixtures/run.ts';

/** The longest one client run may take (each row is also checked to be complete). */
const CLIENT_TIMEOUT_MS = 300_000;

async function timed(what: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ seconds: number; r: RunResult }> {
  const t0 = performance.now();
  const r = await run(cmd, args, { env, cwd, timeoutMs: CLIENT_TIMEOUT_MS });
  const seconds = (performance.now() - t0) / 1000;
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ').slice(0, 300)}`);
  return { seconds, r };
}

/** Installed package folders under node_modules, nested ones included. */
function installed(dir: string): number {
  let n = 0;
  let names: string[];
  try { names = readdirSync(join(dir, 'node_modules')); } catch { return 0; }
  for (const name of names) if (name.startsWith('wl-')) n += 1 + installed(join(dir, 'node_modules', name));
  return n;
}

/**
 * `npm ci` in `project` (package.json and package-lock.json written by the caller) with an empty
 * npm cache (a fresh --cache directory), scripts off; node_modules and the cache are removed after.
 * `install`: `npm install --no-package-lock` instead (package.json only: every version is resolved
 * from the packuments, as when a lock is made or updated).
 */
export async function npmCi(project: string, registry: string, expect: number, install = false): Promise<number> {
  const cache = join(project, '..', `npm-cache-${process.hrtime.bigint()}`);
  const env = npmEnv(join(project, '..'));
  const args = [...(install ? ['install', '--no-package-lock'] : ['ci']), `--registry=${registry}`, `--cache=${cache}`, '--no-audit', '--no-fund', '--no-update-notifier',
    '--ignore-scripts', '--loglevel=error', '--fetch-retries=0', '--fetch-timeout=60000'];
  try {
    const { seconds } = await timed(`npm ${args[0]}`, 'npm', args, env, project);
    const got = installed(project);
    if (got !== expect) throw new Error(`npm ${args[0]} installed ${got} packages, not ${expect}`);
    return seconds;
  } finally {
    rmSync(cache, { recursive: true, force: true });
    rmSync(join(project, 'node_modules'), { recursive: true, force: true });
  }
}

/** `npm install --package-lock-only` once against `registry`: the lock every npm ci row uses. */
export async function npmLock(project: string, registry: string): Promise<void> {
  const env = npmEnv(join(project, '..'));
  await timed('npm install --package-lock-only', 'npm', ['install', '--package-lock-only', `--registry=${registry}`,
    `--cache=${join(project, '..', 'npm-cache-lock')}`, '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], env, project);
  rmSync(join(project, '..', 'npm-cache-lock'), { recursive: true, force: true });
}

/** `go mod download` of every version with an empty module cache (GOSUMDB=off, -modcacherw); removed after. */
export async function goModDownload(dir: string, goproxy: string, versions: string[]): Promise<number> {
  const home = join(dir, `go-${process.hrtime.bigint()}`);
  mkdirSync(home, { recursive: true });
  const env = goEnv(home, goproxy, { GOFLAGS: '-modcacherw' });
  try {
    const { seconds, r } = await timed('go mod download', 'go', ['mod', 'download', '-json', ...versions], env, home);
    const zips = (r.stdout.match(/"Zip": "/g) ?? []).length;
    if (zips !== versions.length || /"Error"/.test(r.stdout)) throw new Error(`go mod download fetched ${zips} zips of ${versions.length}: ${r.stdout.slice(0, 200)}`);
    return seconds;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** `pip download --no-deps` of every project into an empty folder, no pip cache; removed after. */
export async function pipDownload(dir: string, indexUrl: string, projects: string[]): Promise<number> {
  const home = join(dir, `pip-${process.hrtime.bigint()}`);
  const dest = join(home, 'wheels');
  mkdirSync(dest, { recursive: true });
  const args = ['-m', 'pip', 'download', '--no-deps', '--no-cache-dir', `--index-url=${indexUrl}`, '-d', dest, '--retries=0', '--timeout=60',
    '--disable-pip-version-check', '-q', ...projects];
  try {
    const { seconds } = await timed('pip download', 'python3', args, pipEnv(home), home);
    const got = readdirSync(dest).filter((f) => f.endsWith('.whl')).length;
    if (got !== projects.length) throw new Error(`pip download saved ${got} wheels, not ${projects.length}`);
    return seconds;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** `git clone` of `url` through the SOCKS5 proxy at `socksPort`; checked to end at `head`, removed after. */
export async function gitClone(dir: string, url: string, socksPort: number, head: string): Promise<number> {
  const home = join(dir, `git-${process.hrtime.bigint()}`);
  mkdirSync(home, { recursive: true });
  const env = gitEnv(home);
  try {
    const { seconds } = await timed('git clone', 'git', ['-c', `http.proxy=socks5://127.0.0.1:${socksPort}`, 'clone', '-q', url, join(home, 'clone')], env, home);
    const got = (await git(['rev-parse', 'HEAD'], { cwd: join(home, 'clone'), env })).stdout.trim();
    if (got !== head) throw new Error(`git clone ended at ${got}, not ${head}`);
    return seconds;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
