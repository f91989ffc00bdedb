// Durations (`500ms`, `30s`, `5m`, `1h`), sizes (`64KiB`, `10GiB`, `1000`) and counts (`4096`) as written in configs.

const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const MAX_TIMER_MS = 2 ** 31 - 1;
const SIZE_BYTES: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};

/** Milliseconds, or an error message. */
export function parseDuration(value: unknown): number | string {
  const m = typeof value === 'string' ? value.trim().match(/^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/i) : null;
  if (!m) return `expected a duration such as 500ms, 30s, 5m or 1h (got ${JSON.stringify(value)})`;
  const ms = Math.round(Number(m[1]) * DURATION_MS[m[2]!.toLowerCase()]!);
  // Node's timers hold at most 2^31-1 ms and fire at once beyond it
  return ms > MAX_TIMER_MS ? `at most 596h (got ${JSON.stringify(value)})` : ms;
}

/** Bytes, or an error message. */
export function parseSize(value: unknown): number | string {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  const m = typeof value === 'string' ? value.trim().match(/^(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?$/i) : null;
  if (!m) return `expected a size such as 64KiB, 1MiB or 10GiB (got ${JSON.stringify(value)})`;
  return Math.round(Number(m[1]) * SIZE_BYTES[(m[2] ?? 'b').toLowerCase()]!);
}

/** A whole number of things (connections …), or an error message: no units, no fractions. */
export function parseCount(value: unknown): number | string {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) return `expected a whole number such as 4096 (got ${JSON.stringify(value)})`;
  return n;
}
