// What the README says the installers run is what they run: install.ps1's steps and the commands
// `proxyctl service install` gives WinSW (install.ps1 cannot run here, so it is held to the
// README line by line), and install.sh's checks of Node.js.
import { chmodSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { WINSW_VERSION } from '../../src/service/layout.js';
import { proxyctl } from '../fixtures/proxyctl.js';
import { run } from '../fixtures/run.js';

const ROOT = join(import.meta.dirname, '../..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const INSTALL_PS1 = readFileSync(join(ROOT, 'install-scripts/install.ps1'), 'utf8');
const INSTALL_SH = join(ROOT, 'install-scripts/install.sh');

/** the fenced code blocks of a README section (up to the next heading of its level or above) */
function blocks(heading: string): string[][] {
  const start = README.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README has no "${heading}"`);
  const level = heading.match(/^#+/)![0].length;
  const rest = README.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`^#{1,${level}} `, 'm'));
  const section = end < 0 ? rest : rest.slice(0, end);
  return [...section.matchAll(/^```[a-z]*\n([\s\S]*?)^```$/gm)].map((m) => m[1]!.trimEnd().split('\n'));
}

describe('Windows', () => {
  test("install.ps1's commands are the README's, in the same order", () => {
    const steps = [...INSTALL_PS1.matchAll(/^\s*(?:if \(.*\) \{ )?Step (.+?)(?: \})?$/gm)].map((m) => m[1]!);
    expect(steps.length).toBeGreaterThan(5);
    expect(blocks('### Windows')).toContainEqual(steps);
  });

  test("proxyctl service install gives WinSW the commands the README names", async () => {
    const r = await proxyctl(undefined, ['service', 'install', '--dry-run', '--platform', 'windows']);
    expect(r.code).toBe(0);
    const commands = r.stdout.split('\n').filter((l) => l.startsWith('$ ')).map((l) => l.slice(2));
    expect(commands).toEqual(['C:\\ProgramData\\proxyd\\proxyd-service.exe install', 'C:\\ProgramData\\proxyd\\proxyd-service.exe start']);
    expect(blocks('### Windows')).toContainEqual(commands);
  });

  test('install.ps1 fetches the pinned WinSW the README names and checks its SHA-256', () => {
    const sha = INSTALL_PS1.match(/^\$WinSWSha256 = '([0-9A-F]{64})'$/m)?.[1];
    expect(sha).toBeDefined();
    expect(INSTALL_PS1).toContain(`$WinSWVersion = '${WINSW_VERSION}'`);
    expect(INSTALL_PS1).toContain('$WinSWUrl = "https://github.com/winsw/winsw/releases/download/v$WinSWVersion/WinSW-x64.exe"');
    expect(INSTALL_PS1).toMatch(/Get-FileHash "\$Wrapper\.download" -Algorithm SHA256\)\.Hash -ne \$WinSWSha256/);
    expect(README).toContain(`WinSW ${WINSW_VERSION}`);
    expect(README).toContain(`\`${sha!.slice(0, 8).toLowerCase()}…${sha!.slice(-4).toLowerCase()}\``);
  });
});

describe('install.sh', () => {
  /** a PATH with the tools install.sh needs before its Node check, and `node` only when given */
  function fakePath(node?: string): string {
    const bin = mkdtempSync(join(tmpdir(), 'proxyd-bin-'));
    for (const tool of ['id', 'mkdir', 'dirname', 'basename']) symlinkSync(`/usr/bin/${tool}`, join(bin, tool));
    if (node) {
      writeFileSync(join(bin, 'node'), node);
      chmodSync(join(bin, 'node'), 0o755);
    }
    return bin;
  }

  test('is valid sh and explains its options', async () => {
    expect(await run('sh', ['-n', INSTALL_SH])).toEqual({ code: 0, stdout: '', stderr: '' });
    const help = await run('sh', [INSTALL_SH, '--help']);
    expect(help.code).toBe(0);
    for (const option of ['--prefix DIR', '--user', '--system', '--config FILE', '--no-service', '--no-build', '--uninstall']) expect(help.stdout).toContain(option);
  });

  test('says plainly when Node.js is missing or too old, before touching anything', async () => {
    const prefix = join(mkdtempSync(join(tmpdir(), 'proxyd-prefix-')), 'p');
    const missing = await run('/bin/sh', [INSTALL_SH, '--prefix', prefix], { env: { PATH: fakePath(), HOME: tmpdir() } });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('install.sh: Node.js 20.19 or newer is needed and was not found: install it (https://nodejs.org, or your package manager), then run this again\n');
    // a node that says it is 20.18.1 (and fails the version check, as that one would)
    const old = await run('/bin/sh', [INSTALL_SH, '--prefix', prefix], {
      env: { PATH: fakePath('#!/bin/sh\n[ "$1" = --version ] && echo v20.18.1 && exit 0\nexit 1\n'), HOME: tmpdir() },
    });
    expect(old.code).toBe(1);
    expect(old.stderr).toBe('install.sh: Node.js v20.18.1 is too old: proxyd needs 20.19 or newer\n');
  });
});

test('the README shows proxyctl service as the command line has it', async () => {
  const r = await proxyctl(undefined, ['service', '--help']);
  for (const verb of ['install', 'uninstall', 'start', 'stop', 'status']) expect(r.stdout).toMatch(new RegExp(`^  ${verb} `, 'm'));
  expect(README).toContain('`proxyctl service install | uninstall | start | stop | status [--user | --system]\n[--dry-run] [--platform linux|darwin|windows] [--root DIR]`');
});
