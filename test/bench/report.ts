// Statistics and plain-text tables.

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function median(xs: number[]): number {
  return percentile([...xs].sort((a, b) => a - b), 50);
}

export interface Figure {
  key: string;
  label: string;
  /** no "× direct" column (no direct equivalent, e.g. memory of a proxy process) */
  noRatio?: boolean;
  /** a "+ direct" column (what the proxy adds, e.g. to a round trip) instead of "× direct" */
  added?: boolean;
}

export interface RowResult {
  label: string;
  /** one record of figures per round */
  runs: Record<string, number>[];
  /** why a row has no figures (not installed, not available, failed) */
  error?: string;
  /** remarks from the runs (e.g. wrk socket errors) */
  notes: string[];
}

export interface MetricResult {
  id: string;
  title: string;
  method: string;
  figures: Figure[];
  rows: RowResult[];
}

export interface Summary {
  median: Record<string, number>;
  ratio: Record<string, number>;
  /** half the max-min range of the first figure across rounds, relative to its median */
  spread: number;
}

export function summarize(m: MetricResult, row: RowResult): Summary | undefined {
  if (!row.runs.length) return undefined;
  const direct = m.rows.find((r) => r.label === 'direct');
  const med = (r: RowResult, k: string) => median(r.runs.map((x) => x[k]));
  const out: Summary = { median: {}, ratio: {}, spread: 0 };
  for (const f of m.figures) {
    out.median[f.key] = med(row, f.key);
    if (f.noRatio || !direct?.runs.length) continue;
    out.ratio[f.key] = f.added ? out.median[f.key] - med(direct, f.key) : out.median[f.key] / med(direct, f.key);
  }
  const first = row.runs.map((x) => x[m.figures[0].key]);
  out.spread = (Math.max(...first) - Math.min(...first)) / 2 / out.median[m.figures[0].key];
  return out;
}

/** Three significant digits, thousands as k. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return '-';
  if (Math.abs(v) >= 10_000) return `${(v / 1000).toPrecision(3)}k`;
  if (Math.abs(v) >= 100) return v.toFixed(0);
  return v.toPrecision(3);
}

export function renderMetric(m: MetricResult): string {
  const head = ['', ...m.figures.flatMap((f) => (f.noRatio ? [f.label] : [f.label, f.added ? '+ direct' : '× direct'])), 'spread', 'notes'];
  const body = m.rows.map((row) => {
    const s = summarize(m, row);
    const cells = m.figures.flatMap((f) => {
      const v = s ? fmt(s.median[f.key]) : '';
      if (f.noRatio) return [v];
      const r = s?.ratio[f.key];
      if (r === undefined || row.label === 'direct') return [v, ''];
      return [v, f.added ? `${r >= 0 ? "+" : ""}${fmt(r)}` : `${r.toFixed(2)}×`];
    });
    const notes = [row.error, ...new Set(row.notes)].filter(Boolean).join('; ');
    return [row.label, ...cells, s && row.runs.length > 1 ? `±${(s.spread * 100).toFixed(0)}%` : '', notes];
  });
  return `${m.title}\n  ${m.method}\n${table(head, body)}`;
}

export function table(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].map((l) => `  ${l}`).join('\n');
}
