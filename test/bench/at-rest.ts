// The daemon at rest: resident memory of an idle proxyd once it has settled, and the wall time
// of `proxyd --check`; for a config file like the default one (free loopback ports, a control
// socket in the run's directory) and for the embedded default (`proxyd` with no config).
//
//   alone:  npx tsx test/bench/at-rest.ts [--rounds N] [--root DIR]   (builds DIR/dist when it is
//           stale; DIR: this checkout, or e.g. a worktree of another commit to compare with)
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildIfStale, Daemon, freePort, killAllNow, sleep, stopAll, treeMemoryKiB, waitForPort } from './proc.ts';

export interface AtRestFigures {
  /** median over the rounds of the settled daemon's VmRSS, MiB */
  rssMiB: number;
  /** the same for its Pss (its shared pages split among their sharers), MiB */
  pssMiB: number;
  /** the longest any round took to settle, from its ports accepting, ms */
  settleMs: number;
  /** rounds that reached the settle cap with memory still moving (their last reading counts) */
  unsettled: number;
  /** median wall time of `proxyd --check` with the same config, from spawn to exit, ms */
  checkMs: number;
}

export interface AtRestResult {
  /** `--config FILE` with both listeners on free loopback ports, MATCH,DIRECT, log level info */
  file: AtRestFigures;
  /** `proxyd` on its embedded default; a string when it could not be measured, saying why */
  embedded: AtRestFigures | string;
}

/**
 * V8 shrinks the heap it grew while starting in a "memory reducer" GC about 8 s after the
 * startup's last major GC: memory has settled once it has not moved for longer than that.
 */
const QUIET_MS = 10_000;
const SETTLE_CAP_MS = 60_000;
const POLL_MS = 250;
/** moves smaller than this (a few pages of a timer's garbage) do not count */
const TOLERANCE_KIB = 64;

/**
 * Starts `node dist/proxyd.js` `rounds` times per config, reads its memory once settled, stops it;
 * times `--check` `checkRuns` times per config. The embedded default needs 127.0.0.1:1080 and
 * :8080 free; its control socket goes under tmpDir (XDG_RUNTIME_DIR).
 */
export async function atRest(repoRoot: string, tmpDir: string, rounds: number, checkRuns = 11): Promise<AtRestResult> {
  const proxyd = join(repoRoot, 'dist', 'proxyd.js');
  const dir = mkdtempSync(join(tmpDir, 'at-rest-'));
  const file = await measure(rounds, checkRuns, async () => {
    const [socks, http] = [await freePort(), await freePort()];
    const config = join(dir, 'proxyd.yaml');
    writeFileSync(config, [
      'listen:', `  socks: 127.0.0.1:${socks}`, `  http: 127.0.0.1:${http}`,
      `control: ${join(dir, 'control.sock')}`, 'log:', '  level: info', 'rules:', '  - MATCH,DIRECT', '',
    ].join('\n'));
    return { args: [proxyd, '--config', config], ports: [socks, http], env: {} };
  });
  const busy = [];
  for (const port of [1080, 8080]) if (!(await canListen(port))) busy.push(port);
  if (busy.length) return { file, embedded: `127.0.0.1:${busy.join(' and :')} in use` };
  const runtime = join(dir, 'run');
  mkdirSync(runtime, { mode: 0o700 });
  // PROXYD_CONFIG empty counts as unset; `control: auto` lands in $XDG_RUNTIME_DIR/proxyd
  const embedded = await measure(rounds, checkRuns, async () => ({ args: [proxyd], ports: [1080, 8080], env: { PROXYD_CONFIG: '', XDG_RUNTIME_DIR: runtime } }));
  return { file, embedded };
}

interface Start {
  args: string[];
  ports: number[];
  env: Record<string, string>;
}

async function measure(rounds: number, checkRuns: number, start: () => Promise<Start>): Promise<AtRestFigures> {
  const rss: number[] = [];
  const pss: number[] = [];
  let settleMs = 0;
  let unsettled = 0;
  let last: Start | undefined;
  for (let r = 0; r < rounds; r++) {
    last = await start();
    const daemon = new Daemon('proxyd (at rest)', process.execPath, last.args, undefined, last.env);
    try {
      for (const port of last.ports) await waitForPort(port, daemon);
      const settled = await settledMemory(daemon.pid);
      rss.push(settled.rssKiB / 1024);
      pss.push(settled.pssKiB / 1024);
      settleMs = Math.max(settleMs, settled.settleMs);
      if (!settled.settled) unsettled++;
    } finally {
      await daemon.stop();
    }
  }
  const check = last!;
  const times: number[] = [];
  for (let i = 0; i < checkRuns; i++) times.push(await timeCheck([...check.args, '--check'], check.env));
  return { rssMiB: median(rss), pssMiB: median(pss), settleMs, unsettled, checkMs: median(times) };
}

/** Polls the process's memory until it has stayed within TOLERANCE_KIB for QUIET_MS (at most SETTLE_CAP_MS). */
async function settledMemory(pid: number): Promise<{ rssKiB: number; pssKiB: number; settleMs: number; settled: boolean }> {
  const begin = Date.now();
  let mark = treeMemoryKiB(pid);
  let markAt = begin;
  let now = mark;
  while (Date.now() - markAt < QUIET_MS && Date.now() - begin < SETTLE_CAP_MS) {
    await sleep(POLL_MS);
    now = treeMemoryKiB(pid);
    if (!now.rss) throw new Error(`proxyd (pid ${pid}) exited while settling`);
    if (Math.abs(now.rss - mark.rss) > TOLERANCE_KIB) {
      mark = now;
      markAt = Date.now();
    }
  }
  return { rssKiB: now.rss, pssKiB: now.pss, settleMs: markAt - begin, settled: Date.now() - markAt >= QUIET_MS };
}

/** Wall ms of one `node dist/proxyd.js … --check` from spawn to exit; throws unless it says the config is ok. */
function timeCheck(args: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const begin = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { out += b; });
    child.once('error', reject);
    child.once('close', (code) => {
      const ms = Number(process.hrtime.bigint() - begin) / 1e6;
      if (code === 0 && /: ok \(/.test(out)) resolve(ms);
      else reject(new Error(`proxyd --check exited ${code}: ${out.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** The figures as lines of text, one per config. */
export function renderAtRest(result: AtRestResult, rounds: number): string {
  const line = (name: string, f: AtRestFigures | string) => typeof f === 'string'
    ? `${name.padEnd(18)} not measured: ${f}`
    : `${name.padEnd(18)} RSS ${f.rssMiB.toFixed(1)} MiB  Pss ${f.pssMiB.toFixed(1)} MiB  (settled within ${(f.settleMs / 1000).toFixed(1)} s` +
      `${f.unsettled ? `; ${f.unsettled} round(s) still moving at the cap` : ''})  --check ${f.checkMs.toFixed(0)} ms`;
  return [
    `proxyd at rest (median of ${rounds} round(s); memory once unchanged for ${QUIET_MS / 1000} s; --check: median wall time)`,
    line('config file', result.file),
    line('embedded default', result.embedded),
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, root: { type: 'string' } } });
  const rounds = Math.max(1, Number(values.rounds ?? 3) || 1);
  const repoRoot = values.root ?? fileURLToPath(new URL('../../', import.meta.url));
  const tmp = mkdtempSync(join(os.tmpdir(), 'proxyd-at-rest-'));
  process.once('exit', () => { killAllNow(); rmSync(tmp, { recursive: true, force: true }); });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
  try {
    await buildIfStale(repoRoot);
    console.log(renderAtRest(await atRest(repoRoot, tmp, rounds), rounds));
  } finally {
    await stopAll();
  }
}
