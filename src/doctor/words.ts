// How doctor writes durations in its verdicts.

/** 5000 → "5 s", 1500 → "1.5 s", 250 → "0.25 s" */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toPrecision(2))} s`;
}

/** 180.4 → "180 ms", 2.36 → "2.4 ms", 0.31 → "0.31 ms" */
export function millis(ms: number): string {
  return `${ms < 1 ? ms.toFixed(2) : ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
}
