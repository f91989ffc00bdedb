import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { normalizeHost } from '../../src/address/index.js';
import { compileRules, loadRuleSet, type Resolve, type RuleSet, type SourceError } from '../../src/router/index.js';

const t = (host: string, port = 443) => ({ host, port });

/** A resolver that answers from `dns` (a missing name does not resolve) and records what it was asked. */
function resolver(dns: Record<string, string[]> = {}): Resolve & { asked: string[] } {
  const asked: string[] = [];
  const resolve = async (host: string) => {
    asked.push(host);
    const addresses = dns[host];
    if (!addresses) throw new Error(`ENOTFOUND ${host}`);
    return addresses;
  };
  return Object.assign(resolve, { asked });
}

const dir = mkdtempSync(join(tmpdir(), 'proxyd-explain-'));
function ruleSet(name: string, lines: string[]): RuleSet {
  const file = join(dir, `${name}.txt`);
  writeFileSync(file, lines.join('\n'));
  const errors: SourceError[] = [];
  const set = loadRuleSet(name, file, errors);
  if (errors.length) throw new Error(`rule set ${name}: ${JSON.stringify(errors)}`); // also called outside tests, where expect does not belong
  return set;
}

describe('each rule kind: the match and why the rules before it did not match', () => {
  test('DOMAIN', async () => {
    const router = compileRules(['DOMAIN,example.com,A', 'DOMAIN,GitHub.com,B', 'MATCH,DIRECT']);
    expect(await router.explain(t('github.com'), resolver())).toEqual({
      route: 'B',
      rule: 'DOMAIN,GitHub.com,B',
      index: 1,
      tried: [{ index: 0, rule: 'DOMAIN,example.com,A', reason: 'github.com is not example.com' }],
      omitted: 0,
    });
  });

  test('DOMAIN-SUFFIX', async () => {
    const router = compileRules(['DOMAIN-SUFFIX,.example.com,A', 'DOMAIN-SUFFIX,github.com,B']);
    const e = await router.explain(t('api.github.com'), resolver());
    expect(e).toMatchObject({ route: 'B', rule: 'DOMAIN-SUFFIX,github.com,B', index: 1, omitted: 0 });
    expect(e.tried).toEqual([{ index: 0, rule: 'DOMAIN-SUFFIX,.example.com,A', reason: 'api.github.com is not example.com or below it' }]);
  });

  test('DOMAIN-KEYWORD', async () => {
    const router = compileRules(['DOMAIN-KEYWORD,gitlab,A', 'DOMAIN-KEYWORD,hub,B']);
    const e = await router.explain(t('github.com'), resolver());
    expect(e).toMatchObject({ route: 'B', rule: 'DOMAIN-KEYWORD,hub,B', index: 1 });
    expect(e.tried.map((r) => r.reason)).toEqual(['github.com does not contain "gitlab"']);
  });

  test('DOMAIN-WILDCARD', async () => {
    const router = compileRules(['DOMAIN-WILDCARD,api-*.example.com,A', 'DOMAIN-WILDCARD,*.github.com,B']);
    const e = await router.explain(t('codeload.github.com'), resolver());
    expect(e).toMatchObject({ route: 'B', rule: 'DOMAIN-WILDCARD,*.github.com,B', index: 1 });
    expect(e.tried.map((r) => r.reason)).toEqual(['codeload.github.com does not match api-*.example.com']);
  });

  test('IP-CIDR on an IP literal: no lookup', async () => {
    const router = compileRules(['IP-CIDR,10.0.0.0/8,A', 'IP-CIDR,192.168.0.0/16,B']);
    const resolve = resolver();
    const e = await router.explain(t('192.168.1.2'), resolve);
    expect(e).toEqual({
      route: 'B',
      rule: 'IP-CIDR,192.168.0.0/16,B',
      index: 1,
      tried: [{ index: 0, rule: 'IP-CIDR,10.0.0.0/8,A', reason: '192.168.1.2 is not in 10.0.0.0/8' }],
      omitted: 0,
    });
    expect(resolve.asked).toEqual([]);
  });

  test('IP-CIDR on a host name: the addresses looked up, and those the matching rule allows', async () => {
    const router = compileRules(['IP-CIDR,10.0.0.0/8,A', 'IP-CIDR,140.82.0.0/16,B']);
    const resolve = resolver({ 'github.com': ['20.1.1.1', '140.82.1.1'] });
    expect(await router.explain(t('github.com'), resolve)).toEqual({
      route: 'B',
      rule: 'IP-CIDR,140.82.0.0/16,B',
      index: 1,
      tried: [{ index: 0, rule: 'IP-CIDR,10.0.0.0/8,A', reason: 'no address of github.com is in 10.0.0.0/8 (20.1.1.1, 140.82.1.1)' }],
      omitted: 0,
      resolved: ['20.1.1.1', '140.82.1.1'],
      addresses: ['140.82.1.1'],
    });
    expect(resolve.asked).toEqual(['github.com']);
  });

  test('IP-CIDR on a host name that does not resolve', async () => {
    const router = compileRules(['IP-CIDR,10.0.0.0/8,A', 'MATCH,B']);
    expect(await router.explain(t('nx.example'), resolver())).toEqual({
      route: 'B',
      rule: 'MATCH,B',
      index: 1,
      tried: [{ index: 0, rule: 'IP-CIDR,10.0.0.0/8,A', reason: 'nx.example did not resolve, so no address of it is in 10.0.0.0/8' }],
      omitted: 0,
      resolved: [],
      addresses: [],
      lookup: { outcome: 'failed', reason: 'ENOTFOUND nx.example' }, // what the resolver threw: not a LookupError, so no more is known
    });
  });

  test('IP-CIDR6', async () => {
    const router = compileRules(['IP-CIDR6,2001:db8::/32,A', 'IP-CIDR6,2001:db9::/32,B']);
    const e = await router.explain(t('2001:db9::5'), resolver());
    expect(e).toMatchObject({ route: 'B', rule: 'IP-CIDR6,2001:db9::/32,B', index: 1 });
    expect(e.tried.map((r) => r.reason)).toEqual(['2001:db9::5 is not in 2001:db8::/32']);
  });

  test('DST-PORT: a port, a list, a range', async () => {
    const router = compileRules(['DST-PORT,22,A', 'DST-PORT,80/443,B', 'DST-PORT,8000-9000,C']);
    const e = await router.explain(t('github.com', 8080), resolver());
    expect(e).toMatchObject({ route: 'C', rule: 'DST-PORT,8000-9000,C', index: 2 });
    expect(e.tried.map((r) => r.reason)).toEqual(['port 8080 is not 22', 'port 8080 is not in 80/443']);
  });

  test('RULE-SET: every entry syntax fails on the target and its addresses; the matching entry is named', async () => {
    const set = ruleSet('corp', ['+.corp.example', '.internal.example', '*.one.example', 'git.example', '10.0.0.0/8', 'DOMAIN-KEYWORD,gitlab']);
    const router = compileRules(['RULE-SET,corp,A', 'DOMAIN-SUFFIX,github.com,B'], { ruleSets: new Map([['corp', set]]) });
    const e = await router.explain(t('github.com'), resolver({ 'github.com': ['140.82.1.1'] }));
    expect(e).toEqual({
      route: 'B',
      rule: 'DOMAIN-SUFFIX,github.com,B',
      index: 1,
      tried: [{ index: 0, rule: 'RULE-SET,corp,A', reason: `no entry of rule set corp (${set.file}) matches github.com:443 or its addresses (140.82.1.1)` }],
      omitted: 0,
      resolved: ['140.82.1.1'],
      addresses: ['140.82.1.1'],
    });
    const hit = await compileRules(['DOMAIN,x.example,X', 'RULE-SET,corp,A'], { ruleSets: new Map([['corp', set]]) }).explain(t('a.b.corp.example'), resolver());
    expect(hit).toMatchObject({ route: 'A', rule: 'RULE-SET,corp,A', index: 1, detail: `+.corp.example (${set.file}:1)` });
    expect(hit.tried.map((r) => r.reason)).toEqual(['a.b.corp.example is not x.example']);
  });

  test('RULE-SET: an IP literal, a name that does not resolve, a set without IP entries', async () => {
    const corp = ruleSet('corp-ip', ['+.corp.example', '10.0.0.0/8']);
    const names = ruleSet('names', ['+.corp.example', 'DST-PORT,22']);
    const router = compileRules(['RULE-SET,corp-ip,A', 'RULE-SET,names,B', 'MATCH,C'], {
      ruleSets: new Map([['corp-ip', corp], ['names', names]]),
    });
    expect((await router.explain(t('11.1.1.1'), resolver())).tried.map((r) => r.reason)).toEqual([
      `no entry of rule set corp-ip (${corp.file}) matches 11.1.1.1:443`,
      `no entry of rule set names (${names.file}) matches 11.1.1.1:443`,
    ]);
    expect((await router.explain(t('2001:db8::1', 80), resolver())).tried.map((r) => r.reason)).toEqual([
      `no entry of rule set corp-ip (${corp.file}) matches [2001:db8::1]:80`,
      `no entry of rule set names (${names.file}) matches [2001:db8::1]:80`,
    ]);
    expect((await router.explain(t('nx.example'), resolver())).tried.map((r) => r.reason)).toEqual([
      `no entry of rule set corp-ip (${corp.file}) matches nx.example:443 (nx.example did not resolve)`,
      `no entry of rule set names (${names.file}) matches nx.example:443`,
    ]);
  });

  test('MATCH', async () => {
    const router = compileRules(['DOMAIN,a.example,A', 'MATCH,B']);
    expect(await router.explain(t('b.example'), resolver())).toEqual({
      route: 'B',
      rule: 'MATCH,B',
      index: 1,
      tried: [{ index: 0, rule: 'DOMAIN,a.example,A', reason: 'b.example is not a.example' }],
      omitted: 0,
    });
  });

  test('no rule matches: DIRECT, every rule tried', async () => {
    const router = compileRules(['DOMAIN,a.example,A', 'DST-PORT,22,B']);
    expect(await router.explain(t('b.example'), resolver())).toEqual({
      route: 'DIRECT',
      rule: '(no rule matched)',
      index: -1,
      tried: [
        { index: 0, rule: 'DOMAIN,a.example,A', reason: 'b.example is not a.example' },
        { index: 1, rule: 'DST-PORT,22,B', reason: 'port 443 is not 22' },
      ],
      omitted: 0,
    });
  });

  test('an IP literal against domain rules: they match names only', async () => {
    const router = compileRules(['DOMAIN,a.example,A', 'DOMAIN-SUFFIX,a.example,A', 'DOMAIN-KEYWORD,a,A', 'DOMAIN-WILDCARD,*,A', 'MATCH,B']);
    expect((await router.explain(t('10.1.2.3'), resolver())).tried.map((r) => r.reason)).toEqual([
      '10.1.2.3 is an IP address; DOMAIN matches names only',
      '10.1.2.3 is an IP address; DOMAIN-SUFFIX matches names only',
      '10.1.2.3 is an IP address; DOMAIN-KEYWORD matches names only',
      '10.1.2.3 is an IP address; DOMAIN-WILDCARD matches names only',
    ]);
  });
});

describe('no-resolve', () => {
  test('an IP rule with no-resolve is skipped for a name, and alone it causes no lookup', async () => {
    const router = compileRules(['IP-CIDR,10.0.0.0/8,A,no-resolve', 'MATCH,B']);
    const resolve = resolver({ 'git.corp.example': ['10.2.3.4'] });
    expect(await router.explain(t('git.corp.example'), resolve)).toEqual({
      route: 'B',
      rule: 'MATCH,B',
      index: 1,
      tried: [{ index: 0, rule: 'IP-CIDR,10.0.0.0/8,A,no-resolve', reason: 'IP rule skipped: no-resolve (git.corp.example is a name)' }],
      omitted: 0,
    });
    expect(resolve.asked).toEqual([]);
  });

  test('skipped even when a later resolving IP rule made the lookup', async () => {
    const router = compileRules(['IP-CIDR,10.0.0.0/8,A,no-resolve', 'IP-CIDR6,2001:db8::/32,B', 'IP-CIDR,10.0.0.0/8,C']);
    const e = await router.explain(t('git.corp.example'), resolver({ 'git.corp.example': ['10.2.3.4'] }));
    expect(e).toMatchObject({ route: 'C', index: 2, resolved: ['10.2.3.4'], addresses: ['10.2.3.4'] });
    expect(e.tried.map((r) => r.reason)).toEqual([
      'IP rule skipped: no-resolve (git.corp.example is a name)',
      'no address of git.corp.example is in 2001:db8::/32 (10.2.3.4)',
    ]);
  });

  test('on a RULE-SET line, or on the IP entries of a set', async () => {
    const corp = ruleSet('corp-nr', ['+.corp.example', '10.0.0.0/8']);
    const own = ruleSet('own-nr', ['+.corp.example', 'IP-CIDR,10.0.0.0/8,no-resolve']);
    const router = compileRules(['RULE-SET,corp-nr,A,no-resolve', 'RULE-SET,own-nr,B', 'MATCH,C'], {
      ruleSets: new Map([['corp-nr', corp], ['own-nr', own]]),
    });
    const resolve = resolver({ 'git.example': ['10.2.3.4'] });
    const e = await router.explain(t('git.example'), resolve);
    expect(e).toEqual({
      route: 'C',
      rule: 'MATCH,C',
      index: 2,
      tried: [
        { index: 0, rule: 'RULE-SET,corp-nr,A,no-resolve', reason: `no entry of rule set corp-nr (${corp.file}) matches git.example:443 (IP entries skipped: no-resolve)` },
        { index: 1, rule: 'RULE-SET,own-nr,B', reason: `no entry of rule set own-nr (${own.file}) matches git.example:443 (IP entries skipped: no-resolve)` },
      ],
      omitted: 0,
    });
    expect(resolve.asked).toEqual([]);
  });
});

describe('limit', () => {
  const lines = [...Array.from({ length: 120 }, (_, i) => `DOMAIN,h${i}.example,A`), 'MATCH,B'];
  const router = compileRules(lines);

  test('by default the 50 rules nearest the match, the rest counted', async () => {
    const e = await router.explain(t('x.example'), resolver());
    expect(e).toMatchObject({ route: 'B', index: 120, omitted: 70 });
    expect(e.tried.map((r) => r.index)).toEqual(Array.from({ length: 50 }, (_, i) => 70 + i));
    expect(e.tried[49]).toEqual({ index: 119, rule: 'DOMAIN,h119.example,A', reason: 'x.example is not h119.example' });
  });

  test('a given limit, 0, and more than there are', async () => {
    expect((await router.explain(t('x.example'), resolver(), { limit: 3 })).tried.map((r) => r.index)).toEqual([117, 118, 119]);
    expect(await router.explain(t('x.example'), resolver(), { limit: 0 })).toMatchObject({ tried: [], omitted: 120 });
    const all = await router.explain(t('x.example'), resolver(), { limit: 1000 });
    expect([all.tried.length, all.omitted]).toEqual([120, 0]);
  });

  test('with no match, the last rules are listed', async () => {
    const e = await compileRules(lines.slice(0, 120)).explain(t('x.example'), resolver(), { limit: 2 });
    expect(e).toMatchObject({ route: 'DIRECT', index: -1, omitted: 118 });
    expect(e.tried.map((r) => r.index)).toEqual([118, 119]);
  });
});

describe('explain agrees with match (property)', () => {
  const set = ruleSet('prop', [
    '+.corp.example', '.internal.example', '*.one.example', 'git.example', '10.1.0.0/16', '2001:db9::/32',
    'DOMAIN-KEYWORD,hub', 'IP-CIDR,192.168.5.0/24,no-resolve', 'DST-PORT,9001',
  ]);
  const lines = [
    'DOMAIN,github.com,exact',
    'DOMAIN-KEYWORD,gitlab,keyword',
    'IP-CIDR,10.0.0.0/8,ten,no-resolve',
    'RULE-SET,prop,set',
    'DOMAIN-SUFFIX,one.example,suffix',
    'DST-PORT,22,ssh',
    'DOMAIN-WILDCARD,api-*.example,wild',
    'IP-CIDR,140.82.0.0/16,gh',
    'IP-CIDR6,2001:db8::/32,v6',
    'RULE-SET,prop,set-nr,no-resolve',
    'DST-PORT,8000-9000,alt',
    'IP-CIDR,192.168.0.0/16,lan',
  ];
  const ruleSets = new Map([['prop', set]]);
  const router = compileRules(lines, { ruleSets });

  const label = fc.constantFrom('a', 'git', 'gitlab', 'corp', 'internal', 'one', 'api-eu', 'hub', 'github', 'example', 'com');
  const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.'));
  const octet = fc.constantFrom(1, 5, 10, 82, 140, 168, 192);
  const v4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
  const v6 = fc.constantFrom('2001:db8::1', '2001:db9::5', '::1', 'fe80::7').map((h) => normalizeHost(h)!);
  const target = fc.record({ host: fc.oneof(name, name, v4, v6), port: fc.constantFrom(22, 80, 443, 8080, 9001) });
  const answers = [undefined, ['10.1.2.3'], ['140.82.1.1', '192.168.5.5'], ['2001:db8::1'], ['1.1.1.1', '10.9.9.9']];
  /** A resolver whose answer depends only on the name; `last` keeps what the last lookup gave ([] when it failed). */
  const dns = () => {
    const state: { last?: string[] } = {};
    const resolve: Resolve = async (host) => {
      state.last = [];
      const addresses = answers[[...host].reduce((n, c) => n + c.charCodeAt(0), 0) % answers.length];
      if (!addresses) throw new Error(`ENOTFOUND ${host}`);
      return (state.last = addresses);
    };
    return { resolve, state };
  };

  test('same route, rule, index, detail and addresses; every rule listed before it fails on its own', async () => {
    await fc.assert(
      fc.asyncProperty(target, async (tgt) => {
        const forMatch = dns();
        const m = await router.match(tgt, forMatch.resolve);
        const e = await router.explain(tgt, dns().resolve);
        expect({ route: e.route, rule: e.rule, index: e.index, detail: e.detail, addresses: e.addresses }).toEqual({
          route: m.target, rule: m.rule, index: m.index, detail: m.detail, addresses: m.resolved,
        });
        expect(e.resolved).toEqual(forMatch.state.last);
        const before = e.index < 0 ? lines.length : e.index;
        expect(e.tried.map((r) => r.index)).toEqual(Array.from({ length: before }, (_, i) => i));
        for (const r of e.tried) expect(compileRules([r.rule], { ruleSets }).matchSync(tgt, e.resolved).index).toBe(-1);
      }),
      { numRuns: 500 },
    );
  });
});
