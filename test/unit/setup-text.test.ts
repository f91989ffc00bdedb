// The pure parts of proxyctl env and setup: the DIRECT hosts of rules and rule sets, the shells'
// quoting, the ssh block in and out again, the dry run's diff, passwords masked.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { directHosts } from '../../src/router/direct-hosts.js';
import { masked } from '../../src/setup/apply.js';
import { unifiedDiff } from '../../src/setup/diff.js';
import { envText } from '../../src/setup/env.js';
import { BLOCK_END, BLOCK_START, withBlock, withoutBlock } from '../../src/setup/ssh-config.js';
import { noProxyMatch } from '../../src/audit/proxy-setting.js';

describe('directHosts', () => {
  it('takes the names and networks DIRECT rules and rule sets name exactly, in rule order, once each', () => {
    const { hosts, omitted } = directHosts([
      { text: 'DOMAIN,a.example,DIRECT', target: 'DIRECT' },
      { text: 'DOMAIN-SUFFIX,.corp.example,DIRECT', target: 'DIRECT' },
      { text: 'DOMAIN-SUFFIX,github.com,overseas', target: 'overseas' },
      { text: 'DOMAIN-KEYWORD,internal,DIRECT', target: 'DIRECT' },
      { text: 'RULE-SET,internal,DIRECT', target: 'DIRECT', entries: ['+.intra.example', '.below.example', '*.one.example', 'DOMAIN,a.example', '10.0.0.0/8', 'IP-CIDR6,fd00::/8,no-resolve', '0.0.0.0/0'] },
      { text: 'IP-CIDR,192.168.0.0/16,DIRECT,no-resolve', target: 'DIRECT' },
      { text: 'MATCH,DIRECT', target: 'DIRECT' },
    ], 64);
    expect(hosts.map((h) => `${h.kind} ${h.value}`)).toEqual([
      'name a.example', 'suffix corp.example', 'suffix intra.example', 'below below.example', 'cidr 10.0.0.0/8', 'cidr fd00::/8', 'cidr 192.168.0.0/16',
    ]);
    expect(hosts[2]!.rule).toBe('RULE-SET,internal,DIRECT: +.intra.example');
    expect(omitted).toBe(0);
  });

  it('stops at the limit and counts the rest', () => {
    const entries = Array.from({ length: 10 }, (_, i) => `host${i}.example`);
    const { hosts, omitted } = directHosts([{ text: 'RULE-SET,big,DIRECT', target: 'DIRECT', entries }], 4);
    expect(hosts).toHaveLength(4);
    expect(omitted).toBe(6);
  });
});

describe('envText', () => {
  const value = `http://u:p'a"s$s\\%w@127.0.0.1:8080`;
  it('quotes for each shell: sh, fish, PowerShell, cmd', () => {
    expect(envText([['HTTP_PROXY', value]], 'sh')).toBe(`export HTTP_PROXY='http://u:p'\\''a"s$s\\%w@127.0.0.1:8080'\n`);
    expect(envText([['HTTP_PROXY', value]], 'fish')).toBe(`set -gx HTTP_PROXY 'http://u:p\\'a"s$s\\\\%w@127.0.0.1:8080'\n`);
    expect(envText([['HTTP_PROXY', value], ['http_proxy', value]], 'powershell')).toBe(`$env:HTTP_PROXY = 'http://u:p''a"s$s\\%w@127.0.0.1:8080'\n`);
    expect(envText([['HTTP_PROXY', value]], 'cmd')).toBe(`set "HTTP_PROXY=http://u:p'a"s$s\\%%w@127.0.0.1:8080"\n`);
  });
});

describe('the ssh block', () => {
  const plan = { proxyCommand: 'proxyctl connect %h %p', via443: true };
  it('goes first, once, and comes out leaving the file as it was', () => {
    fc.assert(fc.property(fc.string(), (text) => {
      const body = text.replaceAll(BLOCK_START, '').replaceAll(BLOCK_END, '');
      const once = withBlock(body, plan);
      expect(once.startsWith(`${BLOCK_START}\nHost github.com\n    ProxyCommand proxyctl connect %h %p\n    Hostname ssh.github.com\n    Port 443\n${BLOCK_END}\n`)).toBe(true);
      expect(withBlock(once, plan)).toBe(once);
      expect(withoutBlock(once)).toBe(body);
    }));
  });
});

describe('unifiedDiff', () => {
  it('is empty for equal texts, and shows a change with its context', () => {
    expect(unifiedDiff('a\n', 'a\n', 'f')).toBe('');
    expect(unifiedDiff('', 'x = 1\n', 'f')).toBe('--- f\n+++ f (after)\n@@ -0,0 +1,1 @@\n+x = 1\n');
    const before = 'a\nb\nc\nd\ne\nf\ng\nh\n';
    expect(unifiedDiff(before, before.replace('e\n', 'E\n'), 'f')).toBe('--- f\n+++ f (after)\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n');
  });
});

describe('masked and noProxyMatch', () => {
  it('masks the password of a URL, not the user or the host', () => {
    expect(masked('git config --global http.proxy http://dev:s3cret@127.0.0.1:8080')).toBe('git config --global http.proxy http://dev:***@127.0.0.1:8080');
    expect(masked('http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080');
  });

  it('reads NO_PROXY as widely as any tool does (curl: a leading dot still matches the name itself): names with what is below them, CIDRs, *', () => {
    expect(noProxyMatch(['github.com'], 'api.github.com')).toBe('github.com');
    expect(noProxyMatch(['.github.com'], 'github.com')).toBe('.github.com');
    expect(noProxyMatch(['hub.com'], 'github.com')).toBeUndefined();
    expect(noProxyMatch(['10.0.0.0/8'], '10.1.2.3')).toBe('10.0.0.0/8');
    expect(noProxyMatch(['*'], 'anything.example')).toBe('*');
  });
});
