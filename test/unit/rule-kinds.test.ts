// A rule kind is one entry of the registry (src/router/kinds.ts), with its explain. A kind without
// one does not compile: the @ts-expect-error lines below are checked by `tsc -p test/tsconfig.json`,
// which npm test runs first, and an expected error that does not occur is itself an error. And every
// kind the registry holds explains a target it does not match, in Router.explain and in `proxyctl route`.
import { describe, expect, test } from 'vitest';
import { RouteExplanation } from '../../src/control/api.js';
import { compileRules, type Resolve } from '../../src/router/index.js';
import { RULE_KINDS } from '../../src/router/kinds.js';
import type { RuleKind } from '../../src/router/rule-kind.js';
import { startTestDaemon } from '../fixtures/daemon.js';
import { proxyctlJson } from '../fixtures/proxyctl.js';

/** A payload per kind; none matches the targets below. */
const PAYLOAD: Record<string, string> = {
  DOMAIN: 'a.example',
  'DOMAIN-SUFFIX': 'b.example',
  'DOMAIN-KEYWORD': 'kw',
  'DOMAIN-WILDCARD': 'w?.example',
  'IP-CIDR': '10.0.0.0/8',
  'IP-CIDR6': '2001:db8::/32',
  'DST-PORT': '22',
};
const KINDS = Object.keys(RULE_KINDS);
/** a name that resolves, one that does not, IPv4 and IPv6 literals */
const HOSTS = ['other.test', 'nx.test', '192.0.2.1', '2001:db9::1'];
/** A reason names what it is about: the host (bracketless), or the port. */
const aboutTarget = (reason: string, host: string) => reason.includes(host.replace(/^\[|\]$/g, '')) || reason.startsWith('port 443 ');
const resolve: Resolve = async (host) => {
  if (host === 'other.test') return ['192.0.2.1'];
  throw new Error(`ENOTFOUND ${host}`);
};

test('a rule kind without its explain does not compile, on its own or as an entry of the registry', () => {
  const withoutExplain = { parse: (value: string) => value, insert: () => undefined };
  // @ts-expect-error: explain is missing
  const kind: RuleKind<string> = withoutExplain;
  // @ts-expect-error: explain is missing
  const registry: typeof RULE_KINDS = { ...RULE_KINDS, 'DOMAIN-REGEX': withoutExplain };
  expect([kind, registry['DOMAIN-REGEX']]).toEqual([withoutExplain, withoutExplain]); // the types refused what runs
  for (const [name, k] of Object.entries(RULE_KINDS)) expect(typeof k.explain, name).toBe('function');
});

describe('every kind in the registry explains a target it does not match', () => {
  test('this test has a payload for each kind', () => {
    expect(Object.keys(PAYLOAD).sort()).toEqual([...KINDS].sort());
  });

  test.each(KINDS)('%s, in Router.explain: a name that resolves, one that does not, an IPv4 and an IPv6 literal', async (kind) => {
    const rule = `${kind},${PAYLOAD[kind]},A`;
    const router = compileRules([rule, 'IP-CIDR,198.51.100.0/24,C', 'MATCH,B']); // the IP rule makes names resolve
    for (const host of HOSTS) {
      const e = await router.explain({ host, port: 443 }, resolve);
      expect(e, host).toMatchObject({ route: 'B', index: 2, tried: [{ index: 0, rule }, { index: 1 }] });
      const { reason } = e.tried[0]!;
      expect(aboutTarget(reason, host) && !/undefined|\[object /.test(reason), `${host}: ${reason}`).toBe(true);
    }
  });

  test('proxyctl route: each kind before the match, each with its reason', async () => {
    const d = await startTestDaemon(`hosts: { other.test: 192.0.2.1 }
rules:
${KINDS.map((kind) => `  - ${kind},${PAYLOAD[kind]},REJECT`).join('\n')}
  - IP-CIDR,198.51.100.0/24,REJECT
  - MATCH,DIRECT
`);
    try {
      for (const host of ['other.test', '192.0.2.1', '[2001:db9::1]']) {
        const e = await proxyctlJson(d.controlPath!, ['route', `${host}:443`], RouteExplanation);
        expect(e, host).toMatchObject({ route: 'DIRECT', rule: 'MATCH,DIRECT', index: KINDS.length + 1 });
        const listed = e.tried.slice(0, KINDS.length);
        expect(listed.map((t) => t.rule), host).toEqual(KINDS.map((kind) => `${kind},${PAYLOAD[kind]},REJECT`));
        expect(listed.filter((t) => !aboutTarget(t.reason, host)), host).toEqual([]);
      }
    } finally {
      await d.stop();
    }
  });
});
