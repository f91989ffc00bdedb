// `npm run bench`: proxyd against Debian's proxies, a minimal Node pipe proxy and a
// direct connection, all on loopback. Each figure is the median of interleaved rounds
// (round r measures every proxy once) and is also given as a ratio to direct in the
// same run, since the load generator and the origins share the machine's cores.
//
//   flags: --quick (or BENCH_QUICK=1)   smaller sizes, one round
//          --rounds N                   rounds per figure (default 3, quick 1)
//          --only throughput,tunnels,rtt,memory,http,rules,rest,failover,mirror,intercept,stats,workloads
//   intercept: the local CA's times, TLS handshakes through interception against nginx, an intercepted
//          cached artifact against the plain endpoint (intercept.ts)
//   workloads: whole npm ci, go mod download, pip download and git clone through proxyd's mirrors and
//          an upstream group, beside verdaccio, nginx, GOPROXY=file:// and microsocks (workloads/section.ts;
//          about 7 minutes at 3 rounds; left out of --quick unless named in --only);
//          --origin-delay MS   the origin's delay per request (default 20: a distant registry)
//          --workloads npm,go,pip,git   some of them only
//   rest:  the daemon at rest: idle RSS once settled, and the time of `proxyd --check` (at-rest.ts)
//          --peers direct,squid,...     row labels, comma-separated (direct is always kept);
//                                       proxyd-nostats rows only when named in full
//   stats: proxyd with statistics on and off (PROXYD_STATS=off), proxy CPU per GiB and per
//          1,000 tunnels, 5 rounds (--rounds raises it), PASS/FAIL at +3% (stats-cost.ts);
//          only when asked for (--only stats): 2-3 minutes of its own on 2 busy cores;
//          BENCH_STATS_AA=1 compares two proxyd with statistics on (the noise floor),
//          BENCH_STATS_PIN=N|off pins both daemons to CPU N (default: the last CPU)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startOrigins, type Origins } from './origins.ts';
import { makeRows, unavailable, via, type Row } from './peers.ts';
import { httpForwarding, idleMemory, newTunnels, roundTrip, throughput } from './measures.ts';
import { awaitFreePorts, buildIfStale, findBinary, killAllNow, pinTree, stopAll, treeCpuSeconds } from './proc.ts';
import { renderMetric, summarize, table, fmt, type Figure, type MetricResult } from './report.ts';
import { ruleMatch, type RuleMatchResult } from './rule-match.ts';
import { atRest, renderAtRest, type AtRestResult } from './at-rest.ts';
import { failover } from './failover.ts';
import { mirrorBench, type MirrorFigures } from './mirror.ts';
import { interceptBench, renderIntercept, type InterceptFigures } from './intercept.ts';
import { renderStatsCost, statsCost, statsCostSettings, type StatsCostResult } from './stats-cost.ts';
import { renderWorkloads, workloads, type WorkloadsResult } from './workloads/section.ts';

const MiB = 1 << 20;
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean' }, rounds: { type: 'string' }, only: { type: 'string' }, peers: { type: 'string' },
    'origin-delay': { type: 'string' }, workloads: { type: 'string' },
  },
});
const quick = flags.quick || process.env.BENCH_QUICK === '1';
const settings = quick
  ? { rounds: 1, oneStream: 64 * MiB, eachOfEight: 16 * MiB, capMs: 5000, tunnels: 500, tunnelCapMs: 2000, concurrency: 16, roundTrips: 500, idle: 200, wrkSeconds: 2, ruleCalls: 50_000 }
  : { rounds: 3, oneStream: 1024 * MiB, eachOfEight: 128 * MiB, capMs: 15_000, tunnels: 3000, tunnelCapMs: 5000, concurrency: 16, roundTrips: 2000, idle: 1000, wrkSeconds: 5, ruleCalls: 200_000 };
if (flags.rounds) settings.rounds = Math.max(1, Math.min(20, Number(flags.rounds) || 1));

/** Configs, logs and pid files of this run; removed at the end, also on Ctrl-C. */
const tmp = mkdtempSync(join(os.tmpdir(), 'proxyd-bench-'));

function cleanUp(): void {
  killAllNow();
  rmSync(tmp, { recursive: true, force: true });
}

interface Metric {
  id: string;
  title: string;
  method: string;
  figures: Figure[];
  /** true: measure; a string: show the row with that as its note; false: leave it out */
  applies: (row: Row) => boolean | string;
  /** fresh proxy process before each measurement */
  restart?: boolean;
  run: (row: Row) => Promise<{ figures: Record<string, number>; note?: string }>;
}

function metrics(o: Origins): Metric[] {
  const s = settings;
  return [{
    id: 'throughput',
    title: 'Tunnel throughput (MB/s = 10^6 bytes/s, origin -> client)',
    method: `1 stream of ${s.oneStream / MiB} MiB; 8 parallel streams of ${s.eachOfEight / MiB} MiB; each capped at ${s.capMs / 1000} s`,
    figures: [{ key: 'one', label: '1 stream' }, { key: 'eight', label: '8 streams' }, { key: 'cpu', label: 'proxy CPU s/GiB', noRatio: true }],
    applies: () => true,
    run: async (row) => {
      // the proxy's own CPU per GiB moved (its process tree; for proxyd→peer rows, proxyd's alone)
      const cpu = proxyCpu(row);
      const one = await throughput(via(row), o.source, 1, s.oneStream, s.capMs);
      const perGiB = cpu() / ((one.mbps * one.seconds * 1e6) / 2 ** 30);
      const eight = await throughput(via(row), o.source, 8, s.eachOfEight, s.capMs);
      return { figures: { one: one.mbps, eight: eight.mbps, cpu: perGiB }, note: one.capped || eight.capped ? 'hit the time cap' : undefined };
    },
  }, {
    id: 'tunnels',
    title: 'New tunnels per second (open, one byte from the origin, close)',
    method: `${s.tunnels} tunnels or ${s.tunnelCapMs / 1000} s, ${s.concurrency} at a time; the client sends a byte, the origin echoes it (as TLS/HTTP); `
      + 'latency from TCP connect to that byte. Last column: p50 when the origin speaks first (as SSH), 200 tunnels',
    figures: [{ key: 'rate', label: 'tunnels/s' }, { key: 'cpu', label: 'proxy CPU ms/1000', noRatio: true }, { key: 'p50', label: 'p50 ms' }, { key: 'p99', label: 'p99 ms' },
      { key: 'serverFirst', label: 'origin-first p50 ms' }],
    applies: () => true,
    run: async (row) => {
      const cpu = proxyCpu(row);
      const r = await newTunnels(via(row), o.echo, true, s.tunnels, s.tunnelCapMs, s.concurrency);
      const perThousand = (cpu() * 1e6) / r.done;
      const serverFirst = await newTunnels(via(row), o.hold, false, 200, s.tunnelCapMs, s.concurrency);
      const failed = r.errors + serverFirst.errors;
      return { figures: { rate: r.perSecond, cpu: perThousand, p50: r.p50Ms, p99: r.p99Ms, serverFirst: serverFirst.p50Ms }, note: failed ? `${failed} failed` : undefined };
    },
  }, {
    id: 'rtt',
    title: 'Round trip over an established tunnel (64-byte ping-pong), all on one core',
    method: `${s.roundTrips} round trips after a warm-up; the client, the origin and the proxy pinned to one core (taskset), `
      + 'so that the figure is the work in the path rather than wake-ups across cores; + direct = what the proxy adds',
    figures: [{ key: 'p50', label: 'p50 µs', added: true }, { key: 'p99', label: 'p99 µs', added: true }],
    applies: () => true,
    run: async (row) => {
      const pids = [process.pid, ...o.pids, ...(row.server?.daemon ? [row.server.daemon.pid] : [])];
      const pinned = (await Promise.all(pids.map((pid) => pinTree(pid, '0')))).every(Boolean);
      try {
        const r = await roundTrip(via(row), o.echo, s.roundTrips, 10_000);
        return { figures: { p50: r.p50Us, p99: r.p99Us }, note: pinned ? undefined : 'not pinned (taskset missing)' };
      } finally {
        await Promise.all(pids.map((pid) => pinTree(pid, allCpus)));
      }
    },
  }, {
    id: 'memory',
    title: 'Resident memory per idle tunnel (KiB)',
    method: `fresh proxy process, 50 tunnels opened and closed, then memory before/after ${s.idle} open tunnels, summed over the process tree (danted forks children); PSS splits shared pages`,
    figures: [{ key: 'rss', label: 'RSS KiB/tunnel', noRatio: true }, { key: 'pss', label: 'PSS KiB/tunnel', noRatio: true }],
    applies: (row) => row.protocol !== 'direct',
    restart: true,
    run: async (row) => {
      const m = await idleMemory(via(row), row.server!.daemon!.pid, o.hold, s.idle);
      return { figures: { rss: m.rssKiB, pss: m.pssKiB } };
    },
  }, {
    id: 'http',
    title: 'Plain-HTTP forwarding with keep-alive (requests/s)',
    method: `wrk -t1 -c32 -d${s.wrkSeconds}s, absolute-URI GET through the proxy; direct = wrk at the origin (${o.httpKind}; a 6-byte body)`,
    figures: [{ key: 'rate', label: 'req/s' }],
    applies: (row) => row.plainHttp || (row.protocol === 'http' ? 'n/a (CONNECT only)' : false),
    run: async (row) => {
      const r = await httpForwarding(tmp, row.protocol === 'direct' ? undefined : row.server!.ports.http, o.http, s.wrkSeconds);
      return { figures: { rate: r.perSecond }, note: r.errors || undefined };
    },
  }];
}

const allCpus = `0-${os.cpus().length - 1}`;

/**
 * Starts counting the proxy's CPU (utime + stime of its process tree, which include the threads
 * that have exited: microsocks runs a thread per connection); the function returns the seconds
 * used since, NaN for direct.
 */
function proxyCpu(row: Row): () => number {
  const pid = row.server?.daemon?.pid;
  if (pid === undefined) return () => NaN;
  const start = treeCpuSeconds(pid);
  // a child that exited without being reaped takes its CPU with it: no figure rather than a wrong one
  return () => {
    const used = treeCpuSeconds(pid) - start;
    return used >= 0 ? used : NaN;
  };
}

async function runMetric(m: Metric, rows: Row[]): Promise<MetricResult> {
  const shown = rows.filter((r) => m.applies(r) !== false);
  const result: MetricResult = { id: m.id, title: m.title, method: m.method, figures: m.figures, rows: shown.map((r) => ({ label: r.label, runs: [], notes: [] })) };
  // One unrecorded run on the direct path first: the harness's own code is cold at first.
  const direct = shown.find((r) => r.protocol === 'direct');
  if (direct) await m.run(direct).catch(() => undefined);
  for (let round = 0; round < settings.rounds; round++) {
    // Rotated order, so that no proxy always runs right after the same other one.
    for (let k = 0; k < shown.length; k++) {
      const i = (k + round) % shown.length;
      const row = shown[i];
      const out = result.rows[i];
      const applies = m.applies(row);
      if (applies !== true) { out.error = applies as string; continue; }
      if (m.restart) await row.server?.restart();
      const why = unavailable(row);
      if (why) { out.error = why; continue; }
      try {
        const r = await m.run(row);
        out.runs.push(r.figures);
        if (r.note) out.notes.push(r.note);
      } catch (e) {
        out.notes.push(`failed: ${(e as Error).message}`.slice(0, 120));
      }
    }
  }
  return result;
}

function renderRules(r: RuleMatchResult): string {
  const title = 'Rule match (proxyd router, compileRules + matchSync)';
  if (!r.available) return `${title}\n  rule-match: not available (${r.reason})`;
  const body = r.sizes.map((s) => [`${s.rules} rules`, fmt(s.nsPerMatch), `${(s.nsPerMatch / r.sizes[0].nsPerMatch).toFixed(2)}×`, fmt(s.compileMs), '']);
  const check = r.mismatches ? `\n  WARNING: ${r.mismatches} answers not the expected rule index, e.g. ${r.example}` : '';
  return `${title}\n  ${settings.ruleCalls} matchSync calls over hosts half matching one of the last 10% of rules, half falling to MATCH\n`
    + table(['', 'ns/match', '× 10 rules', 'compile ms', ''], body) + check;
}

function renderMirror(m: MirrorFigures | { error: string }): string {
  const title = 'Mirror (a pypi mirror in front of nginx serving the files; targets: cache >= 0.8x nginx, cold path < 2 ms added at p50)';
  if ('error' in m) return `${title}\n  not available: ${m.error}`;
  const added = { p50: m.cold.p50 - m.direct.p50, p99: m.cold.p99 - m.direct.p99 };
  return `${title}\n${table(['', 'proxyd', 'nginx / origin', 'ratio or added', 'target'], [
    ['100 MB artifact, MB/s', fmt(m.cacheMBps), fmt(m.staticMBps), `${(m.cacheMBps / m.staticMBps).toFixed(2)}x`, m.cacheMBps >= 0.8 * m.staticMBps ? 'met' : 'MISSED'],
    ['  (Node file server, no hash check)', fmt(m.nodeMBps), fmt(m.staticMBps), `${(m.nodeMBps / m.staticMBps).toFixed(2)}x`, ''],
    ['cold 16 KiB request p50, ms', fmt(m.cold.p50), fmt(m.direct.p50), `+${fmt(added.p50)} ms`, added.p50 < 2 ? 'met' : 'MISSED'],
    ['cold 16 KiB request p99, ms', fmt(m.cold.p99), fmt(m.direct.p99), `+${fmt(added.p99)} ms`, ''],
    ['cached 16 KiB file, requests/s', fmt(m.cachedRps), fmt(m.staticRps), `${(m.cachedRps / m.staticRps).toFixed(2)}x`, ''],
  ])}`;
}

async function main(): Promise<void> {
  const started = Date.now();
  await buildIfStale(repoRoot).catch((e: Error) => console.log(`  ${e.message}`));
  const wanted = flags.peers?.split(',');
  const only = flags.only?.split(',');
  const allRows = makeRows(tmp, repoRoot);
  // An opt-in row (proxyd-nostats) only when --peers names its server in full, not through "proxyd".
  const named = (r: Row) => wanted!.some((w) => r.label.startsWith(w) && (!r.optIn || w.startsWith(r.server!.name)));
  const rows = allRows.filter((r) => (wanted ? r.label === 'direct' || named(r) : !r.optIn));
  const origins = await startOrigins(tmp, repoRoot);
  // the tunnel row opens some 10^5 connections: their TIME_WAIT ports can exhaust the ephemeral
  // range for a minute, so the rows that start fresh processes and need new ports go first
  const ORDER = ['memory', 'rtt', 'throughput', 'http', 'tunnels'];
  const tables = metrics(origins).filter((m) => !only || only.includes(m.id)).sort((a, b) => ORDER.indexOf(a.id) - ORDER.indexOf(b.id));
  // the peers are started only when a table measures them (not for --only rules,stats)
  const servers = tables.length ? [...new Set(rows.flatMap((r) => (r.server ? [r.server] : [])))] : [];
  for (const s of servers) await s.start();

  console.log(`proxyd bench, ${quick ? 'QUICK' : 'full'} mode: ${os.cpus().length} cores (${os.cpus()[0]?.model}), node ${process.version}, ` +
    `loopback only; load generator, origins and proxy share the cores. Medians of ${settings.rounds} interleaved round(s).`);
  for (const s of servers) console.log(`  ${s.name}: ${s.error ?? `pid ${s.daemon?.pid}, ports ${JSON.stringify(s.ports)}`}`);

  const results: MetricResult[] = [];
  for (const m of tables) {
    const r = await runMetric(m, rows);
    results.push(r);
    console.log(`\n${renderMetric(r)}`);
  }
  let rules: RuleMatchResult | undefined;
  if (!only || only.includes('rules')) {
    rules = await ruleMatch(repoRoot, [10, 100_000], settings.ruleCalls, settings.rounds);
    console.log(`\n${renderRules(rules)}`);
  }

  // Statistics on and off: its own rows (proxyd and proxyd-nostats, both listeners), whatever --peers says.
  let stats: StatsCostResult | undefined;
  if (only?.includes('stats')) {
    // BENCH_STATS_AA=1: both sides are proxyd with statistics on (an A/A run: the harness's noise floor)
    const aa = process.env.BENCH_STATS_AA === '1';
    const twin = aa ? makeRows(mkdtempSync(join(tmp, 'aa-')), repoRoot) : allRows;
    const row = (rows: Row[], label: string) => rows.find((r) => r.label === label)!;
    const off = aa ? 'proxyd' : 'proxyd-nostats';
    // BENCH_STATS_PIN=N|off: both daemons on CPU N (default the last one, when there are two or more and taskset is installed)
    const pinEnv = process.env.BENCH_STATS_PIN;
    const pin = pinEnv === 'off' ? undefined : pinEnv ? Number(pinEnv)
      : os.cpus().length > 1 && findBinary('taskset') ? os.cpus().length - 1 : undefined;
    const cfg = { ...statsCostSettings(quick, pin), aa };
    if (flags.rounds) cfg.rounds = Math.max(cfg.rounds, settings.rounds);
    console.log(`\nStatistics on and off${aa ? ' (A/A: statistics on both sides)' : ''}: ${cfg.rounds} round(s) ...`);
    stats = await statsCost({
      on: { socks5: row(allRows, 'proxyd socks5'), http: row(allRows, 'proxyd http') },
      off: { socks5: row(twin, `${off} socks5`), http: row(twin, `${off} http`) },
    }, origins, cfg, (line) => console.log(line));
    console.log(`\n${renderStatsCost(stats)}`);
  }

  let rest: AtRestResult | undefined;
  if (!only || only.includes('rest')) {
    await awaitFreePorts();
    rest = await atRest(repoRoot, tmp, settings.rounds);
    console.log(`\n${renderAtRest(rest, settings.rounds)}`);
  }

  let failed: Awaited<ReturnType<typeof failover>> | undefined;
  if (!only || only.includes('failover')) {
    await awaitFreePorts();
    failed = await failover(tmp, repoRoot, origins.echo);
    const title = 'Failover (a fallback group of two microsocks; the first is killed after 50 tunnels, 50 more follow)';
    console.log(`\n${title}\n  ${'error' in failed ? `not available: ${failed.error}`
      : `first byte ${fmt(failed.firstByteMs)} ms after the kill; ${failed.failed} of 50 tunnels failed; ${failed.after} carried by the second member`}`);
  }

  let mirror: MirrorFigures | { error: string } | undefined;
  if (!only || only.includes('mirror')) {
    await awaitFreePorts();
    mirror = await mirrorBench(mkdtempSync(join(tmp, 'mirror-')), repoRoot).catch((e: Error) => ({ error: e.message }));
    console.log(`\n${renderMirror(mirror)}`);
  }

  let intercept: InterceptFigures | { error: string } | undefined;
  if (!only || only.includes('intercept')) {
    await awaitFreePorts();
    intercept = await interceptBench(mkdtempSync(join(tmp, 'intercept-')), repoRoot, settings.rounds).catch((e: Error) => ({ error: e.message }));
    console.log(`\n${renderIntercept(intercept)}`);
  }

  let work: WorkloadsResult | undefined;
  // a few minutes of real installs: in the full run, and in a quick one only when asked for
  if (only ? only.includes('workloads') : !quick) {
    await awaitFreePorts();
    const delayMs = Math.max(0, Math.min(1000, Number(flags['origin-delay'] ?? 20) || 0));
    console.log(`\nWorkloads: npm ci, go mod download, pip download, git clone (origin delay ${delayMs} ms, ${settings.rounds} round(s)) ...`);
    work = await workloads(mkdtempSync(join(tmp, 'workloads-')), repoRoot, {
      rounds: settings.rounds, delayMs, only: flags.workloads?.split(','), log: (line) => console.log(line),
    });
    console.log(`\n${renderWorkloads(work, false)}`);
  }

  const seconds = (Date.now() - started) / 1000;
  const file = join(os.tmpdir(), 'proxyd-bench-results.json');
  writeFileSync(file, JSON.stringify({
    date: new Date().toISOString(), quick, seconds, settings, httpOrigin: origins.httpKind,
    machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, kernel: os.release() },
    metrics: Object.fromEntries(results.map((m) => [m.id, { title: m.title, method: m.method, rows: m.rows.map((row) => ({ ...row, ...summarize(m, row) })) }])),
    ruleMatch: rules,
    atRest: rest,
    failover: failed,
    statsCost: stats,
    mirror,
    intercept,
    workloads: work,
  }, null, 2));
  console.log(`\nresults: ${file}  (${seconds.toFixed(0)} s)`);
  await stopAll();
}

process.on('exit', cleanUp);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
