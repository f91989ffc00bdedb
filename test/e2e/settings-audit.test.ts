// The settings audit on crafted machines: a throwaway HOME whose git, go, npm and pip settings
// are written by the real tools (and ~/.ssh/config by hand), proxy variables in the environment,
// judged against real daemons. Each misconfiguration the audit knows is made once and found.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditSettings } from '../../src/audit/index.js';
import type { AuditFinding, SettingsAudit } from '../../src/audit/report.js';
import { SettingsAudit as AuditSchema } from '../../src/audit/report.js';
import { ControlClient } from '../../src/control/client.js';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { proxyctl } from '../fixtures/proxyctl.js';
import { run } from '../fixtures/run.js';
import { missingTools, userHome, type UserHome } from '../fixtures/user-home.js';

const missing = missingTools(['git', 'go', 'npm', 'pip', 'ssh']);
/** a port where nothing listens (the discard port, closed on test machines) */
const CLOSED = 9;

function find(audit: SettingsAudit, area: AuditFinding['area'], setting: string): AuditFinding {
  const f = audit.findings.find((x) => x.area === area && x.setting === setting);
  if (!f) throw new Error(`no finding for ${area} ${setting} in ${JSON.stringify(audit.findings.map((x) => `${x.area} ${x.setting}`))}`);
  return f;
}

describe.skipIf(missing.length)(`the settings audit${missing.length ? ` (skipped: ${missing.join(', ')} missing)` : ''}`, () => {
  let daemon: TestDaemon;
  let user: UserHome;
  const tool = (argv: string[]) => run(argv[0]!, argv.slice(1), { env: user.env, cwd: user.home }).then((r) => expect(r.code, r.stderr).toBe(0));
  const audit = async (env: NodeJS.ProcessEnv = {}) => AuditSchema.parse(await auditSettings(new ControlClient(daemon.controlPath), { env: { ...user.env, ...env }, home: user.home }));

  beforeAll(async () => {
    // github.com goes to an upstream (never dialled: the audit only asks for routes); the Go
    // mirror's one upstream refuses, and one failed check sets it down
    daemon = await startTestDaemon(`
proxies:
  - { name: overseas, type: socks5, server: 127.0.0.1:${CLOSED} }
mirrors:
  - { name: go, kind: goproxy, upstreams: [http://127.0.0.1:${CLOSED}], origins: [http://127.0.0.1:${CLOSED}], check: { failures: 1, timeout: 1s } }
  - { name: pypi, kind: pypi, upstreams: [http://127.0.0.1:${CLOSED}], origins: [http://127.0.0.1:${CLOSED}] }
rules:
  - DOMAIN-SUFFIX,git.corp.example,DIRECT
  - DOMAIN-SUFFIX,github.com,overseas
  - MATCH,DIRECT
`);
    const checked = await proxyctl(daemon.controlPath!, ['check', 'go'], process.env);
    expect(checked.stdout).toMatch(/down/);
  });
  afterAll(async () => {
    await daemon?.stop({ now: true });
  });

  it('nothing set: each tool is missing its setting, with the command that fixes it', async () => {
    user = userHome();
    const a = await audit();
    expect(find(a, 'env', 'HTTPS_PROXY / https_proxy')).toMatchObject({ status: 'missing', fix: 'eval "$(proxyctl env)"' });
    expect(find(a, 'git', 'http.proxy')).toMatchObject({ status: 'missing', fix: 'proxyctl setup git' });
    expect(find(a, 'ssh', 'github.com ProxyCommand')).toMatchObject({ status: 'missing', fix: 'proxyctl setup ssh' });
    expect(find(a, 'go', 'GOPROXY')).toMatchObject({ status: 'missing', fix: 'proxyctl setup go' });
    expect(find(a, 'go', 'GOPRIVATE').why).toContain('git.corp.example');
    expect(find(a, 'npm', 'https-proxy').status).toBe('missing');
    expect(find(a, 'pip', 'global.index-url')).toMatchObject({ status: 'missing' });
    expect(a.findings.some((f) => f.status === 'conflicting')).toBe(false);
  });

  it('every misconfiguration is conflicting, and says why', async () => {
    user = userHome();
    const http = `http://127.0.0.1:${daemon.httpPort}`;
    await tool(['git', 'config', '--global', 'http.proxy', `socks5://127.0.0.1:${daemon.socksPort}`]);
    await tool(['git', 'config', '--global', 'https.proxy', http]);
    await tool(['git', 'config', '--global', 'http.https://github.com.proxy', '']);
    await tool(['git', 'config', '--global', 'http.https://git.corp.example.proxy', '']);
    await tool(['git', 'config', '--global', 'core.sshCommand', 'ssh -F /dev/null']);
    await tool(['go', 'env', '-w', `GOPROXY=${http}/go`, 'GOSUMDB=off', 'GOFLAGS=-insecure']);
    await tool(['npm', 'config', 'set', `registry=${http}/nope/`, '--location=user']);
    await tool(['pip', 'config', '--user', 'set', 'global.index-url', `${http}/pypi/simple`]);
    await tool(['pip', 'config', '--user', 'set', 'global.proxy', http]);
    mkdirSync(join(user.home, '.ssh'));
    writeFileSync(join(user.home, '.ssh', 'config'), `Host github.com\n    ProxyCommand nc -X 5 -x 127.0.0.1:${CLOSED} %h %p\n`);
    const a = await audit({
      HTTPS_PROXY: `http://127.0.0.1:${CLOSED}`,
      https_proxy: `http://127.0.0.1:${CLOSED}`,
      HTTP_PROXY: http,
      ALL_PROXY: `socks5://127.0.0.1:${daemon.socksPort}`,
      NO_PROXY: 'github.com,localhost,127.0.0.1',
    });
    const conflicting = (area: AuditFinding['area'], setting: string, why: RegExp) => {
      const f = find(a, area, setting);
      expect(f.status, `${area} ${setting}: ${f.why}`).toBe('conflicting');
      expect(f.why).toMatch(why);
    };
    conflicting('env', 'HTTPS_PROXY / https_proxy', new RegExp(`nothing listens on 127\\.0\\.0\\.1:${CLOSED}`));
    expect(find(a, 'env', 'HTTP_PROXY / http_proxy').status).toBe('ok');
    conflicting('env', 'ALL_PROXY / all_proxy', /socks5:\/\/ resolves names on this machine.*domain rules/);
    expect(find(a, 'env', 'ALL_PROXY / all_proxy').fix).toBe(`use socks5h://127.0.0.1:${daemon.socksPort}`);
    conflicting('env', 'NO_PROXY / no_proxy', /github\.com sends github\.com around proxyd, but DOMAIN-SUFFIX,github\.com,overseas sends it to overseas/);
    conflicting('git', 'http.proxy', /socks5:\/\//);
    conflicting('git', 'https.proxy', /git has no https\.proxy/);
    conflicting('git', 'http.https://github.com.proxy', /git reaches github\.com directly, but DOMAIN-SUFFIX,github\.com,overseas sends it to overseas/);
    expect(find(a, 'git', 'http.https://git.corp.example.proxy').status).toBe('ok');
    conflicting('git', 'core.sshcommand', /another ssh config file/);
    conflicting('ssh', 'github.com ProxyCommand', /does not go through proxyd/);
    conflicting('go', 'GOPROXY', /mirror "go" is down/);
    conflicting('go', 'GOSUMDB', /GOSUMDB=off/);
    conflicting('go', 'GOFLAGS', /-insecure/);
    expect(find(a, 'go', 'GOPRIVATE').status).toBe('missing');
    conflicting('npm', 'registry', /proxyd has no npm mirror at \/nope\//);
    expect(find(a, 'pip', 'global.index-url')).toMatchObject({ status: 'ok', why: 'proxyd\'s mirror "pypi"' });
    conflicting('pip', 'global.proxy', /comes back into proxyd \(HTTP 508\)/);
  });

  it('proxyctl doctor prints the audit after the daemon\'s part, and carries it in --json as "audit"', async () => {
    user = userHome();
    const json = await proxyctl(daemon.controlPath!, ['doctor', `127.0.0.1:${CLOSED}`, '--timeout', '1', '--json'], user.env);
    const doc = JSON.parse(json.stdout) as { targets: unknown[]; audit: unknown };
    expect(doc.targets).toHaveLength(1);
    expect(find(AuditSchema.parse(doc.audit), 'git', 'http.proxy').status).toBe('missing');
    const human = await proxyctl(daemon.controlPath!, ['doctor', `127.0.0.1:${CLOSED}`, '--timeout', '1'], user.env);
    expect(human.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1:${CLOSED} [\\s\\S]*\\n\\nSETTINGS of \\S+  \\d+ ok, \\d+ missing, \\d+ conflicting\\n`));
    expect(human.stdout).toContain('fix: proxyctl setup git');
  });

  it('after setup all and proxyctl env: nothing missing or conflicting but the Go mirror that is down', async () => {
    user = userHome();
    const s = await proxyctl(daemon.controlPath!, ['setup', 'all'], user.env);
    expect(s.code, s.stderr).toBe(0);
    const env = await proxyctl(daemon.controlPath!, ['env', '--shell', 'sh'], user.env);
    const vars = Object.fromEntries([...env.stdout.matchAll(/^export (\w+)='(.*)'$/gm)].map((m) => [m[1]!, m[2]!]));
    const a = await audit(vars);
    const wrong = a.findings.filter((f) => f.status !== 'ok').map((f) => `${f.area} ${f.setting}`);
    expect(wrong).toEqual(['go GOPROXY', 'go GOSUMDB']);
  });
});

describe.skipIf(missing.length)(`the settings audit with interception${missing.length ? ' (skipped)' : ''}`, () => {
  let daemon: TestDaemon;
  let user: UserHome;

  beforeAll(async () => {
    user = userHome();
    daemon = await startTestDaemon(`
ca: { dir: ${join(user.home, 'ca')} }
mirrors:
  - { name: npm, kind: npm, upstreams: [http://127.0.0.1:${CLOSED}], origins: [https://registry.npmjs.org], intercept: true }
rules:
  - MATCH,DIRECT
`);
  });
  afterAll(async () => {
    await daemon?.stop({ now: true });
  });

  it('HTTPS_PROXY sends npm to an intercepted origin: conflicting until npm trusts the local CA', async () => {
    const client = new ControlClient(daemon.controlPath);
    const proxy = `http://127.0.0.1:${daemon.httpPort}`;
    const env = { ...user.env, HTTPS_PROXY: proxy, HTTP_PROXY: proxy, NO_PROXY: 'localhost,127.0.0.1' };
    const before = await auditSettings(client, { env, home: user.home });
    const npm = find(before, 'npm', 'trusts proxyd\'s local CA');
    expect(npm.status).toBe('conflicting');
    expect(npm.why).toMatch(/registry\.npmjs\.org goes through proxyd, which answers it with its local CA, and npm does not trust that CA/);
    expect(npm.fix).toBe('proxyctl ca trust-info');
    expect(find(before, 'env', 'HTTPS_PROXY: the system\'s roots').status).toBe('conflicting');

    const bundle = (await proxyctl(daemon.controlPath!, ['ca', 'path'], user.env)).stdout.trim();
    const after = await auditSettings(client, { env: { ...env, NODE_EXTRA_CA_CERTS: bundle, CURL_CA_BUNDLE: bundle }, home: user.home });
    const trusted = find(after, 'npm', 'trusts proxyd\'s local CA');
    expect(trusted.status).toBe('ok');
    expect(trusted.value).toContain(bundle);
    expect(find(after, 'env', 'HTTPS_PROXY: the system\'s roots').status).toBe('ok');
  });
});
