// `proxyctl ca` against a real daemon whose mirrors intercept: path, show, export, trust-info from
// the daemon's GET /ca; `trust --system` and `untrust --system` under --root, with the real
// update-ca-certificates run on that tree (--sysroot) to show the file is taken and then gone.
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Config } from '../../src/config/index.js';
import { CaReport, Status } from '../../src/control/api.js';
import { configFrom, startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { proxyctl, proxyctlJson } from '../fixtures/proxyctl.js';

const CI = process.env.CI === 'true';
const UPDATE_CA = '/usr/sbin/update-ca-certificates';
const work = mkdtempSync(join(tmpdir(), 'proxyd-ctl-ca-'));
const caDir = join(work, 'ca');

const mirrors = (origins: string[]) => `ca: { dir: ${caDir} }
mirrors:
  - { name: go, kind: goproxy, upstreams: [http://127.0.0.1:9/], origins: [${origins.join(', ')}] }
rules:
  - MATCH,DIRECT
`;
/** `intercept: true` is refused in config files until interception is built: set on the parsed config */
const intercepting = (c: Config): Config => ({ ...c, outbounds: c.outbounds.map((d) => (d.name === 'go' ? { ...d, intercept: true } : d)) });

let daemon: TestDaemon;
let control: string;
beforeAll(async () => {
  daemon = await startTestDaemon(mirrors(['https://proxy.golang.org']), {}, intercepting);
  control = daemon.controlPath!;
});
afterAll(() => daemon?.stop({ now: true }));

test('path, show and export give the CA the daemon serves with', async () => {
  const report = await proxyctlJson(control, ['ca', 'show'], CaReport);
  expect(report.cas).toHaveLength(1);
  expect(report.cas[0]!.names).toEqual(['proxy.golang.org']);
  const path = await proxyctl(control, ['ca', 'path']);
  expect(path.stdout).toBe(`${join(caDir, 'ca.pem')}\n`);
  expect(readFileSync(path.stdout.trim(), 'utf8')).toBe(report.cas[0]!.pem);

  const show = await proxyctl(control, ['ca', 'show']);
  expect(show.code).toBe(0);
  expect(show.stdout).toContain('may sign     proxy.golang.org (not their subdomains, no IP address)');
  expect(show.stdout).toContain(`SHA-256      ${report.cas[0]!.fingerprint}`);
  expect(show.stdout).toMatch(/valid {8}\d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d/);

  expect((await proxyctl(control, ['ca', 'export'])).stdout).toBe(report.cas[0]!.pem);
  const der = join(work, 'ca.der');
  expect((await proxyctl(control, ['ca', 'export', '--format', 'der', '--out', der])).code).toBe(0);
  expect(readFileSync(der).equals(new X509Certificate(report.cas[0]!.pem).raw)).toBe(true);
  const combined = join(work, 'nested', 'bundle.pem');
  expect((await proxyctl(control, ['ca', 'export', '--combined', '--out', combined])).stdout).toBe(`wrote ${combined}\n`);
  const text = readFileSync(combined, 'utf8');
  expect(text.endsWith(report.cas[0]!.pem)).toBe(true);
  expect(text.match(/BEGIN CERTIFICATE/g)!.length).toBeGreaterThan(10);
  expect((await proxyctl(control, ['ca', 'export', '--combined', '--format', 'der'])).code).toBe(1);
});

test('trust-info gives the exact setting per tool, adding to (not replacing) what a tool trusts', async () => {
  const report = await proxyctlJson(control, ['ca', 'show'], CaReport);
  const data = join(work, 'data');
  const r = await proxyctl(control, ['ca', 'trust-info'], { ...process.env, XDG_DATA_HOME: data });
  expect(r.code).toBe(0);
  const bundle = join(data, 'proxyd', 'ca-bundle.pem');
  for (const line of [
    `export SSL_CERT_DIR=/etc/ssl/certs:${report.certsDir}`,
    `export NODE_EXTRA_CA_CERTS=${report.bundle}`,
    `npm config set cafile ${bundle}`,
    `export PIP_CERT=${bundle}   or   pip config set global.cert ${bundle}`,
    `export GIT_SSL_CAINFO=${bundle}`,
    `export CURL_CA_BUNDLE=${bundle}`,
    `write it: proxyctl ca export --combined --out ${bundle}`,
    `sudo proxyctl --control ${control} ca trust --system`,
    `sudo cp ${report.cas[0]!.path} /usr/local/share/ca-certificates/proxyd/proxyd-ca-`,
    '&& sudo update-ca-trust extract',
    'sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain',
    `certutil -addstore Root ${report.cas[0]!.path}`,
  ]) expect(r.stdout, line).toContain(line);
  // certsDir holds certificates only: Go may read every file in it
  expect(readdirSync(report.certsDir).every((f) => f.endsWith('.pem'))).toBe(true);
});

test('a reload with a new intercepted origin makes a new CA, and proxyctl status says to trust it', async () => {
  const before = (await proxyctlJson(control, ['ca', 'show'], CaReport)).cas[0]!;
  await daemon.reload(configFrom(`control: ${control}\n${mirrors(['https://proxy.golang.org', 'https://sum.golang.org'])}`, intercepting));
  const after = await proxyctlJson(control, ['ca', 'show'], CaReport);
  expect(after.cas.map((c) => [c.serves, c.mustTrust])).toEqual([[['sum.golang.org'], true], [['proxy.golang.org'], false]]);
  expect(after.cas[1]!.fingerprint).toBe(before.fingerprint);
  const status = await proxyctl(control, ['status']);
  expect(status.stdout).toMatch(/^ca {7}2 in use, until \d{4}-\d\d-\d\d \(.*ca\.pem\)\n {9}new CA for sum\.golang\.org since \d{4}-\d\d-\d\d: trust it too \(proxyctl ca trust-info\)$/m);
  expect((await proxyctlJson(control, ['status'], Status)).ca?.cas).toHaveLength(2);
  expect(daemon.logs.some((l) => l.level === 40 && String(l.msg).includes('it must be trusted again'))).toBe(true);
});

test('no daemon: exit 3; a daemon without an intercepting mirror: exit 1 saying so', async () => {
  const none = await proxyctl(join(work, 'nothing.sock'), ['ca', 'show']);
  expect(none.code).toBe(3);
  const plain = await startTestDaemon();
  try {
    const r = await proxyctl(plain.controlPath!, ['ca', 'path']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no local CA: no mirror has intercept: true');
  } finally {
    await plain.stop({ now: true });
  }
});

/** every path under `dir` with its kind and content, to compare a tree before and after */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      out[p.slice(dir.length)] = st.isDirectory() ? `dir ${st.mode.toString(8)}` : st.isSymbolicLink() ? 'link' : createHash('sha256').update(readFileSync(p)).digest('hex');
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

describe.skipIf(!existsSync(UPDATE_CA) && !CI)('the system store, under --root', () => {
  test('trust --system then untrust --system leaves the tree as it was; update-ca-certificates takes the CA in between', async () => {
    const root = join(work, 'root');
    // a Debian tree with one other local CA, so that update-ca-certificates always writes its bundle
    mkdirSync(join(root, 'etc', 'ssl', 'certs'), { recursive: true });
    mkdirSync(join(root, 'usr', 'local', 'share', 'ca-certificates'), { recursive: true });
    writeFileSync(join(root, 'etc', 'ca-certificates.conf'), '');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(work, 'other.key'), '-subj', '/CN=other', '-days', '2', '-out', join(root, 'usr', 'local', 'share', 'ca-certificates', 'other.crt')], { stdio: 'ignore' });
    const updateCa = (...args: string[]) => execFileSync(UPDATE_CA, ['--sysroot', root, ...args], { encoding: 'utf8' });
    updateCa();
    const bundleFile = join(root, 'etc', 'ssl', 'certs', 'ca-certificates.crt');
    const before = snapshot(root);
    const ours = (await proxyctlJson(control, ['ca', 'show'], CaReport)).cas;

    expect((await proxyctl(control, ['ca', 'trust'])).code).toBe(1); // only with --system
    const dry = await proxyctl(control, ['ca', 'trust', '--system', '--dry-run', '--root', root, '--distro', 'debian']);
    expect(dry.code).toBe(0);
    expect(snapshot(root)).toEqual(before);

    const trust = async () => {
      const r = await proxyctl(control, ['ca', 'trust', '--system', '--root', root, '--distro', 'debian']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('not run under --root: update-ca-certificates');
    };
    const untrust = async () => {
      const r = await proxyctl(undefined, ['ca', 'untrust', '--system', '--root', root]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('not run under --root: update-ca-certificates --fresh');
    };
    await trust();
    expect(readdirSync(join(root, 'usr', 'local', 'share', 'ca-certificates', 'proxyd'))).toHaveLength(ours.length);
    expect(existsSync(join(root, 'etc', 'proxyd', 'ca-trust.json'))).toBe(true);
    expect((await proxyctl(control, ['ca', 'trust', '--system', '--root', root, '--distro', 'debian'])).stdout).toContain('already trusts');
    await untrust();
    expect(snapshot(root)).toEqual(before);

    // with the real tool in between: the CA is in the system bundle, then out of it
    await trust();
    updateCa();
    for (const ca of ours) expect(readFileSync(bundleFile, 'utf8')).toContain(ca.pem.trim());
    await untrust();
    updateCa('--fresh');
    expect(readFileSync(bundleFile, 'utf8')).toBe(readFileSync(join(root, 'usr', 'local', 'share', 'ca-certificates', 'other.crt'), 'utf8'));
    // openssl rehash's own hash links aside, the tree is as it was
    const outsideHashes = (t: Record<string, string>) => Object.fromEntries(Object.entries(t).filter(([p]) => !/^\/etc\/ssl\/certs\/[0-9a-f]{8}\.\d$/.test(p)));
    expect(outsideHashes(snapshot(root))).toEqual(outsideHashes(before));
    expect((await proxyctl(undefined, ['ca', 'untrust', '--system', '--root', root])).stdout).toContain('nothing to undo');
  });

  test('Fedora\'s anchors, and macOS and Windows shown as commands', async () => {
    const root = join(work, 'fedora');
    mkdirSync(root);
    const trusted = await proxyctl(control, ['ca', 'trust', '--system', '--root', root, '--distro', 'fedora']);
    expect(trusted.code, trusted.stderr).toBe(0);
    expect(readdirSync(join(root, 'etc', 'pki', 'ca-trust', 'source', 'anchors'))[0]).toMatch(/^proxyd-ca-[0-9a-f]{16}\.pem$/);
    expect(trusted.stdout).toContain('not run under --root: update-ca-trust extract');
    expect((await proxyctl(undefined, ['ca', 'untrust', '--system', '--root', root])).code).toBe(0);
    expect(readdirSync(root)).toEqual([]);
    const mac = await proxyctl(control, ['ca', 'trust', '--system', '--dry-run', '--platform', 'darwin']);
    expect(mac.stdout).toMatch(/\$ security add-trusted-cert -d -r trustRoot -k \/Library\/Keychains\/System\.keychain '\/Library\/Application Support\/proxyd\/ca-trust\/proxyd-ca-[0-9a-f]{16}\.pem'/);
    const win = await proxyctl(control, ['ca', 'trust', '--system', '--dry-run', '--platform', 'windows']);
    expect(win.stdout).toMatch(/\$ certutil -addstore Root C:\\ProgramData\\proxyd\\ca-trust\\proxyd-ca-[0-9a-f]{16}\.crt/);
  });
});

test('untrust needs no daemon', async () => {
  const r = await proxyctl(join(work, 'none.sock'), ['ca', 'untrust', '--system', '--root', join(work, 'empty')]);
  expect(r.stdout).toContain('nothing to undo');
});
