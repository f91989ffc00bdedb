// install-scripts/install.sh end to end, as a user would run it on a fresh machine: build, npm
// pack, a global install into a temporary prefix, `proxyctl service install`; then the installed
// proxyctl talks to the daemon that install started, a second run upgrades it in place, and
// --uninstall leaves no process and no file behind. Without a running systemd (CI containers)
// the daemon is the background process; with one, the unit really starts.
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Status } from '../../src/control/api.js';
import { findAccount } from '../../src/service/files.js';
import { fileTree } from '../fixtures/file-tree.js';
import { startHttpOrigin, type Origin } from '../fixtures/origin.js';
import { descendants, running, type Proc } from '../fixtures/proc-tree.js';
import { PROXYCTL } from '../fixtures/proxyctl.js';
import { curl, run, type RunResult } from '../fixtures/run.js';

const CHECKOUT = join(import.meta.dirname, '../..');
const INSTALL_TIMEOUT_MS = 300_000;
// world-readable, so that the system service's own account can read the package installed here
const work = mkdtempSync(join(tmpdir(), 'proxyd-install-'));
chmodSync(work, 0o755);

/** systemctl is-system-running answers when systemd runs the machine ("offline" in a container) */
const systemState = spawnSync('systemctl', ['is-system-running'], { encoding: 'utf8' }).stdout?.trim() || 'no answer';
const systemdUp = ['running', 'degraded', 'starting', 'initializing', 'maintenance'].includes(systemState);

/** a user's shell: no npm_* variables of `npm test`, the proxy variables of nobody */
function shellEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_|_proxy$|^XDG_/i.test(k)) env[k] = v;
  return { ...env, npm_config_cache: process.env.npm_config_cache || join(homedir(), '.npm'), NO_COLOR: '1', ...extra };
}

/** a copy of the checkout as a user clones it (no node_modules); `built` brings the dist/ npm test built */
function sourceCopy(name: string, built: boolean): string {
  const dir = join(work, name);
  for (const entry of ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'rules', 'service', 'install-scripts', ...(built ? ['dist'] : [])]) {
    cpSync(join(CHECKOUT, entry), join(dir, entry), { recursive: true });
  }
  return dir;
}

function configFile(name: string, control: string): string {
  const file = join(work, name);
  writeFileSync(file, `listen: { socks: 127.0.0.1:0, http: 127.0.0.1:0 }\ncontrol: ${control}\nrules:\n  - MATCH,DIRECT\n`, { mode: 0o644 });
  return file;
}

function installSh(source: string, args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return run('sh', [join(source, 'install-scripts/install.sh'), ...args], { env, timeoutMs: INSTALL_TIMEOUT_MS });
}

async function statusOf(proxyctl: string, env: NodeJS.ProcessEnv, as: string[] = []): Promise<Status> {
  const r = await run(as.length ? 'setpriv' : proxyctl, [...as, ...(as.length ? [proxyctl] : []), 'status', '--json'], { env });
  if (r.code !== 0) throw new Error(`proxyctl status exited ${r.code}: ${r.stderr}`);
  return Status.parse(JSON.parse(r.stdout));
}

function proc(pid: number): Proc {
  const p = descendants(1).find((d) => d.pid === pid);
  if (!p) throw new Error(`no process ${pid}`);
  return p;
}

let origin: Origin;
beforeAll(async () => {
  origin = await startHttpOrigin();
});
afterAll(() => origin.close());

describe('a user service, through install.sh from a fresh copy of the checkout', () => {
  const source = sourceCopy('user-src', false);
  const prefix = join(work, 'user-prefix');
  const home = join(work, 'home');
  const runtime = join(work, 'run');
  mkdirSync(home);
  mkdirSync(runtime, { mode: 0o700 });
  const env = shellEnv({ HOME: home, XDG_RUNTIME_DIR: runtime });
  const proxyctl = join(prefix, 'bin/proxyctl');
  const config = configFile('user.yaml', 'auto');
  const args = ['--user', '--prefix', prefix, '--config', config];
  const homeBefore = fileTree(home);

  afterAll(async () => {
    await installSh(source, ['--uninstall', ...args.slice(0, 3)], env); // whatever a failed test left running
  });

  test('installs, starts the daemon, and the installed proxyctl reaches it; it proxies', { timeout: INSTALL_TIMEOUT_MS }, async () => {
    const r = await installSh(source, args, env);
    expect(r.stderr).not.toMatch(/install\.sh:|proxyctl:/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`installed proxyd and proxyctl in ${prefix}/bin`);
    expect(r.stdout).toContain('systemd is not running here (no systemd user manager): proxyd runs as a background process and will NOT start at boot');
    const status = await statusOf(proxyctl, env);
    expect(status.configFile).toBe(config);
    expect(status.control).toBe(join(runtime, 'proxyd/control.sock'));
    expect(readFileSync(join(home, '.local/state/proxyd/proxyd.pid'), 'utf8')).toBe(`${status.pid}\n`);
    expect(proc(status.pid).cmdline).toBe(`${process.execPath} ${prefix}/lib/node_modules/proxyd/dist/proxyd.js --config ${config}`);
    const http = status.listeners.find((l) => l.name === 'http')!.address;
    const got = await curl(['-x', `http://${http}`, `http://127.0.0.1:${origin.port}/hello`]);
    expect(got.code).toBe(0);
    expect(got.stdout).toBe('hello from origin');
  });

  test('a second run upgrades in place: a new daemon, the old one gone', { timeout: INSTALL_TIMEOUT_MS }, async () => {
    const old = proc((await statusOf(proxyctl, env)).pid);
    const r = await installSh(source, [...args, '--no-build'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`stop the background daemon (pid ${old.pid})`);
    const now = await statusOf(proxyctl, env);
    expect(now.pid).not.toBe(old.pid);
    expect(running(old)).toBe(false);
  });

  test('service stop, status and start work on the background daemon', async () => {
    const daemon = proc((await statusOf(proxyctl, env)).pid);
    expect((await run(proxyctl, ['service', 'stop'], { env })).code).toBe(0);
    expect(running(daemon)).toBe(false);
    const stopped = await run(proxyctl, ['service', 'status'], { env });
    expect(stopped.code).toBe(3);
    expect(stopped.stdout).toContain('service  user service; background process (no systemd user manager here, so not started at boot): not running');
    expect((await run(proxyctl, ['service', 'start'], { env })).code).toBe(0);
    const started = await run(proxyctl, ['service', 'status', '--json'], { env });
    expect(started.code).toBe(0);
    expect(JSON.parse(started.stdout)).toMatchObject({ platform: 'linux', scope: 'user', installed: true, daemon: { configFile: config } });
  });

  test('--uninstall stops it and leaves no process, and the home directory as it was', { timeout: INSTALL_TIMEOUT_MS }, async () => {
    const daemon = proc((await statusOf(proxyctl, env)).pid);
    const r = await installSh(source, ['--uninstall', ...args.slice(0, 3)], env);
    expect(r.code).toBe(0);
    expect(running(daemon)).toBe(false);
    expect(fileTree(home)).toEqual(homeBefore);
    expect(fileTree(runtime)).toEqual({});
    expect(existsSync(proxyctl)).toBe(false);
    expect(existsSync(join(prefix, 'lib/node_modules/proxyd'))).toBe(false);
    expect(readFileSync(config, 'utf8')).toContain('MATCH,DIRECT'); // the --config file is the user's
  });
});

test('a daemon that cannot start fails the install with the end of its log; uninstall still cleans up', async () => {
  const busy = createServer().listen(0, '127.0.0.1');
  await once(busy, 'listening');
  const port = (busy.address() as AddressInfo).port;
  const home = mkdtempSync(join(work, 'busy-home-'));
  const runtime = mkdtempSync(join(work, 'busy-run-'));
  const env = shellEnv({ HOME: home, XDG_RUNTIME_DIR: runtime });
  const config = join(work, 'busy.yaml');
  writeFileSync(config, `listen: { socks: off, http: 127.0.0.1:${port} }\nrules:\n  - MATCH,DIRECT\n`);
  try {
    const r = await run('node', [PROXYCTL, 'service', 'install', '--user', '--config', config], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`proxyctl: proxyd did not come up (exit 1); the end of ${home}/.local/state/proxyd/log/proxyd.log:\n  proxyd: cannot listen on 127.0.0.1:${port} (listen.http): address already in use\n`);
    expect((await run('node', [PROXYCTL, 'service', 'uninstall', '--user'], { env })).code).toBe(0);
    expect(fileTree(home)).toEqual({});
    expect(fileTree(runtime)).toEqual({});
  } finally {
    busy.close();
  }
});

describe('the system service, through install.sh as root', () => {
  const source = sourceCopy('system-src', true);
  const prefix = join(work, 'system-prefix');
  const env = shellEnv({ SUDO_USER: 'nobody' });
  const proxyctl = join(prefix, 'bin/proxyctl');
  const config = configFile('system.yaml', '/run/proxyd/control.sock');
  const args = ['--system', '--prefix', prefix];
  const accounts = () => ['passwd', 'group', 'shadow', 'gshadow'].map((f) => readFileSync(`/etc/${f}`, 'utf8'));
  let before: { accounts: string[]; units: Record<string, string> };

  beforeAll(() => {
    expect(process.getuid?.(), 'this test creates a system user: run it as root, as CI does').toBe(0);
    expect(findAccount('passwd', 'proxyd') ?? findAccount('group', 'proxyd'), 'a proxyd user or group exists already on this machine').toBeUndefined();
    before = { accounts: accounts(), units: fileTree('/etc/systemd/system') };
  });
  afterAll(async () => {
    await installSh(source, ['--uninstall', ...args], env); // whatever a failed test left running
  });

  test.skipIf(systemdUp)(
    `without a running systemd (systemctl is-system-running: ${systemState}): a background daemon as user proxyd, its socket for the group proxyd, and uninstall takes all of it away`,
    { timeout: INSTALL_TIMEOUT_MS },
    async () => {
      const r = await installSh(source, [...args, '--no-build', '--config', config], env);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('$ groupadd --system proxyd\n');
      expect(r.stdout).toContain('$ usermod --append --groups proxyd nobody\n');
      expect(r.stdout).toContain('systemd is not running here (no /run/systemd/system): proxyd runs as a background process and will NOT start at boot');
      const pid = Number(readFileSync('/run/proxyd.pid', 'utf8'));
      const daemon = proc(pid);
      const uid = findAccount('passwd', 'proxyd')!.id;
      const gid = findAccount('group', 'proxyd')!.id;
      const procStatus = readFileSync(`/proc/${pid}/status`, 'utf8');
      expect(procStatus).toMatch(new RegExp(`^Uid:\\t${uid}\\t${uid}\\t`, 'm'));
      expect(procStatus).toMatch(/^Groups:\s*$/m); // root's supplementary groups dropped
      expect(statSync('/run/proxyd/control.sock').gid).toBe(gid);
      expect(statSync('/run/proxyd/control.sock').mode & 0o777).toBe(0o660);
      expect(statSync('/run/proxyd').mode & 0o777).toBe(0o755); // others reach the read-only status.sock; control.sock is 0660
      expect(statSync('/run/proxyd/status.sock').mode & 0o777).toBe(0o666);
      // nobody was added to the group: a fresh login (--init-groups) reaches the daemon
      const nobody = shellEnv({ HOME: '/nonexistent' });
      expect((await statusOf(proxyctl, nobody, ['--reuid=nobody', '--regid=nogroup', '--init-groups'])).pid).toBe(pid);
      // anyone else reads the reports on the read-only socket, and is refused the rest
      const outsiderAs = ['--reuid=nobody', '--regid=nogroup', '--clear-groups'];
      expect((await statusOf(proxyctl, nobody, outsiderAs)).pid).toBe(pid);
      const outsider = await run('setpriv', [...outsiderAs, proxyctl, 'reload'], { env: nobody });
      expect(outsider.code).toBe(4);
      expect(outsider.stderr).toContain('join the group "proxyd"');
      const service = await run(proxyctl, ['service', 'status'], { env });
      expect(service.code).toBe(0);
      expect(service.stdout).toContain(`running, pid ${pid}`);

      const removed = await installSh(source, ['--uninstall', ...args], env);
      expect(removed.code).toBe(0);
      expect(running(daemon)).toBe(false);
      expect(accounts()).toEqual(before.accounts);
      expect(fileTree('/etc/systemd/system')).toEqual(before.units);
      for (const dir of ['/run/proxyd', '/var/lib/proxyd', '/var/log/proxyd']) expect(existsSync(dir)).toBe(false);
    },
  );

  test.skipIf(!systemdUp)(
    systemdUp ? 'with systemd running: the unit really starts, answers, and stops on uninstall' : `the unit under a running systemd: skipped, systemd does not run here (systemctl is-system-running: ${systemState})`,
    { timeout: INSTALL_TIMEOUT_MS },
    async () => {
      const r = await installSh(source, [...args, '--no-build', '--config', config], env);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('$ systemctl restart proxyd.service\n');
      expect((await run('systemctl', ['is-active', 'proxyd.service'])).stdout).toBe('active\n');
      expect((await run('systemctl', ['is-enabled', 'proxyd.service'])).stdout).toBe('enabled\n');
      const pid = (await statusOf(proxyctl, env)).pid;
      expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(new RegExp(`^Uid:\\t${findAccount('passwd', 'proxyd')!.id}\\t`, 'm'));
      expect(statSync('/run/proxyd/control.sock').mode & 0o777).toBe(0o660);
      const removed = await installSh(source, ['--uninstall', ...args], env);
      expect(removed.code).toBe(0);
      expect(existsSync(`/proc/${pid}`)).toBe(false);
      expect(accounts()).toEqual(before.accounts);
      expect(existsSync('/etc/systemd/system/proxyd.service')).toBe(false);
    },
  );
});
