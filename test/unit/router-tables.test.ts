// The router's indexes (domain table, keyword automaton, CIDR table) against a naive scan of
// the same entries, on random entries over small alphabets so that names, keywords and networks
// overlap. Each run prints its seed; ROUTER_SEED=<seed> replays it.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parseCidr } from '../../src/address/index.js';
import { CidrTable } from '../../src/router/cidr-table.js';
import { DomainTable, NONE, type DomainHow } from '../../src/router/domain-table.js';
import { KeywordMatcher } from '../../src/router/keyword-matcher.js';

const seed = Number(process.env.ROUTER_SEED ?? Date.now() % 2 ** 31);
console.info(`router-tables: seed ${seed} (replay with ROUTER_SEED=${seed})`);
const params = { seed, numRuns: 200 };

/** Smallest id of the entries that `matches` accepts, or NONE: what "first rule wins" means. */
function naive<E extends { id: number }>(entries: E[], matches: (e: E) => boolean): number {
  return entries.reduce((best, e) => (e.id < best && matches(e) ? e.id : best), NONE);
}

// Labels from a few letters, empty ones included, so that hosts share suffixes with the rules.
const label = fc.constantFrom('a', 'b', 'ab', 'ba', 'abc', 'x', '', 'a-b', 'longlabelxyzlonglabel');
const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.'));
const how = fc.constantFrom<DomainHow>('exact', 'suffix', 'below', 'oneBelow');

function domainMatches(host: string, d: { name: string; how: DomainHow }): boolean {
  const below = host.endsWith(`.${d.name}`);
  switch (d.how) {
    case 'exact': return host === d.name;
    case 'suffix': return host === d.name || below;
    case 'below': return below;
    case 'oneBelow': return below && !host.slice(0, -d.name.length - 1).includes('.');
  }
}

describe('domain table agrees with a naive scan', () => {
  test('random names, every way of matching, enough entries to grow the table', () => {
    const entry = fc.record({ name, how, id: fc.nat(1000) });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 120 }), fc.array(name, { minLength: 1, maxLength: 20 }), (entries, hosts) => {
        const table = new DomainTable();
        for (const e of entries) table.add(e.name, e.how, e.id);
        for (const host of [...hosts, 'a.\u0101b', ...entries.map((e) => `q.${e.name}`), ...entries.map((e) => e.name)]) {
          expect(table.match(host), host).toBe(naive(entries, (e) => domainMatches(host, e)));
        }
      }),
      params,
    );
  });

  test('thousands of names: `*.name` entries from before the table grew, and names of three to five labels', () => {
    const table = new DomainTable();
    for (let i = 0; i < 300; i++) table.add(`s${i}.example`, 'oneBelow', i);
    for (let i = 0; i < 3000; i++) table.add(`${'x.'.repeat(i % 3)}n${i}.example.net`, i % 2 ? 'exact' : 'suffix', 1000 + i);
    for (let i = 0; i < 300; i++) {
      expect(table.match(`a.s${i}.example`)).toBe(i);
      expect(table.match(`a.b.s${i}.example`)).toBe(NONE);
      expect(table.match(`s${i}.example`)).toBe(NONE);
    }
    for (let i = 0; i < 3000; i++) {
      const name = `${'x.'.repeat(i % 3)}n${i}.example.net`;
      expect(table.match(name)).toBe(1000 + i);
      expect(table.match(`y.${name}`)).toBe(i % 2 ? NONE : 1000 + i);
    }
  });

  test('wildcards under a name and at the root, before and after the table grows', () => {
    const table = new DomainTable();
    table.addWildcard('api-*.example.com', 3);
    table.addWildcard('*', 9);
    table.add('example.com', 'suffix', 5);
    for (let grown = 0; grown < 2; grown++) {
      expect(table.match('api-eu.example.com')).toBe(3);
      expect(table.match('web.example.com')).toBe(5);
      expect(table.match('other.org')).toBe(9);
      for (let i = 0; i < 500; i++) table.add(`n${i}.example.net`, 'exact', 100 + i);
    }
  });
});

describe('keyword automaton agrees with a naive scan', () => {
  test('random keywords over a small alphabet, found at any place and through failure links', () => {
    const text = (max: number) => fc.string({ unit: fc.constantFrom('a', 'b', 'c', '.', '-'), minLength: 1, maxLength: max });
    const entry = fc.record({ keyword: text(6), id: fc.nat(1000) });
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 60 }), fc.array(text(20), { minLength: 1, maxLength: 20 }), (entries, hosts) => {
        const matcher = new KeywordMatcher();
        for (const e of entries) matcher.add(e.keyword, e.id);
        for (const host of [...hosts, 'zzz', 'a\u00e9b', ...entries.map((e) => `x${e.keyword}y`)]) {
          expect(matcher.match(host), host).toBe(naive(entries, (e) => host.includes(e.keyword)));
        }
      }),
      params,
    );
  });
});

describe('CIDR table agrees with a naive scan', () => {
  const toNumber = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const dotted = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  // Addresses in a few /16s, near one another, so prefixes of all lengths nest and collide.
  const address = fc.tuple(fc.constantFrom(10 << 24, (10 << 24) | (1 << 16), (192 << 24) | (168 << 16), 255 << 24), fc.nat(0x3ff))
    .map(([base, low]) => dotted((base + (low << 6) + (low & 7)) >>> 0));
  const contains = (net: string, prefix: number, ip: string) =>
    prefix === 0 || Math.floor(toNumber(ip) / 2 ** (32 - prefix)) === Math.floor(toNumber(net) / 2 ** (32 - prefix));

  test('random IPv4 networks of every prefix length', () => {
    const entry = fc.record({ net: address, prefix: fc.nat(32), id: fc.nat(1000) });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 120 }), fc.array(address, { minLength: 1, maxLength: 30 }), (entries, ips) => {
        const table = new CidrTable();
        for (const e of entries) table.add(parseCidr(`${e.net}/${e.prefix}`)!, e.id);
        for (const ip of [...ips, ...entries.map((e) => e.net)]) {
          expect(table.match(ip), ip).toBe(naive(entries, (e) => contains(e.net, e.prefix, ip)));
        }
      }),
      params,
    );
  });
});
