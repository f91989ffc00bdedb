// proxyctl connect and env against a real daemon: git clone over ssh from a local sshd through the
// block `proxyctl setup ssh` writes (ProxyCommand proxyctl connect %h %p; the daemon's hosts:
// sends github.com to 127.0.0.1), connect's exit code and line for a refused and a rejected
// target, and env's output sourced by sh and fish.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TUNNEL_FAILURES } from '../../src/connect/tunnel.js';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { proxyctl, PROXYCTL } from '../fixtures/proxyctl.js';
import { run } from '../fixtures/run.js';
import { installed, missingTools, userHome, type UserHome } from '../fixtures/user-home.js';

const SSHD = '/usr/sbin/sshd';
const missingSsh = missingTools(['ssh', 'ssh-keygen', 'git', SSHD]);
// fish is optional: .ci/run installs it, and CI checks it like the rest
const haveFish = process.env.CI === 'true' ? missingTools(['fish']).length === 0 : installed('fish');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('proxyctl connect and env', () => {
  let daemon: TestDaemon;
  let control: string;
  let user: UserHome;
  let sshd: ChildProcess | undefined;
  let sshdLog = '';

  beforeAll(async () => {
    // github.com is this host (sshd below); ssh.github.com an address where nothing listens, so
    // setup's probe keeps port 22; rejected.example is refused by a rule
    daemon = await startTestDaemon(`
hosts: { github.com: 127.0.0.1, ssh.github.com: 127.0.0.9 }
rules:
  - DOMAIN,rejected.example,REJECT
  - DOMAIN-SUFFIX,corp.example,DIRECT
  - MATCH,DIRECT
`);
    control = daemon.controlPath!;
    user = userHome();
  });
  afterAll(async () => {
    sshd?.kill('SIGTERM');
    await daemon?.stop({ now: true });
  });

  it('a refused target: exit 15 and one line saying so', async () => {
    const port = await freePort();
    const r = await proxyctl(control, ['connect', '127.0.0.1', String(port)], user.env);
    expect(r.code).toBe(TUNNEL_FAILURES.connectionRefused.code);
    expect(r.stderr).toBe(`proxyctl connect: 127.0.0.1:${port}: connection refused (SOCKS5 reply 0x05)\n`);
  });

  it('a target a rule rejects: exit 12 and one line saying so', async () => {
    const r = await proxyctl(control, ['connect', 'rejected.example', '22'], user.env);
    expect(r.code).toBe(TUNNEL_FAILURES.notAllowed.code);
    expect(r.stderr).toMatch(/^proxyctl connect: rejected\.example:22: not allowed: .*\(SOCKS5 reply 0x02\)\n$/);
  });

  it('no daemon: exit 3', async () => {
    const r = await proxyctl(join(user.home, 'no-such.sock'), ['connect', 'example.com', '22'], user.env);
    expect(r.code).toBe(3);
  });

  describe.skipIf(missingSsh.length)(`git clone over ssh through ProxyCommand proxyctl connect${missingSsh.length ? ` (skipped: ${missingSsh.join(', ')} missing)` : ''}`, () => {
    let sshPort: number;
    let sshConfig: string;

    beforeAll(async () => {
      const dir = join(user.home, 'sshd');
      mkdirSync(dir);
      for (const key of ['host_key', 'client_key']) {
        const k = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, key)]);
        expect(k.code, k.stderr).toBe(0);
      }
      writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')));
      const repo = join(user.home, 'repo.git');
      const work = join(user.home, 'work');
      for (const argv of [['init', '-q', '--bare', repo], ['init', '-q', work], ['-C', work, 'commit', '-q', '--allow-empty', '-m', 'over ssh'], ['-C', work, 'push', '-q', repo, 'HEAD:refs/heads/main'], ['--git-dir', repo, 'symbolic-ref', 'HEAD', 'refs/heads/main']]) {
        const g = await run('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...argv], { env: user.env });
        expect(g.code, g.stderr).toBe(0);
      }
      sshPort = await freePort();
      writeFileSync(join(dir, 'sshd_config'), [
        `Port ${sshPort}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'host_key')}`, `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`, 'StrictModes no', 'UsePAM no', 'PasswordAuthentication no',
        'KbdInteractiveAuthentication no', 'PubkeyAuthentication yes', 'PermitRootLogin prohibit-password', 'LogLevel VERBOSE', '',
      ].join('\n'));
      // sshd wants its privilege separation directory when started as root
      if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
      sshd = spawn(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
      sshd.stderr!.on('data', (d) => (sshdLog += d));
      for (let i = 0; i < 100 && !sshdLog.includes('Server listening'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(sshdLog, sshdLog).toContain('Server listening');

      const s = await proxyctl(control, ['setup', 'ssh'], user.env);
      expect(s.code, `${s.stdout}\n${s.stderr}`).toBe(0);
      expect(s.stdout).toContain('port 22');
      sshConfig = join(user.home, '.ssh', 'config');
      const hostKey = readFileSync(join(dir, 'host_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
      writeFileSync(join(user.home, '.ssh', 'known_hosts'), `[github.com]:${sshPort} ${hostKey}\n`);
      // after the block: ssh takes the first value of each option, and the block sets only ProxyCommand
      appendFileSync(sshConfig, [
        'Host github.com', `    Port ${sshPort}`, `    User ${userInfo().username}`, `    IdentityFile ${join(dir, 'client_key')}`, '    IdentitiesOnly yes',
        `    UserKnownHostsFile ${join(user.home, '.ssh', 'known_hosts')}`, '    StrictHostKeyChecking yes', '    BatchMode yes', '',
      ].join('\n'));
    });

    it('clones github.com:repo.git, the tunnel carried by proxyd', async () => {
      const env = { ...user.env, GIT_SSH_COMMAND: `ssh -F ${sshConfig}` };
      const clone = await run('git', ['clone', '-q', `github.com:${join(user.home, 'repo.git')}`, join(user.home, 'clone')], { env, timeoutMs: 45_000 });
      expect(clone.code, `${clone.stderr}\n${sshdLog}`).toBe(0);
      const log = await run('git', ['-C', join(user.home, 'clone'), 'log', '--format=%s'], { env });
      expect(log.stdout.trim()).toBe('over ssh');
      const tunnels = daemon.logs.filter((l) => String(l.target ?? '') === `github.com:${sshPort}`);
      expect(tunnels.length, JSON.stringify(daemon.logs.slice(-5))).toBeGreaterThan(0);
    });
  });

  describe('env', () => {
    const NAMES = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy', 'NO_PROXY', 'no_proxy'];
    const expected = () => {
      const http = `http://127.0.0.1:${daemon.httpPort}`;
      const noProxy = 'localhost,127.0.0.1,::1,corp.example';
      return [http, http, http, http, `socks5h://127.0.0.1:${daemon.socksPort}`, `socks5h://127.0.0.1:${daemon.socksPort}`, noProxy, noProxy];
    };
    const command = (shell: string, extra = '') => `node ${PROXYCTL} --control ${control} env --shell ${shell}${extra}`;

    it('sourced by sh, sets what it says; --unset clears it', async () => {
      const show = NAMES.map((n) => `"$${n}"`).join(' ');
      const r = await run('sh', ['-c', `eval "$(${command('sh')})" && printf '%s\\n' ${show}`], { env: user.env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split('\n')).toEqual(expected());
      const u = await run('sh', ['-c', `eval "$(${command('sh')})" && eval "$(${command('sh', ' --unset')})" && printf '[%s]' ${show}`], { env: user.env });
      expect(u.stdout).toBe('[]'.repeat(NAMES.length));
    });

    it.skipIf(!haveFish)(`sourced by fish, sets what it says; --unset clears it${haveFish ? '' : ' (skipped: fish is not installed)'}`, async () => {
      const show = NAMES.map((n) => `"$${n}"`).join(' ');
      const r = await run('fish', ['--no-config', '-c', `${command('fish')} | source; printf '%s\\n' ${show}`], { env: user.env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split('\n')).toEqual(expected());
      const u = await run('fish', ['--no-config', '-c', `${command('fish')} | source; ${command('fish', ' --unset')} | source; set -q HTTP_PROXY; or echo cleared`], { env: user.env });
      expect(u.stdout.trim()).toBe('cleared');
    });

    it('powershell and cmd: the upper-case names only, quoted for each', async () => {
      const ps = await proxyctl(control, ['env', '--shell', 'powershell'], user.env);
      expect(ps.stdout.split('\n')[0]).toBe(`$env:HTTP_PROXY = 'http://127.0.0.1:${daemon.httpPort}'`);
      const cmd = await proxyctl(control, ['env', '--shell', 'cmd'], user.env);
      expect(cmd.stdout.trim().split('\n')).toHaveLength(4);
      expect(cmd.stdout).toContain(`set "ALL_PROXY=socks5h://127.0.0.1:${daemon.socksPort}"`);
    });
  });
});
