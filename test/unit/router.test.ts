import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { compileRules, loadRuleSet, RuleCompileError, type SourceError } from '../../src/router/index.js';
import { normalizeHost } from '../../src/address/index.js';

const t = (host: string, port = 443) => ({ host, port });

describe('each rule kind', () => {
  const cases: Array<[string, string, number, boolean]> = [
    // rule, host, port, matches?
    ['DOMAIN,github.com', 'github.com', 443, true],
    ['DOMAIN,github.com', 'api.github.com', 443, false],
    ['DOMAIN-SUFFIX,github.com', 'github.com', 443, true],
    ['DOMAIN-SUFFIX,github.com', 'codeload.github.com', 443, true],
    ['DOMAIN-SUFFIX,github.com', 'notgithub.com', 443, false],
    ['DOMAIN-SUFFIX,github.com', 'github.com.evil.example', 443, false],
    ['DOMAIN-KEYWORD,googlesource', 'go.googlesource.com', 443, true],
    ['DOMAIN-KEYWORD,googlesource', 'googlesourcex.example', 443, true],
    ['DOMAIN-KEYWORD,googlesource', 'google.com', 443, false],
    ['DOMAIN-WILDCARD,api-*.example.com', 'api-eu.example.com', 443, true],
    ['DOMAIN-WILDCARD,api-*.example.com', 'api-a.b.example.com', 443, true],
    ['DOMAIN-WILDCARD,api-*.example.com', 'web.example.com', 443, false],
    ['DOMAIN-WILDCARD,ap?.example.com', 'api.example.com', 443, true],
    ['DOMAIN-WILDCARD,ap?.example.com', 'apix.example.com', 443, false],
    ['DOMAIN-WILDCARD,*', 'anything.at.all', 443, true],
    ['IP-CIDR,10.0.0.0/8', '10.1.2.3', 443, true],
    ['IP-CIDR,10.0.0.0/8', '11.1.2.3', 443, false],
    ['IP-CIDR,192.168.1.7/32', '192.168.1.7', 443, true],
    ['IP-CIDR,0.0.0.0/0', '8.8.8.8', 443, true],
    ['IP-CIDR6,2001:db8::/32', '2001:db8:1::5', 443, true],
    ['IP-CIDR6,2001:db8::/32', '2001:db9::5', 443, false],
    ['DST-PORT,22', 'github.com', 22, true],
    ['DST-PORT,22', 'github.com', 443, false],
    ['DST-PORT,8000-9000', '1.2.3.4', 8080, true],
    ['DST-PORT,80/443', '1.2.3.4', 443, true],
    ['DST-PORT,80/443', '1.2.3.4', 8443, false],
  ];
  test.each(cases)('%s on %s:%i → %s', (rule, host, port, matches) => {
    const router = compileRules([`${rule},REJECT`, 'MATCH,DIRECT']);
    expect(router.matchSync(t(host, port)).target).toBe(matches ? 'REJECT' : 'DIRECT');
  });

  test('an IPv4-mapped IPv6 target, as the inbounds normalise it, meets the IPv4 rules', () => {
    const router = compileRules(['IP-CIDR,10.0.0.0/8,REJECT', 'MATCH,DIRECT']);
    expect(router.matchSync(t(normalizeHost('[::ffff:10.9.9.9]')!)).target).toBe('REJECT');
    expect(router.matchSync(t(normalizeHost('::ffff:a09:909')!)).target).toBe('REJECT');
  });

  test('MATCH catches everything; with no rule at all the route is DIRECT', () => {
    expect(compileRules(['MATCH,REJECT']).matchSync(t('x.example')).target).toBe('REJECT');
    const none = compileRules([]).matchSync(t('x.example'));
    expect(none).toMatchObject({ target: 'DIRECT', index: -1 });
  });

  test('domain rules do not match IP literals and IP rules do not match names without resolving', () => {
    const router = compileRules(['DOMAIN-SUFFIX,example.com,REJECT', 'IP-CIDR,127.0.0.0/8,REJECT,no-resolve', 'MATCH,DIRECT']);
    expect(router.matchSync(t('93.184.216.34')).target).toBe('DIRECT');
    expect(router.matchSync(t('localhost')).target).toBe('DIRECT');
  });
});

describe('precedence', () => {
  test('first match wins across kinds, whatever index serves them', () => {
    const router = compileRules([
      'DST-PORT,22,port22',
      'DOMAIN-KEYWORD,git,keyword',
      'DOMAIN-SUFFIX,github.com,suffix',
      'DOMAIN,github.com,exact',
      'MATCH,last',
    ]);
    expect(router.matchSync(t('github.com', 22)).target).toBe('port22');
    expect(router.matchSync(t('github.com')).target).toBe('keyword');
    expect(router.matchSync(t('gitlab.com')).target).toBe('keyword');
    expect(router.matchSync(t('api.hub.com')).target).toBe('last');
  });

  test('an earlier suffix beats a later exact rule, and the reverse', () => {
    expect(compileRules(['DOMAIN-SUFFIX,a.example,first', 'DOMAIN,x.a.example,second']).matchSync(t('x.a.example')).target).toBe('first');
    expect(compileRules(['DOMAIN,x.a.example,first', 'DOMAIN-SUFFIX,a.example,second']).matchSync(t('x.a.example')).target).toBe('first');
  });

  test('a longer, later CIDR does not beat a shorter, earlier one', () => {
    const router = compileRules(['IP-CIDR,10.0.0.0/8,wide', 'IP-CIDR,10.1.0.0/16,narrow']);
    expect(router.matchSync(t('10.1.2.3')).target).toBe('wide');
  });

  test('the match says which rule, by index and text', () => {
    const m = compileRules(['DOMAIN,a.example,X', 'DOMAIN-SUFFIX,b.example,Y']).matchSync(t('c.b.example'));
    expect(m).toEqual({ target: 'Y', rule: 'DOMAIN-SUFFIX,b.example,Y', index: 1 });
  });
});

describe('IP rules on host names (no-resolve)', () => {
  const rules = ['DOMAIN,early.example,early', 'IP-CIDR,10.0.0.0/8,internal', 'MATCH,other'];

  test('resolves only when an IP rule could still win, and then matches the resolved address', async () => {
    const router = compileRules(rules);
    const asked: string[] = [];
    const resolve = async (h: string) => (asked.push(h), ['10.2.3.4']);
    expect((await router.match(t('early.example'), resolve)).target).toBe('early');
    expect(asked).toEqual([]);
    const m = await router.match(t('git.corp.example'), resolve);
    expect(m).toMatchObject({ target: 'internal', resolved: ['10.2.3.4'] });
    expect(asked).toEqual(['git.corp.example']);
  });

  test('no-resolve skips the lookup; an unresolvable name just falls through', async () => {
    const router = compileRules(['IP-CIDR,10.0.0.0/8,internal,no-resolve', 'MATCH,other']);
    let asked = 0;
    expect((await router.match(t('git.corp.example'), async () => (asked++, ['10.2.3.4']))).target).toBe('other');
    expect(asked).toBe(0);
    const resolving = compileRules(rules);
    expect((await resolving.match(t('nx.example'), async () => { throw new Error('ENOTFOUND'); })).target).toBe('other');
  });

  test('a rule after the best non-IP match never triggers a lookup', async () => {
    const router = compileRules(['DOMAIN-SUFFIX,example,first', 'IP-CIDR,10.0.0.0/8,internal']);
    let asked = 0;
    expect((await router.match(t('a.example'), async () => (asked++, ['10.0.0.1']))).target).toBe('first');
    expect(asked).toBe(0);
  });
});

describe('rule sets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'proxyd-rules-'));
  const write = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };

  test('text format: Clash entry syntax, comments, CIDRs, classical lines', () => {
    const file = write('git.txt', [
      '# internal git hosts',
      'git.corp.example        # exactly this name',
      '+.src.corp.example',
      '.internal.example',
      '*.one.example',
      '10.0.0.0/8',
      'DOMAIN-KEYWORD,gitlab',
      '',
    ].join('\n'));
    const errors: SourceError[] = [];
    const set = loadRuleSet('git', file, errors);
    expect(errors).toEqual([]);
    const router = compileRules(['RULE-SET,git,DIRECT,no-resolve', 'MATCH,REJECT'], { ruleSets: new Map([['git', set]]) });
    const route = (h: string) => router.matchSync(t(h)).target;
    expect(route('git.corp.example')).toBe('DIRECT');
    expect(route('x.git.corp.example')).toBe('REJECT');
    expect(route('src.corp.example')).toBe('DIRECT');
    expect(route('a.b.src.corp.example')).toBe('DIRECT');
    expect(route('internal.example')).toBe('REJECT');
    expect(route('a.internal.example')).toBe('DIRECT');
    expect(route('a.one.example')).toBe('DIRECT');
    expect(route('a.b.one.example')).toBe('REJECT');
    expect(route('10.20.30.40')).toBe('DIRECT');
    expect(route('mygitlab.example')).toBe('DIRECT');
    expect(router.matchSync(t('a.src.corp.example')).detail).toBe(`+.src.corp.example (${file}:3)`);
  });

  test("Clash's payload YAML", () => {
    const file = write('clash.yaml', "payload:\n  - '+.golang.org'\n  - 'DOMAIN,sum.golang.org'\n  - '2001:db8::/32'\n");
    const errors: SourceError[] = [];
    const set = loadRuleSet('go', file, errors);
    expect(errors).toEqual([]);
    const router = compileRules(['RULE-SET,go,mirror', 'MATCH,DIRECT'], { ruleSets: new Map([['go', set]]) });
    expect(router.matchSync(t('proxy.golang.org')).target).toBe('mirror');
    expect(router.matchSync(t('2001:db8::7')).target).toBe('mirror');
    expect(router.matchSync(t('golang.com')).target).toBe('DIRECT');
  });

  test('bad entries are reported at their file, line and column', () => {
    const errors: SourceError[] = [];
    loadRuleSet('bad', write('bad.txt', 'ok.example\n  10.0.0.0/33\nFOO,bar\n'), errors);
    expect(errors.map((e) => [e.line, e.col, e.message])).toEqual([
      [2, 3, '"10.0.0.0/33" is not a domain name'],
      [3, 1, 'unknown rule kind "FOO" in a rule set'],
    ]);
    const yamlErrors: SourceError[] = [];
    loadRuleSet('bad', write('bad.yaml', 'payload:\n  - good.example\n  - 12\n'), yamlErrors);
    expect(yamlErrors.map((e) => [e.line, e.col])).toEqual([[3, 5]]);
  });
});

describe('compile errors carry the rule and the column of the bad field', () => {
  const errorsOf = (lines: string[], targets = new Set(['DIRECT', 'REJECT'])) => {
    try {
      compileRules(lines, { targets });
    } catch (err) {
      if (err instanceof RuleCompileError) return err.errors.map((e) => [e.rule, e.column, e.message]);
      throw err;
    }
    return [];
  };

  test.each([
    ['DOMIAN-SUFFIX,a.example,DIRECT', 0, 'unknown rule kind "DOMIAN-SUFFIX" (did you mean DOMAIN-SUFFIX?)'],
    ['IP-CIDR,10.0.0.0/40,DIRECT', 8, '"10.0.0.0/40" is not an IP address or CIDR'],
    ['IP-CIDR6,10.0.0.0/8,DIRECT', 9, '"10.0.0.0/8" is not an IPv6 CIDR'],
    ['DOMAIN-SUFFIX,a.example,DIRCT', 24, 'unknown target "DIRCT" (did you mean "DIRECT"?)'],
    ['DOMAIN,a b,DIRECT', 7, '"a b" is not a domain name'],
    ['DST-PORT,70000,DIRECT', 9, '"70000" is not a port or port range (1-65535)'],
    ['DOMAIN,a.example,DIRECT,no-resolve', 24, 'no-resolve applies only to IP rules'],
    ['IP-CIDR,10.0.0.0/8,DIRECT,resolve-later', 26, 'unknown rule option "resolve-later" (only no-resolve)'],
    ['RULE-SET,nothere,DIRECT', 9, 'unknown rule set "nothere"'],
    ['MATCH', 0, 'MATCH takes only a target: MATCH,TARGET'],
    ['DOMAIN,a.example', 0, 'a rule is KIND,VALUE,TARGET (got "DOMAIN,a.example")'],
  ])('%s', (line, column, message) => {
    expect(errorsOf([line])).toEqual([[0, column, message]]);
  });

  test('every bad line is reported, not just the first', () => {
    expect(errorsOf(['DOMAIN,ok.example,DIRECT', 'BAD,x,DIRECT', 'MATCH,NOWHERE']).map((e) => e[0])).toEqual([1, 2]);
  });
});

describe('a rule list of 100,000 lines (its match cost is measured in npm run bench)', () => {
  test('100,000 rules compile and match to the right rule', () => {
    const lines: string[] = [];
    for (let i = 0; i < 50_000; i++) lines.push(`DOMAIN-SUFFIX,host${i}.example,r${i % 7}`);
    for (let i = 0; i < 49_999; i++) lines.push(`IP-CIDR,10.${(i >> 8) & 255}.${i & 255}.0/24,c${i % 5},no-resolve`);
    lines.push('MATCH,DIRECT');
    const router = compileRules(lines);
    expect(router.size).toBe(100_000);
    expect(router.matchSync(t('a.host49999.example')).rule).toBe('DOMAIN-SUFFIX,host49999.example,r5');
    expect(router.matchSync(t('10.0.5.9')).index).toBe(50_005);
    expect(router.matchSync(t('nothing.example')).target).toBe('DIRECT');
  });
});

describe('keyword automaton', () => {
  test('overlapping keywords: the earliest rule wins wherever its keyword sits in the name', () => {
    const router = compileRules(['DOMAIN-KEYWORD,hers,first', 'DOMAIN-KEYWORD,he,second', 'DOMAIN-KEYWORD,she,third', 'MATCH,none']);
    expect(router.matchSync(t('ushers.example')).target).toBe('first');
    expect(router.matchSync(t('ushe.example')).target).toBe('second');
    expect(router.matchSync(t('sh-e.example')).target).toBe('none');
    expect(router.matchSync(t('a-b_c.example')).target).toBe('none');
  });

  test('a keyword found only through a failure link', () => {
    const router = compileRules(['DOMAIN-KEYWORD,abcx,long', 'DOMAIN-KEYWORD,bcd,short', 'MATCH,none']);
    expect(router.matchSync(t('abcd.example')).target).toBe('short');
    expect(router.matchSync(t('zabcx.example')).target).toBe('long');
  });
});

describe('CIDR table', () => {
  test('prefixes of every length, short and long, in one /16 and across /16s', () => {
    const router = compileRules([
      'IP-CIDR,10.1.2.128/25,a', 'IP-CIDR,10.1.0.0/16,b', 'IP-CIDR,10.0.0.0/7,c', 'IP-CIDR,10.1.2.3/32,d', 'IP-CIDR,0.0.0.0/0,e',
    ]);
    const route = (h: string) => router.matchSync(t(h)).target;
    expect(route('10.1.2.200')).toBe('a');
    expect(route('10.1.2.3')).toBe('b'); // the /16 comes before the /32
    expect(route('10.1.9.9')).toBe('b');
    expect(route('11.200.0.1')).toBe('c');
    expect(route('12.0.0.1')).toBe('e');
  });
});
