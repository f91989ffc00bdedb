// What `proxyctl reload --dry-run` says a new config changes: one line per change, names only.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { describeChanges } from '../../src/config/diff.js';

const dir = mkdtempSync(join(tmpdir(), 'proxyd-diff-'));
const config = (text: string) => parseConfig(text, join(dir, 'c.yaml'));

test('nothing changed: no lines', () => {
  const text = 'proxies:\n  - { name: p, type: socks5, server: 127.0.0.1:1 }\nrules:\n  - MATCH,p\n';
  expect(describeChanges(config(text), config(text))).toEqual([]);
});

test('listeners, proxies, rules, limits and the cache, each on its line; a password is never shown', () => {
  const before = config('listen: { socks: 127.0.0.1:1080, http: 127.0.0.1:8080 }\nproxies:\n  - { name: p, type: socks5, server: 127.0.0.1:1, username: u, password: old-secret }\n  - { name: gone, type: http, server: 127.0.0.1:2 }\nrules:\n  - DOMAIN,a.example,p\n  - MATCH,DIRECT\n');
  const after = config('listen: { socks: 127.0.0.1:1080, http: 127.0.0.1:8081 }\nproxies:\n  - { name: p, type: socks5, server: 127.0.0.1:1, username: u, password: new-secret }\n  - { name: fresh, type: http, server: 127.0.0.1:3 }\nlimits: { idle-timeout: 5s }\ncache: { max-size: 2GiB }\nrules:\n  - DOMAIN,b.example,p\n  - MATCH,DIRECT\n');
  const lines = describeChanges(before, after);
  expect(lines).toEqual([
    'listen.http: 127.0.0.1:8080 → 127.0.0.1:8081',
    'socks5 p: changed',
    'http fresh: added',
    'http gone: removed',
    'rules: 2 → 2',
    '  + DOMAIN,b.example,p',
    '  - DOMAIN,a.example,p',
    'limits.idle-timeout: 600000 → 5000 ms',
    `cache.max-size: 10737418240 → ${2 * 1024 ** 3} bytes (takes effect after a restart)`,
  ]);
  expect(lines.join('\n')).not.toMatch(/secret/);
});

test('a rule-set file whose entries changed is reported, though the config file did not change', () => {
  writeFileSync(join(dir, 'set.txt'), 'a.example\n');
  const text = 'rule-sets: { internal: set.txt }\nrules:\n  - RULE-SET,internal,DIRECT\n';
  const before = config(text);
  writeFileSync(join(dir, 'set.txt'), 'a.example\nb.example\n');
  expect(describeChanges(before, config(text))).toEqual(['rule-set internal: changed']);
});
