// Human output for proxyctl: aligned tables, units, and colour only on a terminal without NO_COLOR.
import { formatBytes } from '../log/pretty.js';

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
}

const plain: Style = { bold: (s) => s, dim: (s) => s, red: (s) => s, green: (s) => s, yellow: (s) => s };
const sgr = (code: number) => (s: string) => `\x1b[${code}m${s}\x1b[0m`;
const ansi: Style = { bold: sgr(1), dim: sgr(2), red: sgr(31), green: sgr(32), yellow: sgr(33) };

export function styleFor(stream: NodeJS.WriteStream): Style {
  return stream.isTTY && !process.env.NO_COLOR ? ansi : plain;
}

/** visible width: escape sequences take none */
export function width(s: string): number {
  return s.replace(/\x1b\[[0-9;]*m/g, '').length;
}

/** Rows under a header, each column as wide as its widest cell; `right`: columns aligned right (numbers). */
export function table(header: string[], rows: string[][], right: ReadonlySet<number> = new Set(), style: Style = plain): string {
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells.map((c, i) => {
      const pad = ' '.repeat(widths[i]! - width(c));
      return right.has(i) ? pad + c : i === cells.length - 1 ? c : c + pad;
    }).join('  ').trimEnd();
  return [style.bold(line(header)), ...rows.map(line)].join('\n');
}

/** bytes with a binary unit: 811 B, 4.5 KiB, 40.0 MiB (the log's format) */
export const bytes = (n: number): string => formatBytes(n);

/** a latency in ms with the precision it deserves: 0.31, 2.4, 120; `-` with no sample */
export function ms(v: number | null): string {
  if (v === null) return '-';
  if (v < 1) return v.toFixed(2);
  if (v < 10) return v.toFixed(1);
  return String(Math.round(v));
}

/** errors by class as `timeout 2, refused 1`; `-` with none */
export function errorCounts(errors: Record<string, number>): string {
  const parts = Object.entries(errors).filter(([, n]) => n > 0).map(([cls, n]) => `${cls} ${n}`);
  return parts.length ? parts.join(', ') : '-';
}

const BLOCKS = '▁▂▃▄▅▆▇█';

/** a sparkline of values (null: no sample, drawn as a space), scaled to the largest */
export function sparkline(values: Array<number | null>): string {
  const max = Math.max(0, ...values.map((v) => v ?? 0));
  return values.map((v) => (v === null ? ' ' : BLOCKS[max > 0 ? Math.min(7, Math.floor((v / max) * 7.999)) : 0])).join('');
}

/** a bar of `cells` cells for value/max */
export function bar(value: number, max: number, cells = 20): string {
  const filled = max > 0 ? Math.round((value / max) * cells) : 0;
  return '█'.repeat(filled) + '·'.repeat(cells - filled);
}
