// The daemon as users run it: `proxyd --check`, refusing bad configs, SIGTERM drain.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Reload } from '../../src/control/api.js';
import { startHttpOrigin, type Origin } from '../fixtures/origin.js';
import { proxyctl } from '../fixtures/proxyctl.js';
import { curl, run } from '../fixtures/run.js';
import { startTlsOrigin } from '../fixtures/tls-origin.js';

const PROXYD = join(import.meta.dirname, '../../dist/proxyd.js');
const dir = mkdtempSync(join(tmpdir(), 'proxyd-cli-'));
let origin: Origin;

beforeAll(async () => {
  if (!existsSync(PROXYD)) throw new Error('dist/proxyd.js is missing: run `npm run build` (npm test does it first)');
  origin = await startHttpOrigin();
});
afterAll(() => origin.close());

function configFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

test('--check: exit 0 for a valid config, 1 with every error as FILE:LINE:COL', async () => {
  const good = await run('node', [PROXYD, '--check', '--config', configFile('good.yaml', 'rules:\n  - MATCH,DIRECT\n')]);
  expect(good.code).toBe(0);
  expect(good.stdout).toContain('good.yaml: ok (1 rules)');
  const badFile = configFile('bad.yaml', 'lisen: {}\nrules:\n  - DOMAIN-SUFFIX,github.com,overseas\n  - IP-CIDR,300.1.1.1/8,DIRECT\n');
  const bad = await run('node', [PROXYD, '--check', '--config', badFile]);
  expect(bad.code).toBe(1);
  expect(bad.stderr.split('\n').filter((l) => l.startsWith(badFile))).toEqual([
    `${badFile}:1:1 unknown key "lisen" (did you mean "listen"?)`,
    `${badFile}:3:30 unknown target "overseas" (known: DIRECT, REJECT)`,
    `${badFile}:4:13 "300.1.1.1/8" is not an IP address or CIDR`,
  ]);
});

test('the embedded default and PROXYD_CONFIG are used when --config is not given', async () => {
  const embedded = await run('node', [PROXYD, '--check'], { env: { ...process.env, PROXYD_CONFIG: '' } });
  expect(embedded.stdout).toContain('(embedded default): ok');
  const fromEnv = await run('node', [PROXYD, '--check'], { env: { ...process.env, PROXYD_CONFIG: configFile('env.yaml', 'rules: []\n') } });
  expect(fromEnv.stdout).toContain('env.yaml: ok (0 rules)');
});

test('the daemon refuses to start on a bad config or an open-proxy bind', async () => {
  const bad = await run('node', [PROXYD, '--config', configFile('bad2.yaml', 'rules:\n  - NOPE,x,DIRECT\n')]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain('bad2.yaml:2:5 unknown rule kind "NOPE"');
  expect(bad.stderr).toContain('not starting');
  const open = await run('node', [PROXYD, '--config', configFile('open.yaml', 'listen: { http: 0.0.0.0:0, socks: off }\n')]);
  expect(open.code).toBe(1);
  expect(open.stderr).toContain('0.0.0.0 is not a loopback address; set "auth" (users) or "allow" (client CIDRs)');
});

test('a port already in use is named in a one-line error, exit 1', async () => {
  const busy = createServer().listen(0, '127.0.0.1');
  await once(busy, 'listening');
  const port = (busy.address() as AddressInfo).port;
  const r = await run('node', [PROXYD, '--config', configFile('busy.yaml', `listen: { http: 127.0.0.1:${port}, socks: off }\n`)]);
  busy.close();
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(`proxyd: cannot listen on 127.0.0.1:${port} (listen.http): address already in use\n`);
});

// Every refusal the daemon's build could make (grep the build paths for `throw`) is a problem of
// the config alone: --check finds it, a start refuses it, and a reload (dry run or not) refuses
// it, each with the same FILE:LINE:COL message. (A port in use or the control socket's directory
// are not config problems: --check cannot know them.)
describe('what the daemon refuses, --check refuses, at the same FILE:LINE:COL', () => {
  const MIRROR = '  - { name: go, kind: goproxy, upstreams: [https://goproxy.example] }\n';
  let daemon: Awaited<ReturnType<typeof startProcess>>;
  let head: string;
  beforeAll(async () => {
    const control = join(mkdtempSync(join(tmpdir(), 'proxyd-ctl-')), 'run', 'control.sock');
    head = `control: ${control}\nlisten: { socks: 127.0.0.1:0, http: 127.0.0.1:0 }\n`;
    daemon = await startProcess(`${head}rules:\n  - MATCH,DIRECT\n`);
    return async () => {
      daemon.child.kill('SIGTERM');
      await once(daemon.child, 'exit');
    };
  });

  test.each([
    ['a mirror as a group member', `mirrors:\n${MIRROR}groups:\n  - { name: g, type: fallback, members: [DIRECT, go] }\n`, 'go]',
      'groups.g: member "go" is a mirror, which answers requests itself and does not carry connections (name DIRECT, a proxy or a group)'],
    ['a proxy via a mirror', `mirrors:\n${MIRROR}proxies:\n  - { name: p, type: socks5, server: 127.0.0.1:1080, via: go }\n`, 'go }',
      'proxies.p: via "go" is a mirror, which answers requests itself and does not carry connections (name DIRECT, a proxy or a group)'],
    ['a mirror via a mirror', `mirrors:\n${MIRROR}  - { name: js, kind: npm, upstreams: [https://npm.example], via: go }\n`, 'go }',
      'mirrors.js: via "go" is a mirror, which answers requests itself and does not carry connections (name DIRECT, a proxy or a group)'],
    ['a mirror whose fallback is a mirror', `mirrors:\n${MIRROR}  - { name: js, kind: npm, origins: [https://npm.example], fallback: go }\n`, 'go }',
      'mirrors.js: fallback "go" is a mirror, which answers requests itself and does not carry connections (name DIRECT, a proxy or a group)'],
    ['a proxy via a name nothing defines', 'proxies:\n  - { name: p, type: socks5, server: 127.0.0.1:1080, via: nowhere }\n', 'nowhere',
      'proxies.p: unknown proxy "nowhere" (known: DIRECT, REJECT, p)'],
    ['a proxy of a type no kind has', 'proxies:\n  - { name: p, type: sock5, server: 127.0.0.1:1080 }\n', 'sock5',
      'proxies.p: unknown type "sock5" (did you mean "socks5"?)'],
    ['two proxies via each other', 'proxies:\n  - { name: a, type: socks5, server: 127.0.0.1:1080, via: b }\n  - { name: b, type: http, server: 127.0.0.1:3128, via: a }\n', 'a }',
      'proxies.b: loop: a → b → a'],
  ])('%s', async (_name, body, at, message) => {
    const text = `${head}${body}rules:\n  - MATCH,DIRECT\n`;
    const file = configFile(`refused-${at.replace(/\W/g, '')}-${Date.now()}.yaml`, text);
    const before = text.slice(0, text.indexOf(at)).split('\n');
    const expected = [`${file}:${before.length}:${before.at(-1)!.length + 1} ${message}`];
    const problems = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith(`${file}:`));

    const checked = await run('node', [PROXYD, '--check', '--config', file]);
    expect([checked.code, problems(checked.stderr)]).toEqual([1, expected]);
    const started = await run('node', [PROXYD, '--config', file]);
    expect([started.code, problems(started.stderr)]).toEqual([1, expected]);

    writeFileSync(daemon.file, text);
    for (const args of [['reload', '--dry-run'], ['reload']]) {
      const r = await proxyctl(head.slice('control: '.length, head.indexOf('\n')), [...args, '--json']);
      const reload = Reload.parse(JSON.parse(r.stdout));
      expect([r.code, reload.ok, reload.errors.map((e) => e.text.replace(daemon.file, file))]).toEqual([1, false, expected]);
    }
    expect(daemon.child.exitCode).toBeNull();
  });
});

/** Starts proxyd on port 0 and reads the bound ports from its JSON log as the lines arrive. */
async function startProcess(yaml: string, openFiles?: number, env = process.env): Promise<{ child: ChildProcess; http: number; socks: number; file: string; out: () => string; err: () => string }> {
  const file = configFile(`p${Date.now()}.yaml`, yaml);
  const child = openFiles
    ? spawn('sh', ['-c', `ulimit -n ${openFiles} && exec node "$0" --config "$1"`, PROXYD, file], { stdio: ['ignore', 'pipe', 'pipe'], env })
    : spawn('node', [PROXYD, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c));
  const ports: Record<string, number> = {};
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`proxyd did not start within 10 s:\n${out}`)), 10_000);
    const onData = (c: Buffer) => {
      out += c;
      for (const m of out.matchAll(/"listener":"(\w+)","address":\{[^}]*"port":(\d+)/g)) ports[m[1]!] = Number(m[2]);
      if (ports.http && ports.socks) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`proxyd exited ${code}:\n${out}`)));
  });
  await started;
  return { child, http: ports.http!, socks: ports.socks!, file, out: () => out, err: () => err };
}

/** Can a TCP connection to this loopback port be made right now? */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

test('SIGTERM: stops accepting, lets open tunnels finish, closes idle keep-alive, exits 0', async () => {
  const p = await startProcess('listen: { socks: 127.0.0.1:0, http: 127.0.0.1:0 }\nlimits: { drain-timeout: 8s }\nrules:\n  - MATCH,DIRECT\n');
  // an idle keep-alive client connection, and a tunnel in the middle of a slow download
  const idle = connect(p.http, '127.0.0.1');
  idle.on('error', () => undefined);
  await once(idle, 'connect');
  idle.write(`GET http://127.0.0.1:${origin.port}/hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  await once(idle, 'data');
  const size = 4 * 1024 * 1024;
  const download = curl(['--limit-rate', '2M', '-p', '-x', `http://127.0.0.1:${p.http}`, '-o', '/dev/null', '-w', '%{size_download}', `http://127.0.0.1:${origin.port}/big?n=${size}`]);
  await expect.poll(() => origin.seen.some((s) => s.url === `/big?n=${size}`), { timeout: 5000 }).toBe(true); // the download is running
  const t0 = Date.now();
  let idleClosedAt = 0;
  idle.once('close', () => (idleClosedAt = Date.now()));
  const exited = once(p.child, 'exit');
  p.child.kill('SIGTERM');
  await expect.poll(() => p.out().includes('stopping: no new connections; open ones may finish'), { timeout: 2000 }).toBe(true);
  await expect.poll(() => accepts(p.http), { timeout: 2000 }).toBe(false); // the listener is closed
  await expect.poll(() => idleClosedAt, { timeout: 1000 }).toBeGreaterThan(0);
  expect(idleClosedAt - t0).toBeLessThan(1000);
  const done = await download;
  expect(done.stdout).toBe(String(size)); // the tunnel ran to the end
  const [code] = await exited;
  expect(code).toBe(0);
  expect(Date.now() - t0).toBeLessThan(8000);
});

test('SIGHUP: the config file is read again; a broken one is refused with its errors and the running one stays', async () => {
  const p = await startProcess('listen: { socks: 127.0.0.1:0, http: 127.0.0.1:0 }\nrules:\n  - MATCH,DIRECT\n');
  try {
    const url = `http://127.0.0.1:${origin.port}/hello`;
    const status = async () => (await curl(['-x', `http://127.0.0.1:${p.http}`, '-o', '/dev/null', '-w', '%{http_code}', url])).stdout;
    expect(await status()).toBe('200');

    writeFileSync(p.file, 'listen: { socks: 127.0.0.1:0, http: 127.0.0.1:0 }\nrules:\n  - MATCH,REJECT\n');
    p.child.kill('SIGHUP');
    await expect.poll(() => p.out().includes('config reloaded'), { timeout: 3000 }).toBe(true);
    expect(await status()).toBe('403');

    writeFileSync(p.file, 'listen: { socks: 127.0.0.1:0, http: 127.0.0.1:0 }\nrules:\n  - NOPE,x,DIRECT\n');
    p.child.kill('SIGHUP');
    await expect.poll(() => p.out().includes('reload refused: the config has errors; the running config stays'), { timeout: 3000 }).toBe(true);
    expect(p.out()).toContain(`${p.file}:3:5 unknown rule kind \\"NOPE\\"`);
    expect(p.child.exitCode).toBeNull(); // still running
    expect(await status()).toBe('403'); // on the config it had
  } finally {
    p.child.kill('SIGTERM');
    await once(p.child, 'exit');
  }
});

test('https:// forwarded to an IP address, and a health check of https://[::1]: TLS is checked against the address, and Node warns nothing (DEP0123: no IP as the TLS server name)', async () => {
  const tls = await startTlsOrigin();
  try {
    const p = await startProcess(`control: off
listen: { socks: 127.0.0.1:0, http: 127.0.0.1:0 }
groups:
  - { name: out, type: fallback, members: [DIRECT], check: { url: "https://[::1]:${tls.port}/hello", interval: 1h, failures: 1 } }
rules:
  - MATCH,out
`, undefined, { ...process.env, NODE_EXTRA_CA_CERTS: tls.certFile });
    const exited = once(p.child, 'exit');
    try {
      await expect.poll(() => /out\/DIRECT is (up|down)[^"]*/.exec(p.out())?.[0], { timeout: 5000 }).toBe('out/DIRECT is up');
      const client = connect(p.http, '127.0.0.1');
      let answer = '';
      client.on('data', (c: Buffer) => (answer += c));
      client.write(`GET https://127.0.0.1:${tls.port}/hello HTTP/1.1\r\nHost: 127.0.0.1:${tls.port}\r\nConnection: close\r\n\r\n`);
      await once(client, 'end');
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
      expect(answer).toMatch(/\r\n\r\nhello over tls$/);
    } finally {
      p.child.kill('SIGTERM');
      await exited;
    }
    expect(p.err()).not.toContain('DEP0123');
    expect(p.out()).not.toContain('DEP0123');
  } finally {
    await tls.close();
  }
});
