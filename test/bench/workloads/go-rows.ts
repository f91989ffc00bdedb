// The Go rows: `go mod download` of 100 module versions (go-modules.ts) with an empty module cache
// each time, straight from the origin, through proxyd's goproxy mirror (cold: a fresh daemon and
// cache, every zip and go.mod checked against a verified checksum-database lookup; warm: the same
// daemon again), and with GOPROXY=file:// naming the same files on disk: the go command reading
// a local directory, the limit for a warm mirror.
import { join } from 'node:path';
import { goModDownload } from './clients.ts';
import { makeGoModules } from './go-modules.ts';
import { startDelayedOrigin } from './origin.ts';
import { measure, type Block, type Workload, type WorkloadContext } from './rows.ts';
import { startProxyd } from './servers.ts';

export async function goWorkload(ctx: WorkloadContext): Promise<Workload> {
  const mods = makeGoModules(join(ctx.dir, 'goproxy'));
  const o = await startDelayedOrigin(mods.route, ctx.delayMs);
  let fresh = 0;
  const download = (goproxy: string) => () => goModDownload(ctx.dir, goproxy, mods.versions);
  const blocks: Block[] = [{
    rows: ['origin'],
    run: async (record) => record('origin', await measure(download(o.base), { origin: o })),
  }, {
    rows: ['file://'],
    run: async (record) => record('file://', await measure(download(`file://${mods.dir}`), {})),
  }, {
    rows: ['proxyd cold', 'proxyd warm'],
    run: async (record) => {
      const px = await startProxyd(join(ctx.dir, `proxyd-${fresh++}`), ctx.repoRoot,
        `mirrors:\n  - { name: go, kind: goproxy, path: /go, upstreams: ['${o.base}'], check: { interval: 1h }, sumdb-key: ${JSON.stringify(mods.sumdbKey)} }\n`);
      try {
        const run = () => measure(download(`http://127.0.0.1:${px.port}/go`), { origin: o, pid: px.daemon.pid, proxydRequests: px.requests });
        record('proxyd cold', await run());
        record('proxyd warm', await run());
      } finally {
        await px.stop();
      }
    },
  }];
  return {
    id: 'go',
    title: `go mod download: ${mods.versions.length} module versions (real module zips), empty module cache each time`,
    method: `go mod download -json of every module@version, GOSUMDB=off, GOFLAGS=-modcacherw, a fresh GOMODCACHE; through the origin (${ctx.delayMs} ms a request), `
      + 'proxyd\'s goproxy mirror checking every zip and go.mod against a signed checksum-database lookup (sumdb-key: the test database\'s key; cold: '
      + 'fresh daemon and cache; warm: the same daemon), and GOPROXY=file:// on the same files (the limit)',
    rows: blocks.flatMap((b) => b.rows),
    blocks,
    targets: [{ row: 'proxyd warm', against: 'file://', limit: 1.3 }],
    close: () => o.close(),
  };
}
