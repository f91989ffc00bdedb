// DST-PORT: the rule kind that matches the target's port: `22`, `8000-9000`, `80/443/8080-8090`.
import type { RuleKind } from './rule-kind.js';

type PortRange = [from: number, to: number];

export const DST_PORT: RuleKind<PortRange[]> = {
  parse: portRanges,
  insert: (t, ranges, id) => ranges.forEach(([a, b]) => t.addPorts(a, b, id)),
  explain: ({ value }, { target }) => `port ${target.port} is not ${/^\d+$/.test(value) ? '' : 'in '}${value}`,
};

function portRanges(value: string): PortRange[] | { error: string } {
  const out: PortRange[] = [];
  for (const part of value.split('/')) {
    const m = part.match(/^(\d{1,5})(?:-(\d{1,5}))?$/);
    const a = m ? Number(m[1]) : NaN;
    const b = m?.[2] ? Number(m[2]) : a;
    if (!m || a < 1 || b > 65535 || a > b) return { error: `"${value}" is not a port or port range (1-65535)` };
    out.push([a, b]);
  }
  return out;
}
