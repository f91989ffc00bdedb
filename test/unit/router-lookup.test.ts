// The router keeps how a lookup failed (issue 17, item 8): NXDOMAIN, a DNS server that timed out
// or refused are different answers, for `proxyctl route` and doctor. (That the resolver tells
// them apart through the real getaddrinfo is test/e2e/lookup-failures.test.ts.)
import { expect, test } from 'vitest';
import { LookupError, lookupFailure, type LookupFailure } from '../../src/resolver.js';
import { compileRules } from '../../src/router/index.js';

const t = (host: string, port = 443) => ({ host, port });
const RULES = ['IP-CIDR,10.0.0.0/8,internal', 'MATCH,other'];

const failures: LookupFailure[] = [
  { outcome: 'nxdomain', reason: 'nx.example does not exist (NXDOMAIN)' },
  { outcome: 'timeout', reason: 'the DNS server (192.0.2.53) did not answer for nx.example in time (EAI_AGAIN after 2.0 s)' },
  { outcome: 'refused', reason: 'the DNS server (192.0.2.53) refused to look up nx.example (REFUSED)' },
];

test.each(failures)('match and explain keep how the lookup failed: $outcome', async (failure) => {
  const router = compileRules(RULES);
  const code = failure.outcome === 'nxdomain' ? 'ENOTFOUND' : 'EAI_AGAIN';
  const resolve = async (): Promise<string[]> => { throw new LookupError(code, failure, new Error(`getaddrinfo ${code} nx.example`)); };
  const m = await router.match(t('nx.example'), resolve);
  expect(m).toEqual({ target: 'other', rule: 'MATCH,other', index: 1, resolved: [], lookup: failure });
  const e = await router.explain(t('nx.example'), resolve);
  expect(e).toMatchObject({ route: 'other', resolved: [], addresses: [], lookup: failure });
});

test('three different failures give three different answers (before, all were "did not resolve")', async () => {
  const router = compileRules(RULES);
  const answers = await Promise.all(failures.map((f) => router.match(t('nx.example'), async () => { throw new LookupError('EAI_AGAIN', f, undefined); })));
  expect(new Set(answers.map((a) => a.lookup?.outcome))).toEqual(new Set(['nxdomain', 'timeout', 'refused']));
});

test('anything else a resolver throws is `failed`, with its first line; a lookup that worked or was not needed has no failure', async () => {
  const router = compileRules(RULES);
  const m = await router.match(t('nx.example'), async () => { throw new Error('resolver exploded\nat somewhere'); });
  expect(m.lookup).toEqual({ outcome: 'failed', reason: 'resolver exploded' });
  expect(lookupFailure('a string')).toEqual({ outcome: 'failed', reason: 'a string' });
  expect((await router.match(t('ok.example'), async () => ['10.1.1.1'])).lookup).toBeUndefined();
  const noLookup = compileRules(['DOMAIN,ok.example,first', ...RULES]);
  expect((await noLookup.match(t('ok.example'), async () => { throw new Error('not asked'); })).lookup).toBeUndefined();
});
