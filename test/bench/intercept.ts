// Interception's figures: the time to make the local CA and to issue a leaf for a first SNI
// name (in process, the library the daemon uses); TLS handshakes per second through proxyd's
// interception (CONNECT, then a handshake with a leaf of its CA) against nginx terminating TLS
// itself with a key of the same type (ECDSA P-256); and a 100 MB cached artifact downloaded
// through interception (curl over CONNECT, TLS to proxyd) against the same file from the
// plain-HTTP mirror endpoint.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as tcp } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { Daemon, findBinary, freePort, runCommand, waitForPort } from './proc.ts';
import { median } from './report.ts';
import { fmt, table } from './report.ts';

export interface InterceptFigures {
  caMs: number;
  leafMs: number;
  handshakes: { proxyd: number; nginx: number };
  MBps: { intercepted: number; plain: number };
}

const BIG = 100 * 1024 * 1024;
const HANDSHAKE_SECONDS = 5;
const CONCURRENCY = 8;

export async function interceptBench(tmp: string, repoRoot: string, rounds: number): Promise<InterceptFigures> {
  const nginx = findBinary('nginx');
  if (!nginx) throw new Error('nginx is not installed (apt-get install nginx): it is the TLS server interception is measured against');
  const { caMs, leafMs } = await caTimes(tmp, repoRoot);

  // nginx: the files, and TLS with an ECDSA P-256 certificate of its own
  const www = join(tmp, 'www', 'packages');
  mkdirSync(www, { recursive: true });
  writeFileSync(join(www, 'big-1.0.tar.gz'), randomBytes(BIG));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=pypi.org',
    '-addext', 'subjectAltName=DNS:pypi.org', '-keyout', join(tmp, 'nginx.key'), '-out', join(tmp, 'nginx.pem')], { stdio: 'ignore' });
  const [plainPort, tlsPort, http] = [await freePort(), await freePort(), await freePort()];
  const t = (name: string) => `${name}_temp_path ${join(tmp, name)};`;
  writeFileSync(join(tmp, 'nginx.conf'), `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
pid ${join(tmp, 'nginx.pid')};
error_log ${join(tmp, 'nginx-error.log')} warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off; sendfile on; keepalive_requests 10000000;
  ${t('client_body')} ${t('proxy')} ${t('fastcgi')} ${t('uwsgi')} ${t('scgi')}
  server { listen 127.0.0.1:${plainPort}; root ${join(tmp, 'www')}; }
  server { listen 127.0.0.1:${tlsPort} ssl; ssl_certificate ${join(tmp, 'nginx.pem')}; ssl_certificate_key ${join(tmp, 'nginx.key')}; ssl_session_cache off; ssl_session_tickets off; root ${join(tmp, 'www')}; }
}
`);
  const web = new Daemon('nginx-tls', nginx, ['-p', tmp, '-e', join(tmp, 'nginx-error.log'), '-c', join(tmp, 'nginx.conf')]);
  await waitForPort(tlsPort, web);
  const conf = join(tmp, 'proxyd-intercept.yaml');
  writeFileSync(conf, `listen: { socks: off, http: 127.0.0.1:${http} }
control: ${JSON.stringify(join(tmp, 'control', 'control.sock'))}
log: { level: warn }
hosts: { pypi.org: 127.0.0.1 }
ca: { dir: ${JSON.stringify(join(tmp, 'ca'))} }
mirrors:
  - { name: pypi, kind: pypi, path: /pypi, upstreams: ['http://127.0.0.1:${plainPort}'], origins: [https://pypi.org], intercept: true, check: { interval: 1h } }
cache: { dir: ${JSON.stringify(join(tmp, 'cache'))}, max-size: 1GiB }
`);
  const proxyd = new Daemon('proxyd-intercept', process.execPath, [join(repoRoot, 'dist', 'proxyd.js'), '--config', conf], repoRoot);
  await waitForPort(http, proxyd);
  try {
    const ca = readFileSync(join(tmp, 'ca', 'ca.pem'));
    const handshakes = { proxyd: [] as number[], nginx: [] as number[] };
    const MBps = { intercepted: [] as number[], plain: [] as number[] };
    const intercepted = ['--cacert', join(tmp, 'ca', 'ca.pem'), '-x', `http://127.0.0.1:${http}`, 'https://pypi.org/packages/big-1.0.tar.gz'];
    const plain = [`http://127.0.0.1:${http}/pypi/packages/big-1.0.tar.gz`];
    await download(plain); // into the cache
    for (let r = 0; r < rounds; r++) {
      handshakes.nginx.push(await handshakeRate(() => tlsConnect({ host: '127.0.0.1', port: tlsPort, servername: 'pypi.org', rejectUnauthorized: false })));
      handshakes.proxyd.push(await handshakeRate(async () => {
        const s = tcp(http, '127.0.0.1');
        s.on('error', () => undefined);
        await once(s, 'connect', { signal: AbortSignal.timeout(5_000) });
        s.write('CONNECT pypi.org:443 HTTP/1.1\r\nHost: pypi.org:443\r\n\r\n');
        await once(s, 'data', { signal: AbortSignal.timeout(5_000) });
        return tlsConnect({ socket: s, servername: 'pypi.org', ca });
      }));
      MBps.intercepted.push(await download(intercepted));
      MBps.plain.push(await download(plain));
    }
    return {
      caMs, leafMs,
      handshakes: { proxyd: Math.round(median(handshakes.proxyd)), nginx: Math.round(median(handshakes.nginx)) },
      MBps: { intercepted: Math.round(median(MBps.intercepted)), plain: Math.round(median(MBps.plain)) },
    };
  } finally {
    await proxyd.stop();
    await web.stop();
  }
}

/** The library's own times, medians of 20: a CA made in a fresh directory, and a first leaf. */
async function caTimes(tmp: string, repoRoot: string): Promise<{ caMs: number; leafMs: number }> {
  const { openAuthority } = (await import(join(repoRoot, 'dist', 'ca', 'index.js'))) as typeof import('../../src/ca/index.ts');
  const { pino } = await import('pino');
  const log = pino({ level: 'silent' });
  const ca: number[] = [];
  const leaf: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    const authority = await openAuthority({ dir: mkdtempSync(join(tmp, 'ca-')), names: ['pypi.org', 'proxy.golang.org'], log });
    const t1 = performance.now();
    await authority.contextFor('pypi.org');
    ca.push(t1 - t0);
    leaf.push(performance.now() - t1);
  }
  return { caMs: median(ca), leafMs: median(leaf) };
}

/** completed TLS handshakes per second, CONCURRENCY at a time, for HANDSHAKE_SECONDS */
async function handshakeRate(open: () => ReturnType<typeof tlsConnect> | Promise<ReturnType<typeof tlsConnect>>): Promise<number> {
  const until = performance.now() + HANDSHAKE_SECONDS * 1000;
  let done = 0;
  let failed = 0;
  let lastError = '';
  const worker = async () => {
    while (performance.now() < until) {
      try {
        const s = await open();
        s.on('error', () => undefined);
        await once(s, 'secureConnect', { signal: AbortSignal.timeout(5_000) });
        done++;
        s.destroy();
      } catch (err) {
        failed++;
        lastError = (err as Error).message;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  if (failed > done / 100) throw new Error(`${failed} of ${done + failed} handshakes failed (the last: ${lastError})`);
  return done / ((performance.now() - t0) / 1000);
}

async function download(args: string[]): Promise<number> {
  const { code, out } = await runCommand('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{speed_download}', ...args], 120_000);
  const [status, speed] = out.trim().split(' ');
  if (code !== 0 || status !== '200') throw new Error(`curl ${args.join(' ')}: exit ${code}, ${out.trim()}`);
  return Number(speed) / 1e6;
}

export function renderIntercept(f: InterceptFigures | { error: string }): string {
  const title = 'Interception (a pypi mirror with intercept: true; nginx with an ECDSA P-256 certificate of its own)';
  if ('error' in f) return `${title}\n  not available: ${f.error}`;
  return `${title}\n${table(['', 'proxyd', 'nginx / plain', 'ratio', ''], [
    ['make the CA (key, certificate, 3 files fsynced), ms', fmt(f.caMs), '', '', ''],
    ['a leaf for a first SNI name, ms', fmt(f.leafMs), '', '', ''],
    [`TLS handshakes/s, ${CONCURRENCY} at a time (proxyd: CONNECT + handshake)`, fmt(f.handshakes.proxyd), fmt(f.handshakes.nginx), `${(f.handshakes.proxyd / f.handshakes.nginx).toFixed(2)}x`, ''],
    ['100 MB cached artifact, MB/s (intercepted vs the plain-HTTP endpoint)', fmt(f.MBps.intercepted), fmt(f.MBps.plain), `${(f.MBps.intercepted / f.MBps.plain).toFixed(2)}x`, ''],
  ])}`;
}

// `npx tsx test/bench/intercept.ts [--rounds N]`: this section alone
if (import.meta.url === `file://${process.argv[1]}`) {
  const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 3;
  const root = join(import.meta.dirname, '..', '..');
  interceptBench(mkdtempSync(join((await import('node:os')).tmpdir(), 'proxyd-bench-intercept-')), root, rounds)
    .catch((e: Error) => ({ error: e.stack ?? e.message }))
    .then((f) => console.log(renderIntercept(f)))
    .finally(() => process.exit(0));
}
