// The git rows: a clone of a 110 MiB repository of incompressible content (git-repo.ts) from a git
// smart-HTTP server on loopback (the fixtures' git-server.ts: git http-backend behind Node),
// through proxyd's SOCKS5 listener routing every connection to an upstream group of three
// microsocks (type fallback), and through the first of those microsocks alone (the member a
// healthy fallback group uses), alternating.
import { join } from 'node:path';
import { startGitServer } from '../../fixtures/git-server.ts';
import { gitClone } from './clients.ts';
import { bigRepo } from './git-repo.ts';
import { measure, type Block, type Workload, type WorkloadContext } from './rows.ts';
import { startMicrosocks, startProxyd, type Proxyd, type Running } from './servers.ts';

const MEMBERS = 3;
const CLONES = 3;

export async function gitWorkload(ctx: WorkloadContext): Promise<Workload> {
  const repo = await bigRepo(ctx.log);
  const server = await startGitServer(repo.root);
  const url = `http://127.0.0.1:${server.port}/${repo.name}`;
  const socks = await startMicrosocks(MEMBERS);
  let proxyd: Proxyd | { error: string };
  if ('error' in socks) proxyd = { error: socks.error };
  else {
    proxyd = await startProxyd(join(ctx.dir, 'proxyd'), ctx.repoRoot, `proxies:
${socks.map((s, i) => `  - { name: m${i}, type: socks5, server: 127.0.0.1:${s.port} }`).join('\n')}
groups:
  - { name: out, type: fallback, members: [${socks.map((_, i) => `m${i}`).join(', ')}], check: { interval: 30s } }
rules:
  - MATCH,out
`).catch((e: Error) => ({ error: `proxyd: ${e.message}` }));
  }
  const members = 'error' in socks ? [] : socks;
  const counted = { counts: () => ({ requests: server.requests.length, notModified: 0 }) };
  // one block: the two rows alternate, CLONES times each a round (a clone takes about a second here,
  // so a single one is at the mercy of the machine's other work)
  const missing = 'error' in socks ? socks.error : 'error' in proxyd ? proxyd.error : undefined;
  const blocks: Block[] = [{
    rows: ['microsocks alone', 'proxyd → group'],
    ...(missing ? { missing } : {}),
    run: async (record) => {
      const m = members[0]!;
      const px = proxyd as Proxyd;
      for (let i = 0; i < CLONES; i++) {
        record('microsocks alone', await measure(() => gitClone(ctx.dir, url, m.port, repo.head), { origin: counted, pid: m.daemon.pid }));
        record('proxyd → group', await measure(() => gitClone(ctx.dir, url, px.socks, repo.head), { origin: counted, pid: [px.daemon.pid, m.daemon.pid] }));
      }
    },
  }];
  return {
    id: 'git',
    title: `git clone: ${repo.bytes / 2 ** 20} MiB of incompressible content, through an upstream group of ${MEMBERS} microsocks`,
    method: 'git clone over smart HTTP (git http-backend behind a Node server on loopback, no added delay) with http.proxy=socks5://: '
      + `through proxyd (MATCH to a fallback group of ${MEMBERS} microsocks; proxy CPU: proxyd's and the member's that carried it) and through `
      + `that microsocks alone (its CPU); the two alternate, ${CLONES} clones each a round`,
    rows: blocks.flatMap((b) => b.rows),
    blocks,
    targets: [{ row: 'proxyd → group', against: 'microsocks alone', limit: 1.05 }],
    close: async () => {
      if (!('error' in proxyd)) await proxyd.stop();
      await Promise.all(members.map((m: Running) => m.stop()));
      await server.close();
    },
  };
}
