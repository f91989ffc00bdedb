// The pip rows: `pip download --no-deps` of 50 projects, one wheel each (pip-wheels.ts), into an
// empty folder with no pip cache, straight from the origin, through proxyd's pypi mirror (cold: a
// fresh daemon and cache; warm: the same daemon again), and from nginx serving the same simple
// index and files from disk (the limit).
import { join } from 'node:path';
import { pipDownload } from './clients.ts';
import { startDelayedOrigin } from './origin.ts';
import { makePipWheels } from './pip-wheels.ts';
import { measure, type Block, type Workload, type WorkloadContext } from './rows.ts';
import { startNginx, startProxyd } from './servers.ts';

export async function pipWorkload(ctx: WorkloadContext): Promise<Workload> {
  const wheels = makePipWheels(join(ctx.dir, 'pypi'));
  const o = await startDelayedOrigin(wheels.route, ctx.delayMs);
  const nginx = await startNginx(join(ctx.dir, 'nginx'), wheels.dir);
  let fresh = 0;
  const download = (index: string) => () => pipDownload(ctx.dir, index, wheels.projects);
  const blocks: Block[] = [{
    rows: ['origin'],
    run: async (record) => record('origin', await measure(download(`${o.base}/simple`), { origin: o })),
  }, {
    rows: ['nginx'],
    ...('error' in nginx ? { missing: nginx.error } : {}),
    run: async (record) => {
      if ('error' in nginx) return;
      record('nginx', await measure(download(`http://127.0.0.1:${nginx.port}/simple`), { pid: nginx.daemon.pid }));
    },
  }, {
    rows: ['proxyd cold', 'proxyd warm'],
    run: async (record) => {
      const px = await startProxyd(join(ctx.dir, `proxyd-${fresh++}`), ctx.repoRoot,
        `mirrors:\n  - { name: pypi, kind: pypi, path: /pypi, upstreams: ['${o.base}'], check: { interval: 1h } }\n`);
      try {
        const run = () => measure(download(`http://127.0.0.1:${px.port}/pypi/simple`), { origin: o, pid: px.daemon.pid, proxydRequests: px.requests });
        record('proxyd cold', await run());
        record('proxyd warm', await run());
      } finally {
        await px.stop();
      }
    },
  }];
  return {
    id: 'pip',
    title: `pip download --no-deps: ${wheels.projects.length} wheels (PEP 503 index with PEP 658 metadata), no pip cache`,
    method: `pip download --no-deps --no-cache-dir of every project into an empty folder; through the origin (${ctx.delayMs} ms a request), proxyd's pypi mirror `
      + '(cold: fresh daemon and cache; warm: the same daemon), and nginx (1 worker, sendfile) serving the same index and files from disk (the limit)',
    rows: blocks.flatMap((b) => b.rows),
    blocks,
    targets: [{ row: 'proxyd warm', against: 'nginx', limit: 1.2 }],
    close: async () => {
      if (!('error' in nginx)) await nginx.stop();
      await o.close();
    },
  };
}
