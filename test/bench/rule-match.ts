// Time per rule match of proxyd's router at 10 and 100,000 rules: a rule list must cost
// nothing per connection that grows with its length (SPEC: domain trie, CIDR table).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { median } from './report.ts';

interface Router { matchSync(t: { host: string; port: number }): { target: string; rule: string; index: number } }
type Compile = (lines: string[]) => Router;
interface Query { target: { host: string; port: number }; expect: number }

export interface RuleMatchSize { rules: number; compileMs: number; nsPerMatch: number; runs: number[] }
export type RuleMatchResult =
  | { available: true; sizes: RuleMatchSize[]; ratio: number; mismatches: number; example?: string }
  | { available: false; reason: string };

/** Deterministic PRNG (mulberry32), so that every run times the same rules. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `size` rules ending with MATCH,DIRECT: about 45% DOMAIN-SUFFIX, 35% DOMAIN, 1% DOMAIN-KEYWORD,
 * 19% IP-CIDR (no-resolve), and queries: half for one of the last 10% of rules, half for none
 * (names under .invalid, addresses in 198.18.0.0/15, which no rule uses). The hits go to the last
 * 10% but never fewer than the last 10 rules, so that at 10 rules they meet every kind as they do
 * at 100,000 (the last 10% of 10 rules is one IP rule: the sizes compared names with addresses).
 */
export function generate(size: number, queries: number, seed = 1): { lines: string[]; queries: Query[] } {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const word = (min: number, max: number) => Array.from({ length: min + int(max - min + 1) }, () => String.fromCharCode(97 + int(26))).join('');
  const tlds = ['com', 'net', 'org', 'io', 'cn'];
  const lines: string[] = [];
  const hits: string[] = []; // a host that the rule at the same index matches
  let cidrs = 0;
  for (let i = 0; i < size - 1; i++) {
    const target = i % 2 ? 'REJECT' : 'DIRECT';
    const k = (i * 37) % 100; // spreads the kinds over the list, also for 10 rules
    if (k < 1) {
      const kw = word(10, 10);
      lines.push(`DOMAIN-KEYWORD,${kw},${target}`);
      hits.push(`a${kw}z.example.org`);
    } else if (k < 46) {
      const d = `${word(6, 12)}.${tlds[int(tlds.length)]}`;
      lines.push(`DOMAIN-SUFFIX,${d},${target}`);
      hits.push(`www.${d}`);
    } else if (k < 81) {
      const d = `${word(3, 8)}.${word(6, 12)}.${tlds[int(tlds.length)]}`;
      lines.push(`DOMAIN,${d},${target}`);
      hits.push(d);
    } else {
      // Each CIDR rule in a /16 of its own, so that no earlier rule covers its addresses.
      const bits = 16 + int(13);
      const ip = ((11 + (cidrs >> 8)) << 24 | (cidrs++ & 255) << 16 | int(1 << 16)) >>> 0;
      const net = (ip & (~0 << (32 - bits))) >>> 0;
      lines.push(`IP-CIDR,${dotted(net)}/${bits},${target},no-resolve`);
      hits.push(dotted(net + 1));
    }
  }
  lines.push('MATCH,DIRECT');
  const late = Math.max(Math.min(10, size - 1), Math.floor((size - 1) / 10));
  const out: Query[] = [];
  for (let q = 0; q < queries; q++) {
    if (q % 2 === 0) {
      const i = size - 1 - late + int(late);
      out.push({ target: { host: asReceived(hits[i]), port: 443 }, expect: i });
    } else {
      const host = q % 4 === 1 ? `${word(4, 10)}.${word(4, 10)}.invalid` : dotted((198 << 24 | 18 << 16 | int(1 << 17)) >>> 0);
      out.push({ target: { host: asReceived(host), port: 443 }, expect: size - 1 });
    }
  }
  return { lines, queries: out };
}

/**
 * The host as a connection brings it: a flat string of its own, decoded from the request's bytes.
 * (A template literal makes a rope, whose characters are one more pointer away on every read.)
 */
function asReceived(host: string): string {
  return Buffer.from(host, 'latin1').toString('latin1');
}

function dotted(ip: number): string {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.');
}

export async function ruleMatch(repoRoot: string, sizes: number[], calls: number, rounds: number): Promise<RuleMatchResult> {
  let compile: Compile;
  try {
    const mod = await import(pathToFileURL(join(repoRoot, 'dist', 'router', 'index.js')).href);
    if (typeof mod.compileRules !== 'function') throw new Error('dist/router/index.js has no compileRules export');
    compile = mod.compileRules;
  } catch (e) {
    return { available: false, reason: (e as Error).message.split('\n')[0] };
  }
  const setups: { size: number; router: Router; queries: Query[]; compileMs: number; runs: number[] }[] = [];
  let mismatches = 0;
  let example: string | undefined;
  for (const size of sizes) {
    const { lines, queries } = generate(size, 10_000);
    const t0 = process.hrtime.bigint();
    let router: Router;
    try {
      router = compile(lines);
    } catch (e) {
      return { available: false, reason: `compileRules threw at ${size} rules: ${(e as Error).message}` };
    }
    const compileMs = Number(process.hrtime.bigint() - t0) / 1e6;
    for (const q of queries) {
      const m = router.matchSync(q.target);
      if (m?.index !== q.expect) {
        mismatches++;
        example ??= `${q.target.host} at ${size} rules: expected rule ${q.expect} (${lines[q.expect]}), got ${JSON.stringify(m)}`;
      }
    }
    setups.push({ size, router, queries, compileMs, runs: [] });
  }
  for (let r = 0; r < rounds; r++) {
    for (const s of setups) s.runs.push(timeMatches(s.router, s.queries, calls));
  }
  const out = setups.map((s) => ({ rules: s.size, compileMs: s.compileMs, nsPerMatch: median(s.runs), runs: s.runs }));
  return { available: true, sizes: out, ratio: out[out.length - 1].nsPerMatch / out[0].nsPerMatch, mismatches, example };
}

/** ns per matchSync over `calls` calls cycling through the queries, after a warm-up. */
function timeMatches(router: Router, queries: Query[], calls: number): number {
  let sink = 0; // used below so the calls cannot be optimised away
  for (let i = 0; i < Math.min(calls, 20_000); i++) sink += router.matchSync(queries[i % queries.length].target).index;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) sink += router.matchSync(queries[i % queries.length].target).index;
  const ns = Number(process.hrtime.bigint() - t0) / calls;
  if (sink < 0) console.log(sink);
  return ns;
}
