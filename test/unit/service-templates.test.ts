// The service definitions as the platforms' own tools read them: systemd-analyze verify for the
// units, plistutil for the launchd plists, xmllint for WinSW's XML; and the service's default
// config. Each tool is also shown a broken file, so a pass means it really checked.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { hostFor, layoutFor, type Host, type Scope } from '../../src/service/layout.js';
import { renderDefaultConfig, renderDefinition } from '../../src/service/templates.js';
import { run } from '../fixtures/run.js';

const dir = mkdtempSync(join(tmpdir(), 'proxyd-templates-'));
const PROXYD_JS = join(import.meta.dirname, '../../dist/proxyd.js');

function linuxHost(over: Partial<Host> = {}): Host {
  return { platform: 'linux', local: true, env: {}, home: '/home/dev', uid: 1000, node: process.execPath, proxyd: PROXYD_JS, ...over };
}

function unit(scope: Scope, host = linuxHost(), stopTimeoutS = 20): string {
  const layout = layoutFor(host, scope);
  return renderDefinition({ host, layout, config: layout.config, stopTimeoutS });
}

/** the unit's settings as `Section.Key` → values in order */
function settings(text: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let section = '';
  for (const line of text.split('\n')) {
    const header = line.match(/^\[(\w+)\]$/);
    if (header) section = header[1]!;
    const kv = line.match(/^(\w+)=(.*)$/);
    if (kv) (out[`${section}.${kv[1]}`] ??= []).push(kv[2]!);
  }
  return out;
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

/** a runtime directory for `systemd-analyze --user` (it asks for one, and no user manager runs here) */
function userRuntime(): NodeJS.ProcessEnv {
  const runtime = mkdtempSync(join(tmpdir(), 'proxyd-xdg-'));
  chmodSync(runtime, 0o700);
  return { ...process.env, XDG_RUNTIME_DIR: runtime };
}

describe('systemd units', () => {
  test('the system unit passes systemd-analyze verify with nothing to say; a missing binary or an unknown key does not', async () => {
    const good = await run('systemd-analyze', ['verify', '--man=no', '--generators=no', file('system/proxyd.service', unit('system'))]);
    expect(good).toEqual({ code: 0, stdout: '', stderr: '' });
    const missing = await run('systemd-analyze', ['verify', '--man=no', '--generators=no', file('missing/proxyd.service', unit('system', linuxHost({ node: '/nonexistent/node' })))]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('/nonexistent/node is not executable');
    const typo = await run('systemd-analyze', ['verify', '--man=no', '--generators=no', file('typo/proxyd.service', unit('system').replace('PrivateTmp=yes', 'PrivateTemp=yes'))]);
    expect(typo.stderr).toContain("Unknown key 'PrivateTemp'");
  });

  test("the system unit's sandbox, as systemd-analyze security rates it offline: exposure 3.0 or less (OK)", async () => {
    const r = await run('systemd-analyze', ['security', '--offline=yes', file('security/proxyd.service', unit('system'))]);
    const verdict = r.stdout.match(/Overall exposure level for proxyd\.service: (\d+\.\d) (\w+)/);
    expect(verdict?.[2]).toBe('OK');
    expect(Number(verdict![1])).toBeLessThanOrEqual(3.0);
  });

  test('the user unit passes systemd-analyze --user verify with nothing to say', async () => {
    const r = await run('systemd-analyze', ['--user', 'verify', '--man=no', '--generators=no', file('user/proxyd.service', unit('user'))], { env: userRuntime() });
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  test('a node path with spaces, % and $ reaches systemd as it is (verify finds the binary there); one with a quote is refused', async () => {
    const odd = join(dir, 'odd dir %h $HOME');
    mkdirSync(odd, { recursive: true });
    symlinkSync(process.execPath, join(odd, 'node'));
    const text = unit('system', linuxHost({ node: join(odd, 'node') }));
    const r = await run('systemd-analyze', ['verify', '--man=no', '--generators=no', file('odd/proxyd.service', text)]);
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(() => unit('system', linuxHost({ node: '/opt/it\'s/node' }))).toThrow('systemd cannot run a program at "/opt/it\'s/node"');
  });

  test('a package path with a line break (a new directive, User=root) or another control character is refused, naming it, for every platform', () => {
    const evil = '/opt/x\nUser=root\n/proxyd.js';
    for (const scope of ['system', 'user'] as const) {
      expect(() => unit(scope, linuxHost({ proxyd: evil }))).toThrow('the proxyd script "/opt/x\\nUser=root\\n/proxyd.js" holds a control character: it cannot go into the systemd unit');
    }
    expect(() => unit('system', linuxHost({ node: '/opt/\x1b[31m/node' }))).toThrow('the node binary "/opt/\\u001b[31m/node" holds a control character');
    for (const platform of ['darwin', 'windows'] as const) {
      const host = { ...hostFor(platform), proxyd: evil };
      const layout = layoutFor(host, 'system');
      expect(() => renderDefinition({ host, layout, config: layout.config, stopTimeoutS: 20 })).toThrow(`the proxyd script "/opt/x\\nUser=root\\n/proxyd.js" holds a control character: it cannot go into the ${platform === 'darwin' ? 'launchd plist' : 'WinSW service XML'}`);
    }
  });

  test('the system unit: the proxyd account, runtime, state and config directories, restart, journal, sandbox, drain time', () => {
    const s = settings(unit('system', linuxHost(), 25));
    expect(s['Service.ExecStart']).toEqual([`"${process.execPath}" "${PROXYD_JS}" --config "/etc/proxyd/config.yaml"`]);
    expect(s).toMatchObject({
      'Service.User': ['proxyd'], 'Service.Group': ['proxyd'],
      'Service.RuntimeDirectory': ['proxyd'], 'Service.RuntimeDirectoryMode': ['0755'],
      'Service.StateDirectory': ['proxyd'], 'Service.ConfigurationDirectory': ['proxyd'],
      'Service.Restart': ['on-failure'], 'Service.KillSignal': ['SIGTERM'], 'Service.TimeoutStopSec': ['25'],
      'Service.StandardOutput': ['journal'], 'Service.StandardError': ['journal'], 'Service.LimitNOFILE': ['65536'],
      'Service.NoNewPrivileges': ['yes'], 'Service.ProtectSystem': ['strict'], 'Service.ProtectHome': ['yes'], 'Service.PrivateTmp': ['yes'],
      'Service.RestrictAddressFamilies': ['AF_UNIX AF_INET AF_INET6 AF_NETLINK'],
      'Service.UnsetEnvironment': ['HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy'],
      'Install.WantedBy': ['multi-user.target'],
    });
  });

  test('the user unit: default.target, its own runtime directory, restart, the proxy environment cleared', () => {
    const s = settings(unit('user'));
    expect(s['Service.ExecStart']).toEqual([`"${process.execPath}" "${PROXYD_JS}" --config "/home/dev/.config/proxyd/config.yaml"`]);
    expect(s).toMatchObject({
      'Service.RuntimeDirectory': ['proxyd'], 'Service.RuntimeDirectoryMode': ['0700'], 'Service.Restart': ['on-failure'],
      'Service.UnsetEnvironment': ['HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy'],
      'Install.WantedBy': ['default.target'],
    });
    expect(s['Service.User']).toBeUndefined();
  });

  test('ProtectHome is read-only when node or proxyd live in a home directory (nvm, ~/.local)', () => {
    expect(settings(unit('system', linuxHost({ node: '/home/dev/.nvm/versions/node/v20.19.0/bin/node' })))['Service.ProtectHome']).toEqual(['read-only']);
    expect(settings(unit('system', linuxHost({ proxyd: '/root/.local/lib/node_modules/proxyd/dist/proxyd.js' })))['Service.ProtectHome']).toEqual(['read-only']);
  });
});

/** `xmllint --xpath EXPR FILE`: what it printed, or the test fails with its complaint */
async function xpath(path: string, expr: string): Promise<string> {
  const r = await run('xmllint', ['--nonet', '--xpath', expr, path]);
  if (r.code !== 0) throw new Error(`xmllint --xpath ${expr}: ${r.stderr}`);
  return r.stdout.trim();
}

describe('launchd plists', () => {
  /** the plist as plistutil reads it: converted to binary and back to XML, so what follows is its reading */
  async function throughPlistutil(name: string, text: string): Promise<string> {
    const src = file(`${name}.plist`, text);
    const bin = join(dir, `${name}.bin`);
    const back = join(dir, `${name}.back.plist`);
    const toBinary = await run('plistutil', ['-i', src, '-f', 'bin', '-o', bin]);
    expect(toBinary.stdout + toBinary.stderr).toBe('');
    const toXml = await run('plistutil', ['-i', bin, '-f', 'xml', '-o', back]);
    expect(toXml.stdout + toXml.stderr).toBe('');
    return back;
  }

  test('plistutil refuses a broken plist (so a pass below means it parsed)', async () => {
    const src = file('broken.plist', '<?xml version="1.0"?>\n<plist version="1.0"><dict><key>a</key><string>x</stringg></dict></plist>\n');
    const r = await run('plistutil', ['-i', src, '-f', 'bin', '-o', join(dir, 'broken.bin')]);
    expect(r.stdout + r.stderr).toContain('Failed to convert');
  });

  for (const scope of ['user', 'system'] as const) {
    test(`the ${scope === 'user' ? 'LaunchAgent' : 'LaunchDaemon'} parses, with the keys the README names`, async () => {
      const host = hostFor('darwin');
      const layout = layoutFor(host, scope);
      const plist = await throughPlistutil(scope, renderDefinition({ host, layout, config: layout.config, stopTimeoutS: 20 }));
      const value = (key: string, tail = '') => xpath(plist, `/plist/dict/key[.='${key}']/following-sibling::*[1]${tail}`);
      expect(await value('Label', '/text()')).toBe('local.proxyd');
      expect(await value('ProgramArguments')).toBe(`<array>\n\t\t<string>${host.node}</string>\n\t\t<string>${host.proxyd}</string>\n\t\t<string>--config</string>\n\t\t<string>${layout.config}</string>\n\t</array>`);
      expect(await value('RunAtLoad')).toBe('<true/>');
      expect(await value('KeepAlive', "/key[.='SuccessfulExit']/following-sibling::*[1]")).toBe('<false/>');
      expect(await value('ExitTimeOut', '/text()')).toBe('20');
      expect(await value('StandardOutPath', '/text()')).toBe(layout.logFile);
      expect(await value('StandardErrorPath', '/text()')).toBe(layout.logFile);
      expect(await value('WorkingDirectory', '/text()')).toBe(layout.stateDir);
      expect(await xpath(plist, "/plist/dict/key[.='EnvironmentVariables']/following-sibling::*[1]/key/text()")).toBe('HTTP_PROXY\nHTTPS_PROXY\nALL_PROXY\nhttp_proxy\nhttps_proxy\nall_proxy');
      expect(await xpath(plist, "count(/plist/dict/key[.='EnvironmentVariables']/following-sibling::*[1]/string[. != ''])")).toBe('0');
      expect(layout.definition).toBe(scope === 'user' ? `${host.home}/Library/LaunchAgents/local.proxyd.plist` : '/Library/LaunchDaemons/local.proxyd.plist');
    });
  }
});

describe('the Windows service (WinSW XML)', () => {
  test('is well-formed and says what runs, as whom, how it stops and where it logs', async () => {
    const host = hostFor('windows');
    const layout = layoutFor(host, 'system');
    const xml = file('proxyd-service.xml', renderDefinition({ host, layout, config: layout.config, stopTimeoutS: 20 }));
    expect(await run('xmllint', ['--noout', '--nonet', xml])).toEqual({ code: 0, stdout: '', stderr: '' });
    const broken = await run('xmllint', ['--noout', '--nonet', file('broken.xml', '<service><id>x</service>')]);
    expect(broken.code).not.toBe(0);
    const text = (path: string) => xpath(xml, `/service/${path}/text()`);
    expect(await text('id')).toBe('proxyd');
    expect(await text('executable')).toBe('C:\\Program Files\\nodejs\\node.exe');
    expect(await text('arguments')).toBe('"C:\\Program Files\\proxyd\\node_modules\\proxyd\\dist\\proxyd.js" --config "C:\\ProgramData\\proxyd\\config.yaml"');
    expect(await xpath(xml, 'string(/service/serviceaccount/domain)')).toBe('NT AUTHORITY');
    expect(await xpath(xml, 'string(/service/serviceaccount/user)')).toBe('LocalService');
    expect(await text('startmode')).toBe('Automatic');
    expect(await text('stoptimeout')).toBe('20 sec');
    expect(await xpath(xml, 'string(/service/onfailure/@action)')).toBe('restart');
    expect(await text('logpath')).toBe('C:\\ProgramData\\proxyd\\logs');
    expect(await xpath(xml, "count(/service/env[@value=''])")).toBe('3');
    expect(await xpath(xml, 'string(/service/env[1]/@name)')).toBe('HTTP_PROXY');
  });

  test('paths are escaped for XML', async () => {
    const host: Host = { ...hostFor('windows'), node: 'C:\\Tools & <Node>\\node.exe' };
    const layout = layoutFor(host, 'system');
    const xml = file('escaped.xml', renderDefinition({ host, layout, config: layout.config, stopTimeoutS: 20 }));
    expect(await xpath(xml, 'string(/service/executable)')).toBe('C:\\Tools & <Node>\\node.exe');
  });
});

describe("the service's default config", () => {
  const embedded = readFileSync(join(import.meta.dirname, '../../rules/default.yaml'), 'utf8');
  const cases = [
    ['linux', 'system', '/run/proxyd/control.sock'],
    ['linux', 'user', 'auto'],
    ['darwin', 'system', '/var/run/proxyd/control.sock'],
    ['darwin', 'user', 'auto'],
    ['windows', 'system', '\\\\.\\pipe\\proxyd'],
  ] as const;
  for (const [platform, scope, control] of cases) {
    test(`${platform} ${scope}: the embedded default with control: ${control}, valid`, () => {
      const host = platform === 'linux' ? linuxHost() : hostFor(platform);
      const text = renderDefaultConfig(layoutFor(host, scope));
      expect(parseConfig(text, '/etc/proxyd/config.yaml').control).toBe(control);
      const body = (t: string) => t.split('\n').filter((l) => !l.startsWith('#') && !l.startsWith('control:'));
      expect(body(text)).toEqual(body(embedded));
    });
  }
});
