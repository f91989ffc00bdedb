// `proxyctl service install` and `uninstall` on a temporary --root, for every OS and scope, through
// the real proxyctl: install writes what the layout says, a second install changes nothing, and
// uninstall leaves the tree exactly as it was (what was there before is never touched).
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { onDisk } from '../../src/service/files.js';
import { hostFor, layoutFor, type Layout, type Platform, type Scope } from '../../src/service/layout.js';
import { fileTree } from '../fixtures/file-tree.js';
import { proxyctl } from '../fixtures/proxyctl.js';

const HOME = '/home/dev';
/** no XDG directories of the test's own: the user layout is the default one under HOME */
const env: NodeJS.ProcessEnv = { ...process.env, HOME, XDG_CONFIG_HOME: '', XDG_STATE_HOME: '' };

function service(args: string[]) {
  return proxyctl(undefined, ['service', ...args], env);
}

/** a root that already holds things of others, next to where proxyd's files go */
function populatedRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'proxyd-root-'));
  const put = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  put('etc/systemd/system/other.service', '[Service]\nExecStart=/bin/true\n');
  mkdirSync(join(root, 'etc/systemd/system/multi-user.target.wants'));
  symlinkSync('/etc/systemd/system/other.service', join(root, 'etc/systemd/system/multi-user.target.wants/other.service'));
  put('home/dev/.config/other/settings.yaml', 'a: 1\n');
  put(`Users/${userInfo().username}/Library/LaunchAgents/other.plist`, '<plist/>\n');
  put('C/ProgramData/Other/x.txt', 'x\n');
  mkdirSync(join(root, 'var/lib'), { recursive: true });
  return root;
}

function layout(platform: Platform, scope: Scope): Layout {
  const host = hostFor(platform);
  return layoutFor(platform === 'linux' ? { ...host, home: HOME, env: {} } : host, scope);
}

const cases: Array<{ name: string; platform: Platform; scope: Scope; args: string[]; configMode: number }> = [
  { name: 'Linux system service', platform: 'linux', scope: 'system', args: ['--system'], configMode: 0o640 },
  { name: 'Linux user service', platform: 'linux', scope: 'user', args: ['--user'], configMode: 0o600 },
  { name: 'macOS LaunchAgent', platform: 'darwin', scope: 'user', args: ['--platform', 'darwin', '--user'], configMode: 0o600 },
  { name: 'macOS LaunchDaemon', platform: 'darwin', scope: 'system', args: ['--platform', 'darwin', '--system'], configMode: 0o600 },
  { name: 'Windows service', platform: 'windows', scope: 'system', args: ['--platform', 'windows'], configMode: 0o600 },
];

describe('install, install again, uninstall on a temporary root', () => {
  for (const c of cases) {
    test(`${c.name}: the files are where the layout says; uninstall leaves the tree as it was`, async () => {
      const root = populatedRoot();
      const l = layout(c.platform, c.scope);
      const before = fileTree(root);
      const first = await service(['install', ...c.args, '--root', root]);
      expect(first.stderr).toBe('');
      expect(first.code).toBe(0);
      expect(statSync(onDisk(l.definition, root)).mode & 0o777).toBe(0o644);
      expect(statSync(onDisk(l.config, root)).mode & 0o777).toBe(c.configMode);
      expect(JSON.parse(readFileSync(onDisk(l.manifest, root), 'utf8'))).toMatchObject({ platform: c.platform, scope: c.scope, config: l.config, background: false });
      if (c.platform === 'linux' && c.scope === 'system') {
        expect(first.stdout).toContain(`$ systemctl --root=${root} enable proxyd.service`);
        expect(fileTree(root)['etc/systemd/system/multi-user.target.wants/proxyd.service']).toBe('link -> /etc/systemd/system/proxyd.service');
      }
      const installed = fileTree(root);
      const again = await service(['install', ...c.args, '--root', root]);
      expect(again.code).toBe(0);
      expect(fileTree(root)).toEqual(installed);
      const removed = await service(['uninstall', ...c.args, '--root', root]);
      expect(removed.stderr).toBe('');
      expect(removed.code).toBe(0);
      expect(fileTree(root)).toEqual(before);
    });
  }
});

describe('what install and uninstall refuse or keep', () => {
  test('a config changed since install is kept, and said so; everything else goes', async () => {
    const root = populatedRoot();
    const before = fileTree(root);
    expect((await service(['install', '--system', '--root', root])).code).toBe(0);
    appendFileSync(join(root, 'etc/proxyd/config.yaml'), '# mine now\n');
    const removed = await service(['uninstall', '--system', '--root', root]);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toContain('kept /etc/proxyd/config.yaml: it changed since install (yours now)');
    const { 'etc/proxyd': dir, 'etc/proxyd/config.yaml': config, ...rest } = fileTree(root);
    expect(dir).toMatch(/^dir /);
    expect(config).toMatch(/^file 640 /);
    expect(rest).toEqual(before);
  });

  test('a config given with --config is used where it is, and never written or removed', async () => {
    const root = populatedRoot();
    mkdirSync(join(root, 'srv'));
    writeFileSync(join(root, 'srv/proxyd.yaml'), 'listen: { socks: 127.0.0.1:0, http: off }\nrules:\n  - MATCH,DIRECT\n');
    const before = fileTree(root);
    const r = await service(['install', '--system', '--root', root, '--config', '/srv/proxyd.yaml']);
    expect(r.code).toBe(0);
    expect(readFileSync(join(root, 'etc/systemd/system/proxyd.service'), 'utf8')).toContain(' --config "/srv/proxyd.yaml"\n');
    expect(fileTree(root)['etc/proxyd/config.yaml']).toBeUndefined();
    expect((await service(['uninstall', '--system', '--root', root])).code).toBe(0);
    expect(fileTree(root)).toEqual(before);
  });

  for (const c of cases) {
    test(`${c.name}: a --config path with a line break ("\\nUser=root") is refused, naming it, before anything is written`, async () => {
      const root = populatedRoot();
      const config = c.platform === 'windows' ? 'C:\\srv\nUser=root\n\\proxyd.yaml' : '/srv\nUser=root\n/proxyd.yaml';
      mkdirSync(dirname(onDisk(config, root)), { recursive: true });
      writeFileSync(onDisk(config, root), 'rules:\n  - MATCH,DIRECT\n');
      const before = fileTree(root);
      const r = await service(['install', ...c.args, '--root', root, '--config', config]);
      expect(r.code).toBe(1);
      const format = { linux: 'systemd unit', darwin: 'launchd plist', windows: 'WinSW service XML' }[c.platform];
      const named = config.replaceAll('\n', '\\n');
      expect(r.stderr).toBe(`proxyctl: the config file "${named}" holds a control character: it cannot go into the ${format}; use a plainer path\n`);
      expect(fileTree(root)).toEqual(before);
    });
  }

  test('Windows: a --config path with %VAR% (WinSW would expand it) or a quote is refused', async () => {
    for (const config of ['C:\\srv\\%SystemRoot%\\proxyd.yaml', 'C:\\srv\\a" --config "C:\\other.yaml']) {
      const root = populatedRoot();
      mkdirSync(dirname(onDisk(config, root)), { recursive: true });
      writeFileSync(onDisk(config, root), 'rules:\n  - MATCH,DIRECT\n');
      const before = fileTree(root);
      const r = await service(['install', '--platform', 'windows', '--root', root, '--config', config]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`proxyctl: the config file "${config}" holds a quote, a % or a trailing backslash: it cannot go into the WinSW service XML; use a plainer path\n`);
      expect(fileTree(root)).toEqual(before);
    }
  });

  test('a unit it did not write is not overwritten; nothing changes', async () => {
    const root = populatedRoot();
    writeFileSync(join(root, 'etc/systemd/system/proxyd.service'), '[Service]\nExecStart=/opt/mine\n');
    const before = fileTree(root);
    const r = await service(['install', '--system', '--root', root]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('proxyctl: /etc/systemd/system/proxyd.service is there and was not written by proxyctl service install: move it away first\n');
    expect(fileTree(root)).toEqual(before);
  });

  test('a config with errors stops the install with each error at its place; nothing changes', async () => {
    const root = populatedRoot();
    mkdirSync(join(root, 'etc/proxyd'));
    writeFileSync(join(root, 'etc/proxyd/config.yaml'), 'lisen: {}\n');
    const before = fileTree(root);
    const r = await service(['install', '--system', '--root', root]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${join(root, 'etc/proxyd/config.yaml')}:1:1 unknown key "lisen"`);
    expect(fileTree(root)).toEqual(before);
  });

  test('--dry-run changes nothing and prints the very files a real install writes, and its commands', async () => {
    const root = populatedRoot();
    const before = fileTree(root);
    const dry = await service(['install', '--system', '--root', root, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(fileTree(root)).toEqual(before);
    expect(dry.stdout).toContain(`$ systemctl --root=${root} enable proxyd.service\n`);
    const shown = (path: string) => {
      const lines = dry.stdout.split('\n');
      const at = lines.findIndex((l) => l.startsWith(`write ${path} (`));
      const end = lines.findIndex((l, i) => i > at && !l.startsWith('    '));
      return `${lines.slice(at + 1, end).map((l) => l.slice(4)).join('\n')}\n`;
    };
    expect((await service(['install', '--system', '--root', root])).code).toBe(0);
    for (const path of ['/etc/systemd/system/proxyd.service', '/etc/proxyd/config.yaml']) expect(shown(path)).toBe(readFileSync(join(root, path), 'utf8'));
  });

  test('another OS only with --dry-run or --root; start, stop and status only on the running system', async () => {
    const other = await service(['install', '--platform', process.platform === 'darwin' ? 'linux' : 'darwin']);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/this machine runs \w+; add --dry-run to see the files and commands, or --root DIR to write the files there/);
    for (const verb of ['start', 'stop', 'status']) {
      const r = await service([verb, '--root', mkdtempSync(join(tmpdir(), 'proxyd-root-'))]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`proxyctl: service ${verb} acts on the running system: not with --root or --platform\n`);
    }
  });

  test('uninstall with nothing installed says so and succeeds', async () => {
    const r = await service(['uninstall', '--user', '--root', mkdtempSync(join(tmpdir(), 'proxyd-root-'))]);
    expect(r).toMatchObject({ code: 0, stdout: 'proxyd is not installed as a user service here (no /home/dev/.local/state/proxyd/install-manifest.json): nothing to do\n' });
  });
});
