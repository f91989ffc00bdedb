// What statistics cost: proxyd as it runs (statistics on) against proxyd started with
// PROXYD_STATS=off (`proxyd-nostats`), on the daemon's CPU, not on rates: rates move with
// whatever else the shared cores do, CPU per unit of work much less.
//
//   bulk     CPU s per GiB: one stream from the source origin through an established tunnel
//   tunnels  CPU ms per 1,000 new tunnels: open, one byte echoed by the origin, close
//
// Both listeners (SOCKS5, HTTP CONNECT). A round's work is shared among a few fresh pairs of
// daemons (on, off): the bulk figure of one fresh daemon can be 2x another's (most of it is
// system time, page faults on freshly allocated read buffers, which vary from process to process),
// so a round averages several processes per side. Each pair is pinned to one CPU (where the
// scheduler puts a daemon also moves its system time on loopback), warmed up alike, then measures
// every (measure, listener) in slices that alternate on, off, off, on, on, off, ... (off first in
// every other pair), so that both sides get the same share of the machine's other load.
// Proxy CPU = the run time of each daemon's threads (schedstat, in ns; else utime + stime from
// /proc/PID/stat in 10 ms ticks), read before a (measure, listener)'s first slice and 100 ms after
// its last: the idle daemon is counted while the other works (idle, it spends well under 1 ms a
// second). A side's figure for the round is its CPU over its work, summed over the pairs.
// The verdict: median(on) / median(off) over the rounds at most 1.03 for every measure and listener.
// BENCH_STATS_AA=1 (run.ts) compares two proxyd with statistics on instead: the noise floor.
import { via, unavailable, type Row } from './peers.ts';
import { newTunnels, throughput } from './measures.ts';
import { runCommand, sleep, treeCpuSeconds, treeCpuSecondsPrecise } from './proc.ts';
import { fmt, median, table } from './report.ts';

const MiB = 1 << 20;
/** at most this much more CPU with statistics on */
export const LIMIT = 1.03;

export interface StatsCostSettings {
  rounds: number;
  /** fresh pairs of daemons per round, each doing an equal share of the round's work */
  pairs: number;
  /** slices per side and pair that its share of the bulk bytes and tunnels is split into */
  slices: Record<Measure, number>;
  /** unrecorded warm-up of each fresh daemon, per listener: bulk bytes, tunnels */
  warmUp: Record<Measure, number>;
  /** both daemons (every thread) pinned to this CPU with taskset, or undefined */
  pin?: number;
  /** an A/A run: the "off" side is a second proxyd with statistics on */
  aa?: boolean;
  /** bulk bytes per side and round (1 stream at a time) */
  bulk: number;
  bulkCapMs: number;
  /** new tunnels per side and round */
  tunnels: number;
  tunnelCapMs: number;
  concurrency: number;
}

export const statsCostSettings = (quick: boolean, pin?: number): StatsCostSettings => ({ pin, ...(quick
  ? { rounds: 1, pairs: 1, slices: { bulk: 4, tunnels: 2 }, warmUp: { bulk: 32 * MiB, tunnels: 300 }, bulk: 256 * MiB, bulkCapMs: 10_000, tunnels: 1000, tunnelCapMs: 5000, concurrency: 16 }
  : { rounds: 5, pairs: 3, slices: { bulk: 8, tunnels: 6 }, warmUp: { bulk: 64 * MiB, tunnels: 500 }, bulk: 768 * MiB, bulkCapMs: 10_000, tunnels: 4500, tunnelCapMs: 5000, concurrency: 16 }) });

type Measure = 'bulk' | 'tunnels';
type Listener = 'socks5' | 'http';

export interface StatsCostLine {
  measure: Measure;
  listener: Listener;
  unit: string;
  /** one figure per round, in round order */
  on: number[];
  off: number[];
  medianOn: number;
  medianOff: number;
  /** medianOn / medianOff */
  ratio: number;
  /** median over rounds of on/off in the same round */
  pairedRatio: number;
  pass: boolean;
  notes: string[];
}

export interface StatsCostResult {
  settings: StatsCostSettings;
  /** CPU from schedstat (ns) rather than /proc/PID/stat (10 ms ticks) */
  precise: boolean;
  lines: StatsCostLine[];
  pass: boolean;
  error?: string;
}

/** One slice of work through the row's daemon: GiB moved (bulk) or thousands of tunnels that got their byte. */
async function slice(row: Row, measure: Measure, s: StatsCostSettings, ports: { source: number; echo: number }, amount: number): Promise<{ work: number; note?: string }> {
  if (measure === 'bulk') {
    const out = await throughput(via(row), ports.source, 1, Math.round(amount), s.bulkCapMs);
    return { work: (out.mbps * out.seconds * 1e6) / 2 ** 30, note: out.capped ? 'hit the time cap' : undefined };
  }
  const count = Math.round(amount);
  const out = await newTunnels(via(row), ports.echo, true, count, s.tunnelCapMs, s.concurrency);
  const notes = [out.errors ? `${out.errors} failed` : '', out.done < count ? `${out.done} of ${count} tunnels within the cap` : ''].filter(Boolean);
  return { work: out.done / 1000, note: notes.join(', ') || undefined };
}

const SIDES = ['on', 'off'] as const;

/** CPU seconds of the daemon so far: to the nanosecond from schedstat where the kernel has it, else /proc/PID/stat ticks. */
const cpuSeconds = (pid: number) => treeCpuSecondsPrecise(pid) ?? treeCpuSeconds(pid);

/** `on`, `off`: the proxyd and proxyd-nostats rows of each listener (of one server each). */
export async function statsCost(rows: { on: Record<Listener, Row>; off: Record<Listener, Row> }, ports: { source: number; echo: number },
  s: StatsCostSettings, progress: (line: string) => void = () => {}): Promise<StatsCostResult> {
  const listeners: Listener[] = ['socks5', 'http'];
  const measures: Measure[] = ['bulk', 'tunnels'];
  const lines: StatsCostLine[] = measures.flatMap((measure) => listeners.map((listener) => ({
    measure, listener, unit: measure === 'bulk' ? 'CPU s/GiB' : 'CPU ms/1000 tunnels',
    on: [], off: [], medianOn: NaN, medianOff: NaN, ratio: NaN, pairedRatio: NaN, pass: false, notes: [],
  })));
  const precise = treeCpuSecondsPrecise(process.pid) !== undefined;
  const fail = (error: string): StatsCostResult => ({ settings: s, precise, lines, pass: false, error });
  for (let round = 0; round < s.rounds; round++) {
    const cpu = lines.map(() => ({ on: 0, off: 0 }));
    const work = lines.map(() => ({ on: 0, off: 0 }));
    const failed = lines.map(() => false);
    for (let pair = 0; pair < s.pairs; pair++) {
      const first = (round + pair) % 2 === 0 ? SIDES : (['off', 'on'] as const); // who starts, warms up and measures first
      for (const side of first) await rows[side].socks5.server!.restart();
      const why = SIDES.map((side) => unavailable(rows[side].socks5)).find(Boolean);
      if (why) return fail(why);
      if (s.pin !== undefined) {
        for (const side of SIDES) {
          const { code, out } = await runCommand('taskset', ['-a', '-p', '-c', String(s.pin), String(rows[side].socks5.server!.daemon!.pid)], 5000);
          if (code !== 0) return fail(`taskset failed (${code}): ${out.trim()}`);
        }
      }
      // Warm-up, unrecorded: JIT and pools of both daemons (and the harness's own code).
      for (const line of lines) {
        for (const side of first) await slice(rows[side][line.listener], line.measure, s, ports, s.warmUp[line.measure]);
      }
      for (const [i, line] of lines.entries()) {
        if (failed[i]) continue;
        const pid = { on: rows.on[line.listener].server!.daemon!.pid, off: rows.off[line.listener].server!.daemon!.pid };
        const cpu0 = { on: cpuSeconds(pid.on), off: cpuSeconds(pid.off) };
        const slices = s.slices[line.measure];
        const amount = (line.measure === 'bulk' ? s.bulk : s.tunnels) / s.pairs / slices;
        try {
          for (let k = 0; k < 2 * slices; k++) {
            const side = first[((k + 1) >> 1) % 2]!; // first, other, other, first, first, ...
            const r = await slice(rows[side][line.listener], line.measure, s, ports, amount);
            work[i]![side] += r.work;
            if (r.note) line.notes.push(`${side}: ${r.note}`);
          }
          await sleep(100); // the last tunnels' close
          for (const side of SIDES) cpu[i]![side] += cpuSeconds(pid[side]) - cpu0[side];
        } catch (e) {
          failed[i] = true;
          line.notes.push(`failed: ${(e as Error).message}`.slice(0, 120));
        }
      }
    }
    for (const [i, line] of lines.entries()) {
      if (failed[i]) continue;
      for (const side of SIDES) line[side].push((cpu[i]![side] / work[i]![side]) * (line.measure === 'bulk' ? 1 : 1000));
    }
    progress(`  round ${round + 1}/${s.rounds} (on/off): ${lines.map((l) => `${l.listener} ${l.measure} ${fmt(l.on.at(-1) ?? NaN)}/${fmt(l.off.at(-1) ?? NaN)}`).join(', ')}`);
  }
  for (const line of lines) {
    line.medianOn = median(line.on);
    line.medianOff = median(line.off);
    line.ratio = line.medianOn / line.medianOff;
    line.pairedRatio = median(line.on.flatMap((v, i) => (i < line.off.length ? [v / line.off[i]!] : [])));
    line.pass = line.on.length === s.rounds && line.off.length === s.rounds && line.ratio <= LIMIT;
  }
  return { settings: s, precise, lines, pass: lines.every((l) => l.pass) };
}

export function renderStatsCost(r: StatsCostResult): string {
  const s = r.settings;
  const [on, off] = s.aa ? ['A (on)', 'B (on)'] : ['stats on', 'stats off'];
  const title = s.aa
    ? `Statistics A/A (two proxyd, statistics on in both: the harness's noise floor), proxy CPU, medians of ${s.rounds} interleaved round(s)`
    : `Statistics on and off (proxyd against proxyd-nostats = PROXYD_STATS=off), proxy CPU, medians of ${s.rounds} interleaved round(s)`;
  if (r.error) return `${title}\n  not available: ${r.error}`;
  const spread = (xs: number[]) => (xs.length > 1 ? `±${(((Math.max(...xs) - Math.min(...xs)) / 2 / median(xs)) * 100).toFixed(0)}%` : '');
  const body = r.lines.map((l) => [
    `${l.listener} ${l.unit}`,
    fmt(l.medianOn), spread(l.on), fmt(l.medianOff), spread(l.off),
    `${l.ratio.toFixed(3)}×`, `${l.pairedRatio.toFixed(3)}×`, l.pass ? 'PASS' : 'FAIL',
    [...new Set(l.notes)].join('; '),
  ]);
  const pct = (x: number) => `${x >= 1 ? '+' : ''}${((x - 1) * 100).toFixed(1)}%`;
  const verdict = `${r.pass ? 'PASS' : 'FAIL'}: ${s.aa ? 'A against B' : 'statistics on costs'} ${r.lines.map((l) => `${pct(l.ratio)} (${l.listener} ${l.measure})`).join(', ')}; `
    + `limit +${((LIMIT - 1) * 100).toFixed(0)}% on the ratio of the medians`;
  const cpu = r.precise ? 'run time of the daemon\'s threads (/proc/PID/task/*/schedstat: utime + stime, to the ns)' : 'utime + stime of the daemon (/proc/PID/stat)';
  return `${title}\n  per side and round: bulk ${s.bulk / MiB} MiB over 1 stream; ${s.tunnels} tunnels, ${s.concurrency} at a time, one byte echoed, close; `
    + `shared among ${s.pairs} fresh pair(s) of daemons${s.pin === undefined ? '' : ` pinned to CPU ${s.pin}`}, in slices on, off, off, on, ... `
    + `(${s.slices.bulk} and ${s.slices.tunnels} per side and pair; off first every other pair)\n  proxy CPU = ${cpu}; paired = median of the rounds' own on/off\n`
    + table(['', on, 'spread', off, 'spread', 'on/off', 'paired', `≤ ${LIMIT}×`, 'notes'], body)
    + `\n  ${verdict}${s.rounds < 5 ? ' (fewer than 5 rounds: indicative only)' : ''}`;
}
