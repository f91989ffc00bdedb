// The git workload's data: a bare repository of 110 MiB of incompressible content (11 files of
// 10 MiB of random bytes over 3 commits), repacked into one pack so that `git http-backend` serves a
// clone by reusing it. Made once and kept between runs in $TMPDIR/proxyd-bench-workloads/git (a
// marker file says it is complete); delete that folder to make a new one.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { git, gitEnv } from '../../fixtures/git-server.ts';

const FILES = 11;
const FILE_BYTES = 10 * 1024 * 1024;

export interface GitRepo {
  /** GIT_PROJECT_ROOT: holds big.git */
  root: string;
  name: string;
  bytes: number;
  /** the commit a clone must end at */
  head: string;
}

export async function bigRepo(log: (line: string) => void): Promise<GitRepo> {
  const dir = join(os.tmpdir(), 'proxyd-bench-workloads', 'git');
  const root = join(dir, 'root');
  const marker = join(dir, 'complete.json');
  if (existsSync(marker)) return JSON.parse(readFileSync(marker, 'utf8')) as GitRepo;
  log(`  making the git repository (${(FILES * FILE_BYTES) / 2 ** 20} MiB, once) in ${dir} ...`);
  rmSync(dir, { recursive: true, force: true });
  const home = join(dir, 'home');
  const work = join(dir, 'work');
  mkdirSync(root, { recursive: true });
  mkdirSync(home);
  const env = gitEnv(home);
  const bare = join(root, 'big.git');
  const long = { env, timeoutMs: 300_000 };
  await git(['init', '-q', '--bare', '-b', 'main', bare], long);
  await git(['init', '-q', '-b', 'main', work], long);
  for (let c = 0; c < 3; c++) {
    const names: string[] = [];
    for (let f = c; f < FILES; f += 3) {
      const name = `blob-${String(f).padStart(2, '0')}.bin`;
      writeFileSync(join(work, name), randomBytes(FILE_BYTES));
      names.push(name);
    }
    writeFileSync(join(work, 'README.md'), `# workload repository\n\ncommit ${c + 1}\n`);
    await git(['add', '--', 'README.md', ...names], { ...long, cwd: work });
    await git(['commit', '-q', '-m', `commit ${c + 1}`], { ...long, cwd: work });
  }
  await git(['push', '-q', bare, 'HEAD:refs/heads/main'], { ...long, cwd: work });
  await git(['repack', '-a', '-d', '-q'], { ...long, cwd: bare });
  const head = (await git(['rev-parse', 'HEAD'], { ...long, cwd: work })).stdout.trim();
  rmSync(work, { recursive: true, force: true });
  const repo: GitRepo = { root, name: 'big.git', bytes: FILES * FILE_BYTES, head };
  writeFileSync(marker, JSON.stringify(repo));
  return repo;
}
