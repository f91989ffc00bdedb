// The `proxies:` and `groups:` sections of a config, through parseConfig: what a valid config
// gives the daemon (definitions with the defaults filled in, rules that name them), and every
// problem a user can make there, each at its FILE:LINE:COL with its message.
import { describe, expect, test } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/index.js';

/** The problems of a config as `FILE:LINE:COL message` lines; [] when it is valid. */
function problems(text: string): string[] {
  try {
    parseConfig(text, 'c.yaml', '/nonexistent');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.file}:${p.line}:${p.col} ${p.message}`);
    throw err;
  }
  return [];
}

const lines = (...l: string[]) => `${l.join('\n')}\n`;

describe('a valid proxies:/groups: config', () => {
  test('gives the definitions in config order, with the group check defaults filled in', () => {
    const c = parseConfig(lines(
      'proxies:',
      '  - { name: corp, type: http, server: 10.0.0.1:3128, username: dev, password: s3cret }',
      '  - { name: edge, type: socks5, server: "[::1]:1080", via: corp }',
      'groups:',
      '  - { name: out, type: fallback, members: [corp, edge, DIRECT] }',
      '  - { name: quick, type: fastest, members: [corp, edge] }',
      '  - { name: spread, type: round-robin, members: [corp, edge] }',
    ), 'c.yaml');
    const defaults = { intervalMs: 30_000, timeoutMs: 5_000, failures: 3, maxLatencyMs: 500, expect: [] };
    expect(c.outbounds).toEqual([
      { name: 'corp', type: 'http', server: '10.0.0.1:3128', username: 'dev', password: 's3cret' },
      { name: 'edge', type: 'socks5', server: '[::1]:1080', via: 'corp' },
      { name: 'out', type: 'fallback', members: ['corp', 'edge', 'DIRECT'], check: defaults, toleranceMs: 50 },
      { name: 'quick', type: 'fastest', members: ['corp', 'edge'], check: defaults, toleranceMs: 50 },
      { name: 'spread', type: 'round-robin', members: ['corp', 'edge'], check: defaults, toleranceMs: 50 },
    ]);
  });

  test('every check option and tolerance is read in its own unit', () => {
    const c = parseConfig(lines(
      'groups:',
      '  - name: quick',
      '    type: fastest',
      '    members: [DIRECT]',
      '    tolerance: 20ms',
      '    check:',
      '      url: https://www.example.com/generate_204',
      '      interval: 1m',
      '      timeout: 2s',
      '      failures: 5',
      '      max-latency: 800ms',
      '      expect: [204, 200]',
    ), 'c.yaml');
    expect(c.outbounds).toEqual([{
      name: 'quick', type: 'fastest', members: ['DIRECT'], toleranceMs: 20,
      check: { url: 'https://www.example.com/generate_204', intervalMs: 60_000, timeoutMs: 2_000, failures: 5, maxLatencyMs: 800, expect: [204, 200] },
    }]);
  });

  test('rules may target proxies and groups by name', () => {
    const c = parseConfig(lines(
      'proxies:',
      '  - { name: corp, type: http, server: 10.0.0.1:3128 }',
      'groups:',
      '  - { name: out, type: fallback, members: [corp, DIRECT] }',
      'rules:',
      '  - DOMAIN-SUFFIX,corp.example,corp',
      '  - MATCH,out',
    ), 'c.yaml');
    expect(c.router.matchSync({ host: 'git.corp.example', port: 443 }).target).toBe('corp');
    expect(c.router.matchSync({ host: 'github.com', port: 443 }).target).toBe('out');
  });

  test('a group may list DIRECT and REJECT, and a proxy may go via DIRECT', () => {
    expect(problems(lines(
      'proxies:',
      '  - { name: corp, type: http, server: 10.0.0.1:3128, via: DIRECT }',
      'groups:',
      '  - { name: out, type: fallback, members: [corp, DIRECT, REJECT] }',
    ))).toEqual([]);
  });
});

describe('every proxies:/groups: problem, with FILE:LINE:COL', () => {
  test.each([
    ['unknown proxy type, with a did-you-mean',
      lines('proxies:', '  - { name: corp, type: htp, server: 10.0.0.1:3128 }'),
      ['c.yaml:2:25 proxies.corp: unknown type "htp" (did you mean "http"?)']],
    ['unknown group type, with a did-you-mean',
      lines('groups:', '  - { name: out, type: fallbak, members: [DIRECT] }'),
      ['c.yaml:2:24 groups.out: unknown type "fallbak" (did you mean "fallback"?)']],
    ['unknown group type, with the known ones',
      lines('groups:', '  - { name: out, type: balancer, members: [DIRECT] }'),
      ['c.yaml:2:24 groups.out: unknown type "balancer" (known: fallback, fastest, round-robin)']],
    ['a proxy type under groups:',
      lines('groups:', '  - { name: out, type: http, server: 10.0.0.1:3128 }'),
      ['c.yaml:2:24 groups.out: unknown type "http" (known: fallback, fastest, round-robin)']],
    ['no type',
      lines('proxies:', '  - { name: corp, server: 10.0.0.1:3128 }'),
      ['c.yaml:2:5 proxies.corp: needs type: socks5 | http']],
    ['no name',
      lines('proxies:', '  - { type: http, server: 10.0.0.1:3128 }'),
      ['c.yaml:2:5 proxies: each entry needs a name (letters, digits, _ . -)']],
    ['a name that is not one',
      lines('proxies:', '  - { name: "corp proxy", type: http, server: 10.0.0.1:3128 }'),
      ['c.yaml:2:14 proxies: each entry needs a name (letters, digits, _ . -) (got "corp proxy")']],
    ['missing server, at the entry',
      lines('proxies:', '  - name: corp', '    type: socks5', '    username: dev'),
      ['c.yaml:2:5 proxies.corp: a socks5 proxy needs server: HOST:PORT']],
    ['a server that is not HOST:PORT',
      lines('proxies:', '  - { name: corp, type: http, server: corp-proxy }'),
      ['c.yaml:2:39 proxies.corp: server: expected HOST:PORT such as 127.0.0.1:7891 (got "corp-proxy")']],
    ['username without password, at the username',
      lines('proxies:', '  - name: corp', '    type: http', '    server: 10.0.0.1:3128', '    username: dev'),
      ['c.yaml:5:15 proxies.corp: username and password go together']],
    ['password without username, at the password',
      lines('proxies:', '  - name: corp', '    type: http', '    server: 10.0.0.1:3128', '    password: s3cret'),
      ['c.yaml:5:15 proxies.corp: username and password go together']],
    ['a socks5 password longer than RFC 1929 can carry, at the password',
      lines('proxies:', '  - name: edge', '    type: socks5', '    server: 127.0.0.1:1080', '    username: dev', `    password: ${'p'.repeat(256)}`),
      ['c.yaml:6:15 proxies.edge: password: at most 255 bytes for a socks5 proxy (RFC 1929)']],
    ['unknown option, with a did-you-mean',
      lines('proxies:', '  - name: edge', '    type: socks5', '    server: 127.0.0.1:1080', '    vai: corp'),
      ['c.yaml:5:5 proxies.edge: unknown option "vai" (did you mean "via"?)']],
    ['unknown option of a group',
      lines('groups:', '  - { name: out, type: fallback, members: [DIRECT], tolerence: 10ms }'),
      ['c.yaml:2:53 groups.out: unknown option "tolerence" (did you mean "tolerance"?)']],
    ['unknown option inside check:',
      lines('groups:', '  - name: out', '    type: fallback', '    members: [DIRECT]', '    check:', '      intervl: 10s'),
      ['c.yaml:6:7 groups.out.check: unknown option "intervl" (did you mean "interval"?)']],
    ['a group without members, at the entry',
      lines('groups:', '  - { name: out, type: fallback }'),
      ['c.yaml:2:5 groups.out: a group needs members: [NAME, …] (proxies, groups or DIRECT)']],
    ['a group with an empty member list, at the list',
      lines('groups:', '  - { name: out, type: fallback, members: [] }'),
      ['c.yaml:2:43 groups.out: a group needs members: [NAME, …] (proxies, groups or DIRECT)']],
    ['a member listed twice, at the second',
      lines('groups:', '  - { name: out, type: fallback, members: [DIRECT, REJECT, DIRECT] }'),
      ['c.yaml:2:60 groups.out: "DIRECT" is listed twice']],
    ['an unknown member, with a did-you-mean',
      lines('proxies:', '  - { name: corp, type: http, server: 10.0.0.1:3128 }', 'groups:', '  - { name: out, type: fallback, members: [DIRECT, crop] }'),
      ['c.yaml:4:52 groups.out: unknown member "crop" (did you mean "corp"?)']],
    ['an unknown member, with the known names',
      lines('groups:', '  - { name: out, type: fallback, members: [overseas] }'),
      ['c.yaml:2:44 groups.out: unknown member "overseas" (known: DIRECT, REJECT, out)']],
    ['via an unknown proxy, with a did-you-mean',
      lines('proxies:', '  - { name: corp, type: http, server: 10.0.0.1:3128 }', '  - { name: edge, type: socks5, server: 127.0.0.1:1080, via: crop }'),
      ['c.yaml:3:62 proxies.edge: unknown proxy "crop" (did you mean "corp"?)']],
    ['a chain loop, at the reference that closes it',
      lines('proxies:', '  - { name: a, type: http, server: 10.0.0.1:3128, via: b }', '  - { name: b, type: http, server: 10.0.0.2:3128, via: a }'),
      ['c.yaml:3:56 proxies.b: loop: a → b → a']],
    ['a loop through a group: its member goes via the group',
      lines('proxies:', '  - { name: p, type: http, server: 10.0.0.1:3128, via: g }', 'groups:', '  - { name: g, type: fallback, members: [DIRECT, p] }'),
      ['c.yaml:4:50 groups.g: loop: p → g → p']],
    ['a longer loop through a group',
      lines(
        'proxies:',
        '  - { name: a, type: http, server: 10.0.0.1:3128, via: b }',
        '  - { name: b, type: socks5, server: 10.0.0.2:1080, via: g }',
        'groups:',
        '  - { name: g, type: fastest, members: [DIRECT, a] }',
      ),
      ['c.yaml:5:49 groups.g: loop: a → b → g → a']],
    ['a name that clashes with DIRECT',
      lines('proxies:', '  - { name: DIRECT, type: http, server: 10.0.0.1:3128 }'),
      ['c.yaml:2:13 proxies.DIRECT: "DIRECT" is built in; choose another name']],
    ['a name that clashes with REJECT',
      lines('groups:', '  - { name: REJECT, type: fallback, members: [DIRECT] }'),
      ['c.yaml:2:13 groups.REJECT: "REJECT" is built in; choose another name']],
    ['a duplicate name, at the second, across sections',
      lines('proxies:', '  - { name: corp, type: http, server: 10.0.0.1:3128 }', 'groups:', '  - { name: corp, type: fallback, members: [DIRECT] }'),
      ['c.yaml:4:13 groups.corp: name "corp" is already defined']],
    ['tolerance on a fallback group',
      lines('groups:', '  - { name: out, type: fallback, members: [DIRECT], tolerance: 10ms }'),
      ['c.yaml:2:64 groups.out: tolerance applies only to type: fastest']],
    ['tolerance on a round-robin group',
      lines('groups:', '  - { name: out, type: round-robin, members: [DIRECT], tolerance: 10ms }'),
      ['c.yaml:2:67 groups.out: tolerance applies only to type: fastest']],
    ['a check.url that is not a URL',
      lines('groups:', '  - name: out', '    type: fallback', '    members: [DIRECT]', '    check:', '      url: www.example.com/generate_204'),
      ['c.yaml:6:12 groups.out.check: url: expected an http:// or https:// URL (got "www.example.com/generate_204")']],
    ['a check.url that is not http:// or https://',
      lines('groups:', '  - name: out', '    type: fallback', '    members: [DIRECT]', '    check:', '      url: ftp://example.com/'),
      ['c.yaml:6:12 groups.out.check: url: expected an http:// or https:// URL (got "ftp://example.com/")']],
    ['a check.url with credentials: refused, and never echoed',
      lines('groups:', '  - name: out', '    type: fallback', '    members: [DIRECT]', '    check:', '      url: https://dev:s3cret@example.com/health'),
      ['c.yaml:6:12 groups.out.check: url: credentials in a check URL are not supported (they would be shown in proxyctl and logs)']],
    ['a check.url with only a user name (a token as user info)',
      lines('groups:', '  - name: out', '    type: fallback', '    members: [DIRECT]', '    check:', '      url: "https://ghp_token@example.com/"'),
      ['c.yaml:6:13 groups.out.check: url: credentials in a check URL are not supported (they would be shown in proxyctl and logs)']],
    ['a check.url that is refused shows no user info, query or fragment',
      lines('groups:', '  - name: out', '    type: fallback', '    members: [DIRECT]', '    check:', '      url: "ftp://dev:s3cret@example.com/x?token=s3cret#s3cret"'),
      ['c.yaml:6:13 groups.out.check: url: expected an http:// or https:// URL (got "ftp://…@example.com/x?…")']],
    ['an expect that is not an HTTP status, at that item',
      lines('groups:', '  - name: out', '    type: fallback', '    members: [DIRECT]', '    check:', '      expect: [204, 2000]'),
      ['c.yaml:6:21 groups.out.check: expect: "2000" is not an HTTP status']],
    ['failures: 0',
      lines('groups:', '  - name: out', '    type: fallback', '    members: [DIRECT]', '    check:', '      failures: 0'),
      ['c.yaml:6:17 groups.out.check: failures: at least 1']],
    ['a check interval that is not a duration',
      lines('groups:', '  - name: out', '    type: fallback', '    members: [DIRECT]', '    check:', '      interval: 30'),
      ['c.yaml:6:17 groups.out.check: interval: expected a duration such as 500ms, 30s, 5m or 1h (got 30)']],
    ['a check interval, timeout or max-latency of 0',
      lines('groups:', '  - name: out', '    type: fallback', '    members: [DIRECT]', '    check: { interval: 0s, timeout: 0ms, max-latency: 0s }'),
      [
        'c.yaml:5:24 groups.out.check: interval: must be more than 0',
        'c.yaml:5:37 groups.out.check: timeout: must be more than 0',
        'c.yaml:5:55 groups.out.check: max-latency: must be more than 0',
      ]],
  ])('%s', (_name, text, expected) => {
    expect(problems(text)).toEqual(expected);
  });

  test('all problems of one entry are reported at once', () => {
    expect(problems(lines('proxies:', '  - { name: corp, type: http, server: corp-proxy, vai: x }'))).toEqual([
      'c.yaml:2:39 proxies.corp: server: expected HOST:PORT such as 127.0.0.1:7891 (got "corp-proxy")',
      'c.yaml:2:51 proxies.corp: unknown option "vai" (did you mean "via"?)',
    ]);
  });
});

describe('a problem in one entry does not cascade into errors about its name', () => {
  test('a proxy with a bad server: no "unknown member", "unknown proxy" or "unknown target" about it', () => {
    expect(problems(lines(
      'proxies:',
      '  - { name: corp, type: http, server: corp-proxy }',
      '  - { name: edge, type: socks5, server: 127.0.0.1:1080, via: corp }',
      'groups:',
      '  - { name: out, type: fallback, members: [corp, DIRECT] }',
      'rules:',
      '  - MATCH,corp',
    ))).toEqual(['c.yaml:2:39 proxies.corp: server: expected HOST:PORT such as 127.0.0.1:7891 (got "corp-proxy")']);
  });

  test('a group with a bad option: no "unknown member" or "unknown target" about it', () => {
    expect(problems(lines(
      'groups:',
      '  - { name: out, type: fallback, members: [DIRECT], check: { failures: 0 } }',
      '  - { name: outer, type: fallback, members: [out, REJECT] }',
      'rules:',
      '  - MATCH,out',
    ))).toEqual(['c.yaml:2:72 groups.out.check: failures: at least 1']);
  });

  test('a proxy with an unknown type: no "unknown member" or "unknown target" about it', () => {
    expect(problems(lines(
      'proxies:',
      '  - { name: corp, type: htp, server: 10.0.0.1:3128 }',
      'groups:',
      '  - { name: out, type: fallback, members: [corp, DIRECT] }',
      'rules:',
      '  - MATCH,corp',
    ))).toEqual(['c.yaml:2:25 proxies.corp: unknown type "htp" (did you mean "http"?)']);
  });

  test('a proxy without a type: no "unknown target" about it', () => {
    expect(problems(lines(
      'proxies:',
      '  - { name: corp, server: 10.0.0.1:3128 }',
      'rules:',
      '  - MATCH,corp',
    ))).toEqual(['c.yaml:2:5 proxies.corp: needs type: socks5 | http']);
  });

  test('a duplicate name is reported once, at the second entry, and nothing else about it', () => {
    expect(problems(lines(
      'proxies:',
      '  - { name: corp, type: http, server: 10.0.0.1:3128 }',
      '  - { name: corp, type: socks5, server: 10.0.0.1:1080 }',
      'groups:',
      '  - { name: out, type: fallback, members: [corp] }',
      'rules:',
      '  - MATCH,corp',
    ))).toEqual(['c.yaml:3:13 proxies.corp: name "corp" is already defined']);
  });

  test('a loop is reported once, however many entries it passes through', () => {
    expect(problems(lines(
      'proxies:',
      '  - { name: a, type: http, server: 10.0.0.1:3128, via: b }',
      '  - { name: b, type: http, server: 10.0.0.2:3128, via: c }',
      '  - { name: c, type: http, server: 10.0.0.3:3128, via: a }',
      'rules:',
      '  - MATCH,b',
    ))).toEqual(['c.yaml:4:56 proxies.c: loop: a → b → c → a']);
  });
});

describe('a loop of one', () => {
  test('a proxy via itself is the loop "a → a"', () => {
    expect(problems(lines('proxies:', '  - { name: a, type: http, server: 10.0.0.1:3128, via: a }')))
      .toEqual(['c.yaml:2:56 proxies.a: loop: a → a']);
  });

  test('a proxy via itself is the loop "a → a" also when the check reached it through another entry', () => {
    expect(problems(lines(
      'proxies:',
      '  - { name: b, type: http, server: 10.0.0.2:3128, via: a }',
      '  - { name: a, type: http, server: 10.0.0.1:3128, via: a }',
    ))).toEqual(['c.yaml:3:56 proxies.a: loop: a → a']);
  });

  test('a group listing itself is the loop "g → g" also when the check reached it through another group', () => {
    expect(problems(lines(
      'groups:',
      '  - { name: h, type: fallback, members: [g] }',
      '  - { name: g, type: fallback, members: [DIRECT, g] }',
    ))).toEqual(['c.yaml:3:50 groups.g: loop: g → g']);
  });
});
