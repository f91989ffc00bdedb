// proxyctl setup all, then --undo, on a throwaway HOME with the real git, go, npm and pip: the
// settings take effect through each tool, and undo leaves every file byte for byte as it was,
// a file that was not there removed again (and the directories made for it).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { proxyctl } from '../fixtures/proxyctl.js';
import { run } from '../fixtures/run.js';
import { fileTree, missingTools, userHome, type UserHome } from '../fixtures/user-home.js';

const TOOLS = ['git', 'go', 'npm', 'pip'] as const;
const missing = missingTools(TOOLS);
// github.com is REJECTed: setup ssh's probe of port 22 is answered by the rules, nothing leaves this host
const CONFIG = `
rule-sets: { internal: internal.txt }
mirrors:
  - { name: go, kind: goproxy, upstreams: [http://127.0.0.1:9], origins: [http://127.0.0.1:9] }
  - { name: npm, kind: npm, path: /registry, upstreams: [http://127.0.0.1:9], origins: [http://127.0.0.1:9] }
rules:
  - DOMAIN-SUFFIX,git.corp.example,DIRECT
  - RULE-SET,internal,DIRECT
  - DOMAIN-SUFFIX,github.com,REJECT
  - MATCH,DIRECT
`;
const RULE_SET = '+.intra.example\n10.0.0.0/8\n';
/** npm writes its own logs and update checks under ~/.npm: not settings */
const NOT_SETTINGS = /^\.npm(\/|$)/;

describe.skipIf(missing.length)(`proxyctl setup all and --undo${missing.length ? ` (skipped: ${missing.join(', ')} missing)` : ''}`, () => {
  let daemon: TestDaemon;
  let control: string;
  let user: UserHome;
  const ctl = (args: string[]) => proxyctl(control, args, user.env);
  const tool = (argv: string[]) => run(argv[0]!, argv.slice(1), { env: user.env, cwd: user.home });

  beforeAll(async () => {
    daemon = await startTestDaemon(CONFIG, { 'internal.txt': RULE_SET });
    control = daemon.controlPath!;
    user = userHome();
    // files that were there before: they must come back byte for byte, odd spacing and all
    writeFileSync(join(user.home, '.gitconfig'), '[user]\n\tname = Dev  Eloper\n# a comment setup must keep\n[core]\n\teditor = vi\n');
    mkdirSync(join(user.home, '.ssh'), { mode: 0o700 });
    writeFileSync(join(user.home, '.ssh', 'config'), 'Host *\n    ServerAliveInterval 30\n', { mode: 0o600 });
  });
  afterAll(async () => {
    await daemon?.stop({ now: true });
  });

  it('--dry-run prints the commands and the diff, and changes nothing', async () => {
    const before = fileTree(user.home, NOT_SETTINGS);
    const r = await ctl(['setup', 'all', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`git config --global http.proxy http://127.0.0.1:${daemon.httpPort}`);
    expect(r.stdout).toContain(`+\tproxy = http://127.0.0.1:${daemon.httpPort}`);
    expect(r.stdout).toContain(`go env -w GOPROXY=http://127.0.0.1:${daemon.httpPort}/go,direct`);
    expect(r.stdout).toContain('+Host github.com');
    expect(fileTree(user.home, NOT_SETTINGS)).toEqual(before);
  });

  it('setup all sets each tool through the tool; --undo restores every file byte for byte', async () => {
    const before = fileTree(user.home, NOT_SETTINGS);
    const r = await ctl(['setup', 'all']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const http = `http://127.0.0.1:${daemon.httpPort}`;

    const git = (key: string) => tool(['git', 'config', '--global', '--get', key]).then((x) => x.stdout.trim());
    expect(await git('http.proxy')).toBe(http);
    expect((await tool(['git', 'config', '--global', '--get', 'http.https://git.corp.example.proxy'])).code).toBe(0);
    expect(await git('http.https://*.intra.example.proxy')).toBe('');
    expect(await git('user.name')).toBe('Dev  Eloper');
    const goEnv = JSON.parse((await tool(['go', 'env', '-json', 'GOPROXY', 'GOPRIVATE', 'GOSUMDB'])).stdout) as Record<string, string>;
    expect(goEnv.GOPROXY).toBe(`${http}/go,direct`);
    expect(goEnv.GOPRIVATE).toBe('git.corp.example,*.git.corp.example,intra.example,*.intra.example');
    expect(goEnv.GOSUMDB).toBe(`sum.golang.org ${http}/go/sumdb/sum.golang.org`);
    expect((await tool(['npm', 'config', 'get', 'registry'])).stdout.trim()).toBe(`${http}/registry/`);
    expect((await tool(['npm', 'config', 'get', 'https-proxy'])).stdout.trim()).toBe(http);
    expect((await tool(['pip', 'config', '--user', 'get', 'global.proxy'])).stdout.trim()).toBe(http);
    const ssh = readFileSync(join(user.home, '.ssh', 'config'), 'utf8');
    expect(ssh).toMatch(/^# >>> proxyd.*\nHost github\.com\n {4}ProxyCommand .*connect %h %p\n# <<< proxyd <<<\n\nHost \*\n/);
    expect(readFileSync(join(user.home, '.ssh', 'config.proxyd-backup'), 'utf8')).toBe('Host *\n    ServerAliveInterval 30\n');

    // a second setup keeps the first "before"
    expect((await ctl(['setup', 'git'])).code).toBe(0);

    const u = await ctl(['setup', 'all', '--undo']);
    expect(u.code, `${u.stdout}\n${u.stderr}`).toBe(0);
    expect(u.stdout).toContain('restored byte for byte');
    expect(u.stdout).toContain('removed (it was not there before setup)');
    const after = fileTree(user.home, NOT_SETTINGS);
    // proxyctl's own records stay in its state directory; everything else is as before
    for (const path of after.keys()) if (path.startsWith('.local/')) after.delete(path);
    expect(after).toEqual(before);
  });

  it('a file changed since setup gets only setup\'s own settings back, and keeps the change', async () => {
    expect((await ctl(['setup', 'git'])).code).toBe(0);
    expect((await tool(['git', 'config', '--global', 'alias.st', 'status'])).code).toBe(0);
    const u = await ctl(['setup', 'git', '--undo']);
    expect(u.code, u.stderr).toBe(0);
    expect(u.stdout).toContain('changed since setup');
    expect((await tool(['git', 'config', '--global', '--get', 'http.proxy'])).code).toBe(1);
    expect((await tool(['git', 'config', '--global', '--get', 'alias.st'])).stdout.trim()).toBe('status');
    expect((await tool(['git', 'config', '--global', '--get', 'user.name'])).stdout.trim()).toBe('Dev  Eloper');
  });

  it('nothing recorded: --undo says so', async () => {
    const u = await ctl(['setup', 'npm', '--undo']);
    expect(u.code).toBe(0);
    expect(u.stdout).toContain('npm: nothing to undo');
  });
});
