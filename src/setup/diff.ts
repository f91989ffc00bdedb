// A unified diff of two small texts (config files), for `proxyctl setup --dry-run`.

const CONTEXT = 3;

/** `--- a` / `+++ b` and hunks; empty when the texts are equal */
export function unifiedDiff(before: string, after: string, name: string): string {
  if (before === after) return '';
  const a = lines(before);
  const b = lines(after);
  const ops = editScript(a, b);
  const out = [`--- ${name}`, `+++ ${name} (after)`];
  let i = 0;
  while (i < ops.length) {
    if (ops[i]!.op === ' ') {
      i++;
      continue;
    }
    // a hunk: this change, the changes within 2 × CONTEXT of it, and CONTEXT lines around
    let end = i;
    for (let j = i; j < ops.length && j - end <= 2 * CONTEXT; j++) if (ops[j]!.op !== ' ') end = j;
    const from = Math.max(0, i - CONTEXT);
    const to = Math.min(ops.length, end + CONTEXT + 1);
    const hunk = ops.slice(from, to);
    const startA = ops[from]!.a + 1;
    const startB = ops[from]!.b + 1;
    const countA = hunk.filter((o) => o.op !== '+').length;
    const countB = hunk.filter((o) => o.op !== '-').length;
    out.push(`@@ -${countA ? startA : startA - 1},${countA} +${countB ? startB : startB - 1},${countB} @@`);
    for (const o of hunk) out.push(`${o.op}${o.text}`);
    i = to;
  }
  if (!after.endsWith('\n') && after) out.push('\\ No newline at end of file');
  return `${out.join('\n')}\n`;
}

function lines(text: string): string[] {
  if (!text) return [];
  const l = text.split('\n');
  if (l.at(-1) === '') l.pop();
  return l;
}

interface Op {
  op: ' ' | '-' | '+';
  text: string;
  /** index in a and b where it stands */
  a: number;
  b: number;
}

/** the longest common subsequence's edit script (files here are a few hundred lines at most) */
function editScript(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) ops.push({ op: ' ', text: a[i]!, a: i++, b: j++ });
    else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) ops.push({ op: '-', text: a[i]!, a: i++, b: j });
    else ops.push({ op: '+', text: b[j]!, a: i, b: j++ });
  }
  return ops;
}
