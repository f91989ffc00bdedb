// `npm run reliability`: how proxyd survives a hostile client. For each attack:
//
//   1. a FRESH daemon (`node dist/proxyd.js --config FILE`, listeners on free 127.0.0.1
//      ports, log level warn) started under `ulimit -n 1024` (soft and hard);
//   2. the legitimate client (curl, no proxy variables: an absolute-URI GET through the
//      HTTP port and a socks5h GET through the SOCKS port, of a local origin's /hello) is
//      served once as a warm-up, then descriptors (entries of /proc/PID/fd) and RSS (VmRSS
//      of /proc/PID/status) are read when the count has been still for 0.5 s: "before";
//   3. the attack runs (test/bench/reliability/attacks.ts) while a sampler reads both
//      every 100 ms ("peak"); at its moment of highest pressure the attack has the
//      legitimate client checked ("during");
//   4. every attacker socket is closed, the descriptors are awaited back down to the
//      "before" count (at most 10 s): "after"; the legitimate client is checked again.
//
// The attacker connects from 127.0.0.2 and up, the legitimate client from 127.0.0.1, so
// that to the daemon they are different client addresses (per-client limits, the guessing
// brake). All traffic stays on 127.0.0.1; every loop is bounded in count and time; all
// processes and sockets are closed at the end, also on error and Ctrl-C.
//
// Prints one markdown table (for BENCHMARKS.md) and writes every raw figure to
// $TMPDIR/proxyd-reliability.json.   flags: --only ID,ID (attack ids, see attacks.ts)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildIfStale, killAllNow } from './proc.ts';
import { Attacker } from './reliability/attacker.ts';
import { attacks, type Attack, type Outcome } from './reliability/attacks.ts';
import { startHttpOrigin, startSilentOrigin, type HttpOrigin, type SilentOrigin } from './reliability/origins.ts';
import { FD_LIMIT, legitimateClient, PeakSampler, Target, type Gauges, type Served } from './reliability/target.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const COME_DOWN_MS = 10_000;

/** Configs of this run; removed at the end, also on Ctrl-C. */
const tmp = mkdtempSync(join(os.tmpdir(), 'proxyd-reliability-'));

interface Result extends Partial<Outcome> {
  id: string;
  label: string;
  before?: Gauges;
  peak?: Gauges;
  after?: Gauges;
  /** how long the descriptors took to come back down (COME_DOWN_MS: they did not) */
  comeDownMs?: number;
  legit?: { during?: Served; after?: Served };
  /** the daemon exited during the attack, or the attack failed */
  error?: string;
  attackMs?: number;
}

async function measure(attack: Attack, origin: HttpOrigin, silent: SilentOrigin): Promise<Result> {
  const result: Result = { id: attack.id, label: attack.label, legit: {} };
  let target: Target;
  try {
    target = await Target.start(tmp, attack.id, repoRoot, attack.options);
  } catch (e) {
    return { ...result, error: `proxyd did not start: ${(e as Error).message}` };
  }
  const attacker = new Attacker();
  let sampler: PeakSampler | undefined;
  try {
    await legitimateClient(target, origin.port); // lazily opened descriptors then count in "before"
    result.before = await target.settled();
    if (!result.before) throw new Error(`daemon exited before the attack: ${target.daemon.tail()}`);
    origin.reset();
    sampler = new PeakSampler(target);
    let during: Promise<Served> | undefined;
    const underAttack = async () => {
      sampler!.sample(); // the moment of highest pressure, whatever the 100 ms ticks catch
      await (during ??= legitimateClient(target, origin.port));
    };
    const t0 = Date.now();
    Object.assign(result, await attack.run({ target, origin, silent, attacker, baseline: result.before, underAttack }));
    result.attackMs = Date.now() - t0;
    sampler.sample();
    result.legit!.during = await (during ?? legitimateClient(target, origin.port));
    attacker.closeAll();
    const down = await target.comeDown(result.before.fds, COME_DOWN_MS);
    result.after = down.gauges;
    result.comeDownMs = down.ms;
    result.peak = sampler.stop();
    result.legit!.after = await legitimateClient(target, origin.port);
    if (!target.daemon.alive) result.error = `daemon exited (${target.daemon.child.exitCode ?? target.daemon.child.signalCode}): ${target.daemon.tail(3)}`;
  } catch (e) {
    result.error = (e as Error).message;
  } finally {
    result.peak ??= sampler?.stop();
    attacker.closeAll();
    await target.daemon.stop();
  }
  return result;
}

const int = (n: number) => n.toLocaleString('en');
const mib = (n: number) => n.toFixed(0);

function gaugeCell(r: Result, pick: (g: Gauges) => string, stillUp = ''): string {
  const [before, peak, after] = [r.before, r.peak, r.after].map((g) => (g ? pick(g) : '-'));
  return `${before} → ${peak} → ${r.after ? after + stillUp : 'exited'}`;
}

function servedCell(s: Served | undefined): string {
  if (!s) return '-';
  if (s.http === 'served' && s.socks === 'served') return 'served';
  return `http: ${s.http}; socks: ${s.socks}`;
}

function markdownTable(results: Result[]): string {
  const rows = results.map((r) => {
    const notDown = r.comeDownMs !== undefined && r.comeDownMs >= COME_DOWN_MS ? ` (after ${COME_DOWN_MS / 1000} s)` : '';
    return [
      `${attacks.findIndex((a) => a.id === r.id) + 1}. ${r.label}`,
      gaugeCell(r, (g) => int(g.fds), notDown),
      gaugeCell(r, (g) => mib(g.rssMiB)),
      `${servedCell(r.legit?.during)} / ${servedCell(r.legit?.after)}`,
      [r.got, r.error].filter(Boolean).join('; ').replaceAll('|', '\\|'),
    ];
  });
  const head = ['attack', 'descriptors before → peak → after', 'RSS MiB before → peak → after', 'legit client during / after', 'what the attacker got'];
  return [head, head.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

async function main(): Promise<void> {
  const { values: flags } = parseArgs({ options: { only: { type: 'string' } } });
  const only = flags.only?.split(',');
  const chosen = attacks.filter((a) => !only || only.includes(a.id));
  if (!chosen.length) throw new Error(`--only: no attack among ${attacks.map((a) => a.id).join(', ')}`);
  const started = Date.now();
  await buildIfStale(repoRoot);
  const origin = await startHttpOrigin();
  const silent = await startSilentOrigin();
  const results: Result[] = [];
  try {
    for (const attack of chosen) {
      console.error(`${attack.id} ...`);
      const r = await measure(attack, origin, silent);
      console.error(`  ${r.got ?? ''}${r.error ? ` ERROR ${r.error}` : ''} (${((r.attackMs ?? 0) / 1000).toFixed(1)} s)`);
      results.push(r);
    }
  } finally {
    await origin.close();
    await silent.close();
  }
  const seconds = (Date.now() - started) / 1000;
  console.log(`proxyd under attack: a fresh daemon per attack, descriptor limit ${FD_LIMIT}, default limits unless stated; `
    + `${os.cpus().length} cores, node ${process.version}, ${seconds.toFixed(0)} s\n`);
  console.log(markdownTable(results));
  const file = join(os.tmpdir(), 'proxyd-reliability.json');
  writeFileSync(file, JSON.stringify({
    date: new Date().toISOString(), seconds, fdLimit: FD_LIMIT,
    machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, kernel: os.release() },
    attacks: results.map((r) => ({ ...r, options: attacks.find((a) => a.id === r.id)?.options })),
  }, null, 2));
  console.log(`\nresults: ${file}`);
}

process.on('exit', () => {
  killAllNow();
  rmSync(tmp, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
