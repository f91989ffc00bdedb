// The npm rows: `npm ci` of the generated project (npm-project.ts) with an empty npm cache each
// time, straight from the origin (with its delay, and with none), through proxyd's npm mirror
// (cold: a fresh daemon and cache; warm: the same daemon again; a few minutes later: the same
// daemon with its clock moved 10 minutes on, see clock.mjs) and through verdaccio 6.8.0 with the
// origin as its uplink (cold, warm, a few minutes later, the same way). npm ci asks for no packument
// (the lock names every tarball), so "a few minutes later" is also measured with npm install
// without a lock, which resolves every version from the packuments: the expired metadata path.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { npmCi, npmLock } from './clients.ts';
import { lockedTarballs, makeNpmProject, writeProjectFor } from './npm-project.ts';
import { startDelayedOrigin, type DelayedOrigin } from './origin.ts';
import { measure, type Block, type Workload, type WorkloadContext } from './rows.ts';
import { startProxyd, startVerdaccio, verdaccioMissing } from './servers.ts';

export async function npmWorkload(ctx: WorkloadContext): Promise<Workload> {
  const project = makeNpmProject();
  let origin: DelayedOrigin | undefined;
  origin = await startDelayedOrigin(project.route(() => origin!.base), 0);
  const o = origin;
  const registryOfOrigin = `${o.base}/`;
  // the lock, made once (with no delay: it is not measured)
  const lockDir = join(ctx.dir, 'lock', 'project');
  writeProjectFor(lockDir, project, '', '', '');
  await npmLock(lockDir, registryOfOrigin);
  const lock = readFileSync(join(lockDir, 'package-lock.json'), 'utf8');
  const installs = lockedTarballs(lockDir).length;
  o.delayMs = ctx.delayMs;

  /** a project folder whose lock names `registry` */
  const projectFor = (name: string, registry: string) => {
    const dir = join(ctx.dir, name, 'project');
    writeProjectFor(dir, project, lock, registryOfOrigin, registry);
    const urls = lockedTarballs(dir);
    if (urls.length !== installs || !urls.every((u) => u.startsWith(registry))) throw new Error(`the lock for ${name} does not name ${registry} throughout`);
    return dir;
  };
  const direct = projectFor('direct', registryOfOrigin);
  /** a project folder with package.json only, for npm install */
  const unlocked = (name: string) => {
    const dir = join(ctx.dir, name, 'project');
    writeProjectFor(dir, project, '', '', '');
    return dir;
  };
  const directUnlocked = unlocked('direct-install');
  let fresh = 0;

  const origin0: Block = {
    rows: ['origin, no delay'],
    run: async (record) => {
      o.delayMs = 0;
      try {
        record('origin, no delay', await measure(() => npmCi(direct, registryOfOrigin, installs), { origin: o }));
      } finally {
        o.delayMs = ctx.delayMs;
      }
    },
  };
  const originDelayed: Block = {
    rows: ['origin', 'origin, npm install'],
    run: async (record) => {
      record('origin', await measure(() => npmCi(direct, registryOfOrigin, installs), { origin: o }));
      record('origin, npm install', await measure(() => npmCi(directUnlocked, registryOfOrigin, installs, true), { origin: o }));
    },
  };
  const proxyd: Block = {
    rows: ['proxyd cold', 'proxyd warm', 'proxyd minutes later', 'proxyd minutes later, npm install'],
    run: async (record) => {
      const home = join(ctx.dir, `proxyd-${fresh++}`);
      const px = await startProxyd(home, ctx.repoRoot,
        `mirrors:\n  - { name: npm, kind: npm, path: /npm, upstreams: ['${o.base}'], check: { interval: 1h } }\n`);
      try {
        const registry = `http://127.0.0.1:${px.port}/npm/`;
        const dir = projectFor(`proxyd-project-${fresh}`, registry);
        const run = (install = false) => measure(() => npmCi(install ? unlocked(`proxyd-install-${fresh}`) : dir, registry, installs, install),
          { origin: o, pid: px.daemon.pid, proxydRequests: px.requests });
        record('proxyd cold', await run());
        record('proxyd warm', await run());
        await px.jumpClock();
        record('proxyd minutes later', await run());
        await px.jumpClock();
        record('proxyd minutes later, npm install', await run(true));
      } finally {
        await px.stop();
        rmSync(join(home, 'cache'), { recursive: true, force: true });
      }
    },
  };
  const missing = verdaccioMissing();
  const verdaccio: Block = {
    rows: ['verdaccio cold', 'verdaccio warm', 'verdaccio minutes later', 'verdaccio minutes later, npm install'],
    ...(missing ? { missing } : {}),
    run: async (record) => {
      const home = join(ctx.dir, `verdaccio-${fresh++}`);
      const v = await startVerdaccio(home, o.base);
      try {
        const registry = `http://127.0.0.1:${v.port}/`;
        const dir = projectFor(`verdaccio-project-${fresh}`, registry);
        const run = (install = false) => measure(() => npmCi(install ? unlocked(`verdaccio-install-${fresh}`) : dir, registry, installs, install),
          { origin: o, pid: v.daemon.pid });
        record('verdaccio cold', await run());
        record('verdaccio warm', await run());
        await v.jumpClock();
        record('verdaccio minutes later', await run());
        await v.jumpClock();
        record('verdaccio minutes later, npm install', await run(true));
      } finally {
        await v.stop();
        rmSync(join(home, 'storage'), { recursive: true, force: true });
      }
    },
  };
  const blocks = [originDelayed, origin0, proxyd, verdaccio];
  return {
    id: 'npm',
    title: `npm ci: ${installs} packages (${project.packages.size} names, a dependency tree with nested versions), empty npm cache each time`,
    method: `npm ci with a package-lock made once, --cache in a fresh folder, scripts off; through the origin (${ctx.delayMs} ms a request, and 0 ms), `
      + 'proxyd\'s npm mirror (cold: fresh daemon and cache; warm: the same daemon; minutes later: its clock moved 10 min on, so the one-minute '
      + 'metadata window has lapsed while every artifact stays cached) and verdaccio 6.8.0 with the origin as its uplink (the same three, '
      + 'its clock moved past its 2-minute uplink maxage); npm ci asks for no packument, so ", npm install" rows (npm install --no-package-lock, '
      + 'every version resolved from the packuments) show the expired metadata, after a second 10-minute move',
    rows: blocks.flatMap((b) => b.rows),
    blocks,
    targets: [
      { row: 'proxyd warm', against: 'verdaccio warm', limit: 0.8 },
      { row: 'proxyd warm', against: 'origin, no delay', limit: 1.3 },
      { row: 'proxyd cold', against: 'verdaccio cold', limit: 1.0 },
      { row: 'proxyd minutes later', against: 'origin', limit: 0.6 },
      { row: 'proxyd minutes later', against: 'verdaccio minutes later', limit: 0.8 },
      // npm ci asks for no packument (the lock names every tarball): the same two with npm install, which does
      { row: 'proxyd minutes later, npm install', against: 'origin, npm install', limit: 0.6 },
      { row: 'proxyd minutes later, npm install', against: 'verdaccio minutes later, npm install', limit: 0.8 },
    ],
    close: () => o.close(),
  };
}
