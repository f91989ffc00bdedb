// Which member a group (or a mirror) tries first, and in what order the others follow when it
// fails: one function per group type, pure, over the members' health.
import type { MemberHealth } from './member-health.js';

export type GroupType = 'fallback' | 'fastest' | 'round-robin';

export interface Candidate {
  name: string;
  health: MemberHealth;
}

export interface Choice {
  /** the members to try, best first; every member is in it (a down one last: it may be back) */
  order: string[];
  /** why the first one, in words for `proxyctl` and the log */
  why: string;
}

/** down members last, unknown ones before them, slow ones after the healthy fast ones */
function rank(c: Candidate): number {
  const h = c.health;
  if (h.status === 'down') return 3;
  if (h.status === 'unknown') return 2;
  return h.slow ? 1 : 0;
}

function byRank(members: readonly Candidate[]): Candidate[] {
  return members.map((c, i) => ({ c, i })).sort((a, b) => rank(a.c) - rank(b.c) || a.i - b.i).map((x) => x.c);
}

/** fallback: the first member, in the configured order, that is up and under max-latency; else up; else the rest */
export function fallbackOrder(members: readonly Candidate[]): Choice {
  const order = byRank(members);
  const first = order[0]!;
  const skipped = members.slice(0, members.indexOf(first)).map((m) => `${m.name} ${m.health.status === 'up' ? 'slow' : m.health.status}`);
  const why = first.health.status === 'down' ? 'every member is down: trying them in order'
    : `${first.health.slow ? 'up but slow (none is up and under max-latency)' : first.health.status === 'up' ? 'up' : 'not checked yet'}`
      + (skipped.length ? `; before it: ${skipped.join(', ')}` : '');
  return { order: order.map((c) => c.name), why };
}

/**
 * fastest: the up member with the lowest recent check latency; the current choice is kept unless
 * another is faster by more than `toleranceMs`, so near-equal members do not flap.
 */
export function fastestOrder(members: readonly Candidate[], current: string | undefined, toleranceMs: number): Choice {
  const latency = (c: Candidate) => c.health.recentLatencyMs ?? Infinity;
  const up = members.filter((c) => c.health.status === 'up').sort((a, b) => latency(a) - latency(b));
  const rest = byRank(members.filter((c) => c.health.status !== 'up'));
  if (up.length === 0) return { order: rest.map((c) => c.name), why: 'no member is up: trying them in order' };
  const keep = up.find((c) => c.name === current);
  const best = up[0]!;
  const chosen = keep && latency(keep) - latency(best) <= toleranceMs ? keep : best;
  const order = [chosen, ...up.filter((c) => c !== chosen), ...rest];
  const why = chosen === keep && chosen !== best
    ? `kept: within ${toleranceMs} ms of the fastest (${best.name})`
    : `fastest up member (${latency(chosen)} ms)`;
  return { order: order.map((c) => c.name), why };
}

/** round-robin: the up members in turn (`turn` counts the connections so far), then the rest */
export function roundRobinOrder(members: readonly Candidate[], turn: number): Choice {
  const up = members.filter((c) => c.health.status === 'up');
  const rest = byRank(members.filter((c) => c.health.status !== 'up'));
  if (up.length === 0) return { order: rest.map((c) => c.name), why: 'no member is up: trying them in order' };
  const start = turn % up.length;
  const rotated = [...up.slice(start), ...up.slice(0, start)];
  return { order: [...rotated, ...rest].map((c) => c.name), why: `member ${start + 1} of ${up.length} up, in turn` };
}
