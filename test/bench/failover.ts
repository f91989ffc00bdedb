// Failover time: a fallback group of two microsocks upstreams; tunnels are opened one after the
// other through proxyd (a byte echoed through each); the first member is killed mid-run. The
// figures: the time from the kill to the first byte of the next tunnel, and how many tunnels
// failed meanwhile (the group should retry on the second member before answering the client).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openTunnel } from './clients.ts';
import { Daemon, findBinary, freePort, waitForPort } from './proc.ts';

export interface FailoverResult {
  /** ms from killing the first member to the first byte of the next successful tunnel */
  firstByteMs: number;
  /** tunnels that failed after the kill */
  failed: number;
  /** tunnels through the second member after the kill, within the run */
  after: number;
}

const BEFORE = 50; // tunnels through the first member before it is killed
const AFTER = 50;

export async function failover(dir: string, repoRoot: string, echoPort: number): Promise<FailoverResult | { error: string }> {
  const bin = findBinary('microsocks');
  if (!bin) return { error: 'microsocks not installed' };
  const [pa, pb, socks, http] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const a = new Daemon('microsocks-a', bin, ['-i', '127.0.0.1', '-p', String(pa)]);
  const b = new Daemon('microsocks-b', bin, ['-i', '127.0.0.1', '-p', String(pb)]);
  const conf = join(dir, 'proxyd-failover.yaml');
  writeFileSync(conf, `listen: { socks: 127.0.0.1:${socks}, http: 127.0.0.1:${http} }
log: { level: warn }
control: ${JSON.stringify(join(dir, 'failover-control.sock'))}  # not the default one: the bench's other proxyds run meanwhile
proxies:
  - { name: a, type: socks5, server: 127.0.0.1:${pa} }
  - { name: b, type: socks5, server: 127.0.0.1:${pb} }
groups:
  - { name: out, type: fallback, members: [a, b], check: { interval: 30s } }
rules:
  - MATCH,out
`);
  const proxyd = new Daemon('proxyd-failover', process.execPath, [join(repoRoot, 'dist', 'proxyd.js'), '--config', conf], repoRoot);
  try {
    await Promise.all([waitForPort(pa, a), waitForPort(pb, b), waitForPort(socks, proxyd)]);
    const once = async (): Promise<boolean> => {
      try {
        const t = await openTunnel({ kind: 'socks5', port: socks }, echoPort, 5000);
        const echoed = new Promise<boolean>((resolve) => {
          t.onData = () => resolve(true);
          t.socket.once('close', () => resolve(false));
        });
        t.socket.write('y');
        const ok = await echoed;
        t.destroy();
        return ok;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < BEFORE; i++) await once();
    const killed = performance.now();
    await a.stop();
    let failed = 0;
    let firstByteMs = NaN;
    let after = 0;
    for (let i = 0; i < AFTER; i++) {
      if (await once()) {
        after++;
        if (Number.isNaN(firstByteMs)) firstByteMs = performance.now() - killed;
      } else failed++;
    }
    return { firstByteMs, failed, after };
  } finally {
    await Promise.all([a.stop(), b.stop(), proxyd.stop()]);
  }
}
