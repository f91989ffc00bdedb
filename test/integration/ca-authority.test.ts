// The local CA (src/ca) with real verifiers: `openssl verify` and Go's crypto/x509 accept the leaves
// it serves and refuse what its key signs outside its name constraints: another name, a subdomain
// of an origin, an IP address. Also its files (0700, 0600), reuse across opens, and a new CA when
// the configured names grow.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type SecureContext } from 'node:tls';
import { beforeAll, describe, expect, test } from 'vitest';
import { openAuthority, type Authority } from '../../src/ca/index.js';
import { capturingLogger } from '../fixtures/logger.js';
import { run } from '../fixtures/run.js';

const CI = process.env.CI === 'true';
const HAVE = { openssl: has('openssl', ['version']), go: has('go', ['version']) };
const work = mkdtempSync(join(tmpdir(), 'proxyd-ca-'));
const NAMES = ['proxy.golang.org', 'pypi.org', 'files.pythonhosted.org'];
let goVerify: string;

function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  for (const [tool, ok] of Object.entries(HAVE)) {
    if (!ok && CI) throw new Error(`${tool} is missing; in CI these tests may not be skipped (.ci/run installs it)`);
  }
  if (HAVE.go && HAVE.openssl) {
    goVerify = join(work, 'go-x509-verify');
    // built once: GOCACHE in the work directory, so nothing outside it is needed
    const built = await run('go', ['build', '-o', goVerify, join(import.meta.dirname, '../fixtures/go-x509-verify/main.go')], { cwd: work, env: { ...process.env, GOCACHE: join(work, 'gocache'), GO111MODULE: 'off' }, timeoutMs: 120_000 });
    if (built.code !== 0) throw new Error(`go build: ${built.stderr}`);
  }
});

/** the certificate chain a TLS client is served for SNI `name` with this context, as PEM (leaf first) */
async function servedChain(context: SecureContext, name: string): Promise<string[]> {
  const server = createServer({ SNICallback: (_n, cb) => cb(null, context) });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const socket = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port, servername: name, rejectUnauthorized: false });
    await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    const chain: string[] = [];
    for (let c = socket.getPeerCertificate(true); c?.raw && !chain.includes(pem(c.raw)); c = c.issuerCertificate) chain.push(pem(c.raw));
    socket.destroy();
    return chain;
  } finally {
    server.close();
  }
}

function pem(der: Buffer): string {
  return new X509Certificate(der).toString();
}

/** what openssl and Go say of `leaf` for `name` against `roots`: 'ok' or their error */
async function verdicts(roots: string, leaf: string, name: string): Promise<{ openssl: string; go: string }> {
  const leafFile = join(work, `leaf-${name}.pem`);
  writeFileSync(leafFile, leaf);
  const o = await run('openssl', ['verify', '-CAfile', roots, leafFile]);
  const g = await run(goVerify, [roots, leafFile, name]);
  return { openssl: o.code === 0 ? 'ok' : `${o.stdout}${o.stderr}`, go: g.code === 0 ? 'ok' : g.stdout.trim() };
}

/** a leaf for `san` (DNS:x or IP:x) signed with the CA's own key by openssl, as an attacker holding the key would */
function signWithCaKey(caCert: string, caKey: string, san: string): string {
  const base = join(work, san.replace(/\W/g, '_'));
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-subj', '/CN=x', '-out', `${base}.csr`], { stdio: 'ignore' });
  writeFileSync(`${base}.ext`, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  execFileSync('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', caCert, '-CAkey', caKey, '-set_serial', '7', '-days', '2', '-extfile', `${base}.ext`, '-out', `${base}.pem`], { stdio: 'ignore' });
  return readFileSync(`${base}.pem`, 'utf8');
}

// both verifiers or neither: a verdict is never assumed (in CI a missing one fails beforeAll)
describe.skipIf(!(HAVE.openssl && HAVE.go) && !CI)('the local CA', () => {
  const dir = join(work, 'state', 'proxyd', 'ca');
  const { log, lines } = capturingLogger();
  let ca: Authority;

  beforeAll(async () => {
    ca = await openAuthority({ dir, names: NAMES, log });
  });

  test('made on first need, in a 0700 directory, its key 0600 and whole; the certificate says what it may sign', () => {
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const keys = readdirSync(dir).filter((f) => f.endsWith('.key'));
    expect(keys).toHaveLength(1);
    expect(statSync(join(dir, keys[0]!)).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
    const report = ca.report();
    expect(report.cas).toHaveLength(1);
    const [only] = report.cas;
    expect(only!.names).toEqual([...NAMES].sort());
    expect(only!.mustTrust).toBe(false);
    expect(readFileSync(report.bundle, 'utf8')).toBe(ca.bundlePem());
    const text = execFileSync('openssl', ['x509', '-in', only!.path, '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
    expect(text).toMatch(/X509v3 Name Constraints: critical\s+Permitted:\s+DNS:files.pythonhosted.org\s+DNS:proxy.golang.org\s+DNS:pypi.org\s+Excluded:\s+DNS:.files.pythonhosted.org\s+DNS:.proxy.golang.org\s+DNS:.pypi.org\s+IP:0.0.0.0\/0.0.0.0\s+IP:0:0:0:0:0:0:0:0\/0:0:0:0:0:0:0:0\n/);
    expect(text).toContain('Subject: O = proxyd, CN = proxyd local CA for');
    expect(lines.some((l) => String(l.msg).startsWith('made the local CA') && String(l.msg).includes('proxyctl ca trust-info'))).toBe(true);
  });

  test('a leaf it serves is accepted by openssl and Go: SAN the name, serverAuth only, short-lived; cached', async () => {
    const context = await ca.contextFor('proxy.golang.org');
    expect(context).toBeDefined();
    expect(await ca.contextFor('PROXY.golang.org.')).toBe(context);
    const [leaf, issuer] = await servedChain(context!, 'proxy.golang.org');
    expect(issuer).toBe(ca.report().cas[0]!.pem);
    const x = new X509Certificate(leaf!);
    expect(x.subjectAltName).toBe('DNS:proxy.golang.org');
    expect(x.ca).toBe(false);
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(new Date(x.validTo).getTime() - Date.now()).toBeLessThanOrEqual(7 * 86_400_000);
    expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(await verdicts(ca.report().bundle, leaf!, 'proxy.golang.org')).toEqual({ openssl: 'ok', go: 'ok' });
  });

  test('no leaf for an IP address, a name not configured, or a subdomain of one', async () => {
    for (const name of ['127.0.0.1', '::1', 'example.com', 'upload.pypi.org', 'golang.org']) expect(await ca.contextFor(name), name).toBeUndefined();
  });

  test('what its key signs outside the constraints is refused by openssl and Go: another name, a subdomain, an IP address', async () => {
    const [only] = ca.report().cas;
    const key = join(dir, `${only!.path.split('/').pop()!.replace(/\.pem$/, '')}.key`);
    const cases: Array<[string, string, RegExp, RegExp]> = [
      ['DNS:evil.example.com', 'evil.example.com', /permitted subtree violation/, /not permitted by any constraint/],
      ['DNS:upload.pypi.org', 'upload.pypi.org', /excluded subtree violation/, /excluded by constraint "\.pypi\.org"/],
      ['IP:127.0.0.1', '127.0.0.1', /excluded subtree violation/, /IP address "127\.0\.0\.1" is excluded by constraint "0\.0\.0\.0\/0"/],
      ['IP:::1', '::1', /excluded subtree violation/, /IP address "::1" is excluded by constraint "::\/0"/],
    ];
    for (const [san, name, openssl, go] of cases) {
      const v = await verdicts(only!.path, signWithCaKey(only!.path, key, san), name);
      expect(v.openssl, san).toMatch(openssl);
      expect(v.go, san).toMatch(go);
    }
    // the same key and command for a permitted name: the refusals are the constraints' doing
    expect(await verdicts(only!.path, signWithCaKey(only!.path, key, 'DNS:pypi.org'), 'pypi.org')).toEqual({ openssl: 'ok', go: 'ok' });
  });

  test('opened again, the same CA is used: no new key', async () => {
    const again = await openAuthority({ dir, names: [...NAMES].reverse(), log });
    expect(again.report().cas.map((c) => c.fingerprint)).toEqual(ca.report().cas.map((c) => c.fingerprint));
    expect(readdirSync(dir).filter((f) => f.endsWith('.key'))).toHaveLength(1);
    expect(await again.update(NAMES)).toEqual({ renewed: false });
  });

  test('names beyond its constraints make a new CA, logged as one to trust again; the old one keeps serving its names', async () => {
    const old = ca.report().cas[0]!;
    expect(await ca.update([...NAMES, 'registry.npmjs.org'])).toEqual({ renewed: true });
    const report = ca.report();
    expect(report.cas).toHaveLength(2);
    const [fresh, kept] = report.cas;
    expect(kept!.fingerprint).toBe(old.fingerprint);
    expect(kept!.serves).toEqual([...NAMES].sort());
    expect(kept!.mustTrust).toBe(false);
    expect(fresh!.names).toEqual([...NAMES, 'registry.npmjs.org'].sort());
    expect(fresh!.serves).toEqual(['registry.npmjs.org']);
    expect(fresh!.mustTrust).toBe(true);
    expect(ca.bundlePem()).toBe(fresh!.pem + kept!.pem);
    expect(readFileSync(report.bundle, 'utf8')).toBe(ca.bundlePem());
    expect(lines.some((l) => l.level === 40 && /made a new local CA .* for registry\.npmjs\.org: it must be trusted again/.test(String(l.msg)))).toBe(true);
    const [npmLeaf, npmIssuer] = await servedChain((await ca.contextFor('registry.npmjs.org'))!, 'registry.npmjs.org');
    expect(npmIssuer).toBe(fresh!.pem);
    expect(await verdicts(report.bundle, npmLeaf!, 'registry.npmjs.org')).toEqual({ openssl: 'ok', go: 'ok' });
    const [, pypiIssuer] = await servedChain((await ca.contextFor('pypi.org'))!, 'pypi.org');
    expect(pypiIssuer).toBe(kept!.pem);
  });

  test('leaves are made anew shortly before they expire; an expired CA is removed and a new one made', async () => {
    let now = new Date();
    const d = join(work, 'clock');
    const timed = await openAuthority({ dir: d, names: ['pypi.org'], log, now: () => now });
    const first = await timed.contextFor('pypi.org');
    now = new Date(now.getTime() + 5 * 86_400_000);
    expect(await timed.contextFor('pypi.org')).toBe(first);
    now = new Date(now.getTime() + 1.5 * 86_400_000);
    expect(await timed.contextFor('pypi.org')).not.toBe(first);
    const oldKey = readdirSync(d).find((f) => f.endsWith('.key'))!;
    now = new Date(now.getTime() + 3 * 365 * 86_400_000);
    const later = await openAuthority({ dir: d, names: ['pypi.org'], log, now: () => now });
    expect(existsSync(join(d, oldKey))).toBe(false);
    expect(later.report().cas).toHaveLength(1);
    expect(new Date(later.report().cas[0]!.notAfter).getTime()).toBeGreaterThan(now.getTime());
  });
});
