// The pure parts of proxyctl doctor: which answers are bogons, the probe slots (at most N at once,
// nothing started after the deadline), the rule as the verdict shows it, the better route and the
// fixes when no route works.
import { describe, expect, test } from 'vitest';
import type { DoctorRoute, DoctorToday } from '../../src/control/api.js';
import { bogonRange } from '../../src/doctor/bogons.js';
import { ProbeSlots } from '../../src/doctor/slots.js';
import { givenTargets } from '../../src/doctor/targets.js';
import { betterRoute, fixesFor, ruleShown } from '../../src/doctor/verdict.js';

describe('bogons', () => {
  test.each([
    ['0.0.0.0', 'this host, 0.0.0.0/8'], ['127.0.0.53', 'loopback, 127.0.0.0/8'], ['10.1.2.3', 'private (RFC 1918), 10.0.0.0/8'],
    ['172.31.0.1', 'private (RFC 1918), 172.16.0.0/12'], ['192.168.1.1', 'private (RFC 1918), 192.168.0.0/16'],
    ['100.64.0.1', 'shared (RFC 6598, carrier-grade NAT), 100.64.0.0/10'], ['169.254.1.1', 'link-local, 169.254.0.0/16'],
    ['198.18.0.5', 'benchmarking (RFC 2544; the fake-IP range of Clash and Surge), 198.18.0.0/15'],
    ['::', 'unspecified, ::/128'], ['::1', 'loopback, ::1/128'], ['fd00::1', 'unique local (private), fc00::/7'], ['fe80::1', 'link-local, fe80::/10'],
  ])('%s is %s', (address, range) => expect(bogonRange(address)).toBe(range));

  test.each(['140.82.112.3', '172.32.0.1', '100.128.0.1', '2606:50c0:8000::153', '198.20.0.1'])('%s is a public address', (a) => expect(bogonRange(a)).toBeUndefined());
});

describe('probe slots', () => {
  test('at most `max` probes run at once; the others wait and all run', async () => {
    const slots = new ProbeSlots(10_000, 3);
    let running = 0;
    let most = 0;
    const probe = async () => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 10));
      running--;
      return 'done';
    };
    const results = await Promise.all(Array.from({ length: 10 }, () => slots.take(probe)));
    slots.done();
    expect(results).toEqual(Array(10).fill('done'));
    expect(most).toBe(3);
  });

  test('a probe still waiting when the deadline passes never starts; a step is aborted with the run', async () => {
    const slots = new ProbeSlots(50, 1);
    const step = slots.step(10_000, 'a step');
    const first = slots.take(() => new Promise<string>((r) => step.onAbort(() => r('aborted with the run'))));
    const second = slots.take(async () => 'started');
    expect(await first).toBe('aborted with the run');
    expect(await second).toBeUndefined();
    expect(await slots.take(async () => 'late')).toBeUndefined();
  });
});

describe('words', () => {
  test.each([
    ['DOMAIN-SUFFIX,github.com,github-out', 'DOMAIN-SUFFIX,github.com'], ['MATCH,DIRECT', 'MATCH'],
    ['IP-CIDR,10.0.0.0/8,DIRECT,no-resolve', 'IP-CIDR,10.0.0.0/8'], ['RULE-SET,github,github-out', 'RULE-SET,github'],
  ])('rule %s is shown as %s', (rule, shown) => expect(ruleShown(rule)).toBe(shown));

  test('targets: HOST[:PORT] (443 by default, TLS there) and URLs with their path; anything else is a RangeError', () => {
    expect(givenTargets(['github.com', 'github.com:22', 'https://goproxy.cn/x?y', '[::1]:8443'])).toMatchObject([
      { text: 'github.com:443', https: true, path: '/', authority: 'github.com' },
      { text: 'github.com:22', https: false },
      { text: 'https://goproxy.cn/x?…', https: true, path: '/x?y', authority: 'goproxy.cn', target: { host: 'goproxy.cn', port: 443 } },
      { text: '[::1]:8443', https: false, authority: '[::1]:8443' },
    ]);
    expect(givenTargets(['ssh.github.com:443'])).toMatchObject([{ https: false }]); // SSH over 443: a banner, not TLS
    expect(() => givenTargets(['ftp://x.example'])).toThrow(RangeError);
    expect(() => givenTargets(['a b'])).toThrow('doctor: "a b" is not HOST[:PORT] or an http:// or https:// URL');
  });
});

const open = (route: string, ms: number): DoctorRoute => ({ route, kind: route === 'DIRECT' ? 'direct' : 'socks5', state: 'open', summary: `open ${ms} ms`, works: true, connectMs: ms });
const filtered = (route: string): DoctorRoute => ({ route, kind: route === 'DIRECT' ? 'direct' : 'socks5', state: 'filtered', summary: 'filtered (no answer in 5 s)', works: false });
const today = (works: boolean, route = 'DIRECT'): DoctorToday => ({ by: 'rule', route, kind: 'direct', rule: 'MATCH,DIRECT', index: 1, works, note: works ? 'ok' : 'fails' });

describe('the better route', () => {
  test('one that works where today\'s fails; the fastest of those', () => {
    expect(betterRoute([filtered('DIRECT'), open('a', 300), open('b', 100)], today(false), undefined)).toEqual({ route: 'b', why: 'it works (100 ms) where DIRECT fails' });
  });

  test('one that answers in at most half the time and 100 ms sooner than today\'s; else none', () => {
    expect(betterRoute([open('DIRECT', 900), open('a', 150)], today(true), 'DIRECT')).toEqual({ route: 'a', why: '150 ms against 900 ms through DIRECT' });
    expect(betterRoute([open('DIRECT', 180), open('a', 100)], today(true), 'DIRECT')).toBeUndefined(); // not half the time
    expect(betterRoute([open('DIRECT', 150), open('a', 60)], today(true), 'DIRECT')).toBeUndefined(); // only 90 ms sooner
  });
});

describe('fixes when nothing works', () => {
  const [gh22] = givenTargets(['github.com:22']);
  const base = { t: gh22!, today: today(false), better: undefined, suggested: undefined, mirrors: new Set<string>(), todayLeaves: new Set(['DIRECT']) };

  test('GitHub\'s port 22 closed on every route: ssh over port 443', () => {
    expect(fixesFor({ ...base, routes: [filtered('DIRECT'), filtered('a')], dns: undefined })).toEqual([
      'port 22 is closed on every route: ssh to GitHub over port 443 (Hostname ssh.github.com, Port 443 for github.com in ~/.ssh/config)',
    ]);
  });

  test('a poisoned answer and no route: an upstream that resolves names itself, or hosts:', () => {
    const dns = { system: { addresses: ['0.0.0.0'], ms: 1 }, server: { addresses: ['0.0.0.0'], ms: 1 }, bogons: [{ address: '0.0.0.0', range: 'this host, 0.0.0.0/8' }], notes: [] };
    const [t] = givenTargets(['pypi.org']);
    expect(fixesFor({ ...base, t: t!, routes: [{ ...filtered('DIRECT'), state: 'refused', summary: 'refused (RST)' }], dns })[0])
      .toBe('the local DNS answer for pypi.org (0.0.0.0) looks poisoned: route it through an upstream proxy, which resolves names itself, or set hosts: { pypi.org: ADDRESS }');
  });

  test('a working route: a rule to it, before the rule that matches today', () => {
    const [t] = givenTargets(['github.com']);
    expect(fixesFor({ ...base, t: t!, routes: [filtered('DIRECT'), open('a', 10)], dns: undefined, better: { route: 'a', why: '' }, suggested: 'out' }))
      .toEqual(['add the rule DOMAIN-SUFFIX,github.com,out before rule 2 (MATCH,DIRECT)']);
  });
});
