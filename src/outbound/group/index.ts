// The group kinds (`groups: - { name, type: fallback | fastest | round-robin, members, check, tolerance }`):
// how each reads its options; they share one Group dialer that orders members by type.
import type { OutboundKind } from '../kinds.js';
import type { DefinitionReader, OutboundDef } from '../types.js';
import { shownUrl } from './check.js';
import { Group, type GroupDef } from './group.js';
import type { GroupType } from '../../health/order.js';

export { Group } from './group.js';

/** Defaults for module and git fetches: check every 30 s, 3 failures in a row mark a member down, over 500 ms is slow. */
const CHECK_DEFAULTS = { intervalMs: 30_000, timeoutMs: 5_000, failures: 3, maxLatencyMs: 500 };
const TOLERANCE_MS = 50;
const CHECK_OPTIONS = ['url', 'interval', 'timeout', 'failures', 'max-latency', 'expect'] as const;

function parseGroup(entry: DefinitionReader, type: GroupType): GroupDef | undefined {
  const members = entry.strings('members');
  if (!members?.length) return void entry.problem(members ? 'members' : undefined, 'a group needs members: [NAME, …] (proxies, groups or DIRECT)');
  const seen = new Set<string>();
  let ok = true;
  members.forEach((m, i) => {
    if (seen.has(m)) {
      entry.problem('members', `"${m}" is listed twice`, i);
      ok = false;
    }
    seen.add(m);
  });
  const check = { ...CHECK_DEFAULTS, expect: [] as number[] } as GroupDef['check'];
  const c = entry.section('check', CHECK_OPTIONS);
  if (c) {
    const url = c.string('url');
    if (url !== undefined) {
      let parsed: URL | undefined;
      try {
        parsed = new URL(url);
      } catch { /* reported below */ }
      if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
        c.problem('url', `url: expected an http:// or https:// URL (got "${shownUrl(url)}")`);
        ok = false;
      } else if (parsed.username || parsed.password) {
        c.problem('url', 'url: credentials in a check URL are not supported (they would be shown in proxyctl and logs)');
        ok = false;
      } else check.url = parsed.href;
    }
    for (const [key, field] of [['interval', 'intervalMs'], ['timeout', 'timeoutMs'], ['max-latency', 'maxLatencyMs']] as const) {
      const ms = c.duration(key);
      if (ms === undefined) continue;
      if (ms <= 0) {
        c.problem(key, `${key}: must be more than 0`);
        ok = false;
      } else check[field] = ms;
    }
    const failures = c.count('failures');
    if (failures !== undefined && failures < 1) {
      c.problem('failures', 'failures: at least 1');
      ok = false;
    } else if (failures !== undefined) check.failures = failures;
    const expect = c.strings('expect');
    expect?.forEach((s, i) => {
      if (/^[1-5]\d\d$/.test(s)) check.expect.push(Number(s));
      else {
        c.problem('expect', `expect: "${s}" is not an HTTP status`, i);
        ok = false;
      }
    });
  }
  const tolerance = entry.duration('tolerance');
  if (tolerance !== undefined && type !== 'fastest') {
    entry.problem('tolerance', 'tolerance applies only to type: fastest');
    ok = false;
  }
  if (!ok) return undefined;
  return { name: entry.name, type, members, check, toleranceMs: tolerance ?? TOLERANCE_MS };
}

function groupKind(type: GroupType): OutboundKind {
  return {
    section: 'groups',
    builds: 'dialer',
    options: ['members', 'check', 'tolerance'],
    parse: (entry) => parseGroup(entry, type),
    uses: (def: OutboundDef) => (def as GroupDef).members.map((name, index) => ({ name, key: 'members', index })),
    build: (def, ctx) => new Group(def as GroupDef, ctx),
  };
}

export const GROUP_KINDS: Record<GroupType, OutboundKind> = {
  fallback: groupKind('fallback'),
  fastest: groupKind('fastest'),
  'round-robin': groupKind('round-robin'),
};
