import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ConfigError, DEFAULT_LIMITS, loadConfig, parseConfig } from '../../src/config/index.js';

const dir = mkdtempSync(join(tmpdir(), 'proxyd-config-'));

function problems(text: string, files: Record<string, string> = {}): string[] {
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
  const file = join(dir, 'c.yaml');
  try {
    parseConfig(text, file);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.file === file ? 'c.yaml' : p.file.replace(dir + '/', '')}:${p.line}:${p.col} ${p.message}`);
    throw err;
  }
  return [];
}

describe('a valid config', () => {
  test('the embedded default loads: loopback listeners, safe limits, MATCH,DIRECT', () => {
    const c = loadConfig();
    expect(c.file).toBe('(embedded default)');
    expect(c.listen).toEqual({ socks: { host: '127.0.0.1', port: 1080 }, http: { host: '127.0.0.1', port: 8080 } });
    expect(c.limits).toEqual(DEFAULT_LIMITS);
    expect(c.router.matchSync({ host: 'github.com', port: 443 }).target).toBe('DIRECT');
  });

  test('every section is read', () => {
    writeFileSync(join(dir, 'git.txt'), '+.corp.example\n');
    const c = parseConfig(
      [
        'listen: { socks: "[::1]:1081", http: off }',
        'control: /run/proxyd.sock',
        'hosts: { git.corp.example: 10.1.2.3 }',
        'auth: [{ username: dev, password: "s3cret" }]',
        'allow: [10.0.0.0/8]',
        'rule-sets: { git: git.txt }',
        'log: { level: debug }',
        'limits: { handshake-timeout: 2s, header-max-bytes: 16KiB, idle-timeout: 5m, connect-timeout: 1500ms, max-connections: 100, max-connections-per-client: 7, drain-timeout: 1s }',
        'rules:',
        '  - RULE-SET,git,REJECT',
        '  - MATCH,DIRECT',
      ].join('\n'),
      join(dir, 'full.yaml'),
    );
    expect(c.listen).toEqual({ socks: { host: '::1', port: 1081 }, http: null });
    expect(c.control).toBe('/run/proxyd.sock');
    expect(c.hosts.get('git.corp.example')).toBe('10.1.2.3');
    expect(c.users).toEqual([{ username: 'dev', password: 's3cret' }]);
    expect(c.allow).toHaveLength(1);
    expect(c.log.level).toBe('debug');
    expect(c.limits).toEqual({ handshakeTimeoutMs: 2000, headerMaxBytes: 16384, idleTimeoutMs: 300_000, connectTimeoutMs: 1500, maxConnections: 100, maxConnectionsPerClient: 7, drainTimeoutMs: 1000 });
    expect(c.router.matchSync({ host: 'a.corp.example', port: 443 }).target).toBe('REJECT');
  });
});

describe('every error, with FILE:LINE:COL', () => {
  test.each([
    ['unknown key with did-you-mean', 'lisen: { socks: 127.0.0.1:1080 }\n', ['c.yaml:1:1 unknown key "lisen" (did you mean "listen"?)']],
    ['unknown nested key', 'limits:\n  idle-timeot: 5s\n', ['c.yaml:2:3 limits: unknown key "idle-timeot" (did you mean "idle-timeout"?)']],
    ['bad rule kind', 'rules:\n  - DOMAIN-SUFIX,a.example,DIRECT\n', ['c.yaml:2:5 unknown rule kind "DOMAIN-SUFIX" (did you mean DOMAIN-SUFFIX?)']],
    ['unknown target, column of the target', 'rules:\n  - "DOMAIN,a.example,overseas"\n', ['c.yaml:2:23 unknown target "overseas" (known: DIRECT, REJECT)']],
    ['bad CIDR', 'rules:\n  - IP-CIDR,10.0.0.0/33,DIRECT\n', ['c.yaml:2:13 "10.0.0.0/33" is not an IP address or CIDR']],
    ['bad hosts address', 'hosts:\n  a.example: 10.1.2\n', ['c.yaml:2:14 hosts.a.example: "10.1.2" is not an IP address']],
    ['bad listen address', 'listen: { socks: "127.0.0.1" }\n', ['c.yaml:1:19 listen.socks: expected ADDRESS:PORT such as 127.0.0.1:1080 or [::1]:1080 (got "127.0.0.1")']],
    ['both listeners off: at the listen key', 'rules: []\nlisten:\n  socks: off\n  http: off\n', ['c.yaml:2:1 listen: both listeners are off, so nothing would be served; give socks or http an ADDRESS:PORT such as 127.0.0.1:1080']],
    ['both listeners off, one as null', 'listen: { http: ~, socks: false }\n', ['c.yaml:1:1 listen: both listeners are off, so nothing would be served; give socks or http an ADDRESS:PORT such as 127.0.0.1:1080']],
    ['duplicate rule-set name', 'rule-sets:\n  a: a.txt\n  a: b.txt\n', ['c.yaml:3:3 Map keys must be unique']],
    ['duplicate user', 'allow: [127.0.0.1]\nauth:\n  - { username: u, password: a }\n  - { username: u, password: b }\n', ['c.yaml:4:17 auth: duplicate username "u"']],
    ['missing rule-set file', 'rule-sets: { git: nothere.txt }\n', [expect.stringMatching(/^c\.yaml:1:19 rule-sets\.git: cannot read rule set "git": ENOENT/)]],
    ['bad duration', 'limits: { idle-timeout: 5 }\n', ['c.yaml:1:25 limits.idle-timeout: expected a duration such as 500ms, 30s, 5m or 1h (got 5)']],
    ['a size where a count belongs', 'limits: { max-connections: 4KiB }\n', ['c.yaml:1:28 limits.max-connections: expected a whole number such as 4096 (got "4KiB")']],
    ['a fraction of a connection', 'limits: { max-connections-per-client: 2.5 }\n', ['c.yaml:1:39 limits.max-connections-per-client: expected a whole number such as 4096 (got 2.5)']],
    ['a duration beyond what a timer can hold', 'limits: { idle-timeout: 600h }\n', ['c.yaml:1:25 limits.idle-timeout: at most 596h (got "600h")']],
    ['bad log level', 'log: { level: loud }\n', ['c.yaml:1:15 log.level: "loud" is not one of trace, debug, info, warn, error, fatal, silent']],
    ['mirror of an unknown kind', 'mirrors:\n  - { name: go, kind: goprxy }\n', ['c.yaml:2:23 mirrors.go: unknown kind "goprxy" (did you mean "goproxy"?)']],
    ['mirror upstream that is not a URL', 'mirrors:\n  - { name: go, kind: goproxy, upstreams: [goproxy.cn] }\n', ['c.yaml:2:44 mirrors.go: upstreams: expected an http:// or https:// base URL (got "goproxy.cn")']],
    ['mirror with an unknown fallback', 'mirrors:\n  - { name: go, kind: goproxy, origins: [https://proxy.golang.org], fallback: overseas }\n', ['c.yaml:2:79 mirrors.go: unknown route "overseas" (known: DIRECT, REJECT, go)']],
    ['mirror intercepting without an https origin', 'mirrors:\n  - { name: go, kind: goproxy, upstreams: [https://goproxy.cn], origins: [http://proxy.test], intercept: true }\n', ['c.yaml:2:106 mirrors.go: intercept: true serves CONNECTs to the hosts of the https:// origins: list at least one in origins']],
    ['mirror with neither upstreams nor origins', 'mirrors:\n  - { name: go, kind: goproxy }\n', ['c.yaml:2:5 mirrors.go: a mirror needs upstreams: [URL, …] or origins: [URL, …]']],
    ['two mirrors at one path', 'mirrors:\n  - { name: a, kind: npm, origins: [https://registry.npmjs.org], path: /npm }\n  - { name: b, kind: npm, origins: [https://registry.npmjs.org], path: /npm }\n', ['c.yaml:3:72 mirrors.b: path: /npm is already the endpoint of mirror a']],
    ['a cache too small', 'cache: { max-size: 10KiB }\n', ['c.yaml:1:20 cache.max-size: at least 1MiB']],
    ['YAML syntax', 'rules: [a, b\n', [expect.stringMatching(/^c\.yaml:2:1 /)]],
    ['not a mapping', '- a\n- b\n', ['c.yaml:1:1 a config is a YAML mapping (listen:, rules:, …)']],
  ])('%s', (_name, text, expected) => {
    expect(problems(text)).toEqual(expected);
  });

  test('errors inside a rule-set file point into that file', () => {
    expect(problems('rule-sets: { s: s.txt }\nrules:\n  - RULE-SET,s,DIRECT\n', { 's.txt': 'a.example\nb..example\n' })).toEqual([
      's.txt:2:1 "b..example" is not a domain name',
    ]);
  });

  test('all errors are reported at once', () => {
    const text = 'lisen: {}\nrules:\n  - BAD,x,DIRECT\n  - MATCH,NOWHERE\nlimits: { max-connections: lots }\n';
    expect(problems(text).map((p) => p.split(' ')[0])).toEqual(['c.yaml:1:1', 'c.yaml:5:28', 'c.yaml:3:5', 'c.yaml:4:11']);
  });

  test('one listener off is accepted: the other serves (given, or its default)', () => {
    expect(problems('listen: { socks: off, http: 127.0.0.1:0 }\n')).toEqual([]);
    expect(problems('listen: { socks: off }\n')).toEqual([]);
    expect(parseConfig('listen: { http: off }\n', join(dir, 'one.yaml')).listen).toEqual({ socks: { host: '127.0.0.1', port: 1080 }, http: null });
  });

  test('both listeners off is reported once, with the other problems of the file', () => {
    expect(problems('listen: { socks: off, http: off }\nrules:\n  - NOPE,x,DIRECT\n')).toEqual([
      'c.yaml:1:1 listen: both listeners are off, so nothing would be served; give socks or http an ADDRESS:PORT such as 127.0.0.1:1080',
      'c.yaml:3:5 unknown rule kind "NOPE"',
    ]);
  });

  test('a non-loopback bind without auth or allow is refused; with either it is accepted', () => {
    expect(problems('listen: { http: 0.0.0.0:8080, socks: 127.0.0.1:1080 }\n')).toEqual([
      'c.yaml:1:17 listen.http: 0.0.0.0 is not a loopback address; set "auth" (users) or "allow" (client CIDRs) so proxyd is not an open proxy',
    ]);
    expect(problems('listen: { http: 0.0.0.0:8080 }\nallow: [192.168.0.0/16]\n')).toEqual([]);
    expect(problems('listen: { http: 0.0.0.0:8080 }\nauth: [{ username: a, password: b }]\n')).toEqual([]);
  });
});

describe('the shipped rules/github.txt', () => {
  test('loads without a problem and sends every GitHub host a clone, a release or an Action touches to the group', () => {
    const file = join(dir, 'gh.yaml');
    const rulesDir = join(import.meta.dirname, '../../rules');
    const c = parseConfig([
      'proxies: [{ name: overseas, type: socks5, server: 127.0.0.1:7891 }]',
      'groups: [{ name: github-out, type: fallback, members: [overseas, DIRECT] }]',
      `rule-sets: { github: ${join(rulesDir, 'github.txt')} }`,
      'rules:',
      '  - RULE-SET,github,github-out',
      '  - MATCH,DIRECT',
    ].join('\n'), file);
    const hosts = [
      'github.com', 'api.github.com', 'codeload.github.com', 'objects.githubusercontent.com', 'raw.githubusercontent.com',
      'avatars.githubusercontent.com', 'github.githubassets.com', 'ghcr.io', 'pkg-containers.githubusercontent.com',
      'octocat.github.io', 'ssh.github.com', 'uploads.github.com',
    ];
    expect(hosts.map((h) => c.router.matchSync({ host: h, port: 443 }).target)).toEqual(hosts.map(() => 'github-out'));
    expect(c.router.matchSync({ host: 'notgithub.com', port: 443 }).target).toBe('DIRECT');
    expect(c.router.matchSync({ host: 'gitlab.com', port: 443 }).target).toBe('DIRECT');
  });
});
