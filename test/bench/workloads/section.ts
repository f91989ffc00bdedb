// The workloads section of `npm run bench` (`--only workloads`): what a user of the mirrors waits
// for, a whole `npm ci`, `go mod download`, `pip download` and `git clone`, against an origin on
// loopback that waits a fixed delay per request (`--origin-delay MS`, default 20) to stand for a
// distant registry, with the peers and limits beside proxyd in the same rounds. Each figure is
// the median of the rounds (round r runs every block of a workload once, in a rotated order);
// the targets of issue 21 are ratios of those medians.
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fmt, median, table } from '../report.ts';
import { gitWorkload } from './git-rows.ts';
import { goWorkload } from './go-rows.ts';
import { npmWorkload } from './npm-rows.ts';
import { pipWorkload } from './pip-rows.ts';
import type { Measure, Target, Workload, WorkloadContext } from './rows.ts';

export const WORKLOADS = ['npm', 'go', 'pip', 'git'] as const;

export interface WorkloadRowResult {
  label: string;
  runs: Measure[];
  error?: string;
  notes: string[];
}

export interface WorkloadResult {
  id: string;
  title: string;
  method: string;
  rows: WorkloadRowResult[];
  targets: Array<Target & { ratio: number; met: boolean | undefined }>;
  seconds: number;
  error?: string;
}

export interface WorkloadsResult {
  delayMs: number;
  rounds: number;
  seconds: number;
  /** the load average (1 min) at the start and the end: other work on the machine */
  load: [number, number];
  workloads: WorkloadResult[];
}

const STARTERS: Record<(typeof WORKLOADS)[number], (ctx: WorkloadContext) => Promise<Workload>> = {
  npm: npmWorkload, go: goWorkload, pip: pipWorkload, git: gitWorkload,
};

const med = (row: WorkloadRowResult | undefined, key: keyof Measure) => (row?.runs.length ? median(row.runs.map((r) => r[key])) : NaN);

async function runWorkload(id: (typeof WORKLOADS)[number], ctx: WorkloadContext, rounds: number): Promise<WorkloadResult> {
  const started = Date.now();
  let w: Workload;
  try {
    w = await STARTERS[id](ctx);
  } catch (e) {
    return { id, title: id, method: '', rows: [], targets: [], seconds: (Date.now() - started) / 1000, error: (e as Error).message.slice(0, 300) };
  }
  const rows = new Map(w.rows.map((label) => [label, { label, runs: [], notes: [] } as WorkloadRowResult]));
  try {
    // one unrecorded run of the first block: the client's and the harness's code are cold at first
    await w.blocks[0]!.run(() => undefined).catch(() => undefined);
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < w.blocks.length; k++) {
        const block = w.blocks[(k + round) % w.blocks.length]!;
        if (block.missing) {
          for (const r of block.rows) rows.get(r)!.error = block.missing;
          continue;
        }
        ctx.log(`  ${id} round ${round + 1}/${rounds}: ${block.rows.join(', ')}`);
        try {
          await block.run((label, m) => rows.get(label)!.runs.push(m));
        } catch (e) {
          for (const r of block.rows) rows.get(r)!.notes.push(`failed: ${(e as Error).message}`.slice(0, 200));
        }
      }
    }
  } finally {
    await w.close().catch(() => undefined);
  }
  const targets = w.targets.map((t) => {
    const ratio = med(rows.get(t.row), 'seconds') / med(rows.get(t.against), 'seconds');
    return { ...t, ratio, met: Number.isFinite(ratio) ? ratio <= t.limit : undefined };
  });
  return { id, title: w.title, method: w.method, rows: [...rows.values()], targets, seconds: (Date.now() - started) / 1000 };
}

export async function workloads(tmp: string, repoRoot: string, opts: { rounds: number; delayMs: number; only?: string[]; log: (line: string) => void }): Promise<WorkloadsResult> {
  const started = Date.now();
  const load0 = os.loadavg()[0]!;
  const out: WorkloadResult[] = [];
  for (const id of WORKLOADS) {
    if (opts.only && !opts.only.includes(id)) continue;
    const dir = join(tmp, `workload-${id}`);
    mkdirSync(dir, { recursive: true });
    const r = await runWorkload(id, { dir, repoRoot, delayMs: opts.delayMs, log: opts.log }, opts.rounds);
    opts.log(`\n${renderWorkload(r)}\n`);
    out.push(r);
  }
  return { delayMs: opts.delayMs, rounds: opts.rounds, seconds: (Date.now() - started) / 1000, load: [load0, os.loadavg()[0]!], workloads: out };
}

function renderWorkload(w: WorkloadResult): string {
  if (w.error) return `${w.title}\n  not available: ${w.error}`;
  const spread = (r: WorkloadRowResult) => {
    if (r.runs.length < 2) return '';
    const xs = r.runs.map((m) => m.seconds);
    return `±${(((Math.max(...xs) - Math.min(...xs)) / 2 / median(xs)) * 100).toFixed(0)}%`;
  };
  const count = (r: WorkloadRowResult, key: keyof Measure) => (Number.isFinite(med(r, key)) ? String(Math.round(med(r, key))) : '-');
  const body = w.rows.map((r) => {
    const notes = [r.error, ...new Set(r.notes)].filter(Boolean);
    if (r.runs.length && med(r, 'notModified') > 0) notes.unshift(`${count(r, 'notModified')} of them 304`);
    return [r.label, r.runs.length ? fmt(med(r, 'seconds')) : '', spread(r), r.runs.length ? fmt(med(r, 'cpu')) : '',
      r.runs.length ? count(r, 'origin') : '', r.runs.length ? count(r, 'proxyd') : '', String(r.runs.length), notes.join('; ')];
  });
  return `${w.title}\n  ${w.method}\n${table(['', 'wall s', 'spread', 'proxy CPU s', 'origin req', 'proxyd req', 'runs', 'notes'], body)}`;
}

/** Every workload's table (unless printed already, as each workload ended), then the targets with their ratios. */
export function renderWorkloads(r: WorkloadsResult, tables = true): string {
  const head = `Workloads (origin delay ${r.delayMs} ms a request; medians of ${r.rounds} round(s); ${r.seconds.toFixed(0)} s; `
    + `load average ${r.load[0].toFixed(1)} at the start, ${r.load[1].toFixed(1)} at the end)`;
  const targets = r.workloads.flatMap((w) => w.targets.map((t) => [`${w.id}: ${t.row} / ${t.against}`,
    Number.isFinite(t.ratio) ? `${t.ratio.toFixed(2)}×` : '-', `≤ ${t.limit}×`, t.met === undefined ? 'no figure' : t.met ? 'met' : 'MISSED']));
  const each = tables ? `${r.workloads.map(renderWorkload).join('\n\n')}\n\n` : '';
  return `${head}\n\n${each}Workload targets (wall time, medians)\n${table(['', 'ratio', 'target', ''], targets)}`;
}
