// A name that does not resolve is not one answer: `proxyctl route` tells NXDOMAIN, a name with no
// address, a DNS server that timed out, one that refused and one that failed (SERVFAIL) apart
// (issue 17, item 8), through the REAL system resolver path (getaddrinfo) of a real proxyd.
//
// As in hostile-dns.test.ts, each proxyd runs in a private mount namespace (`unshare -m`) whose
// /etc/resolv.conf, /etc/hosts and /etc/nsswitch.conf are bind mounts of files written here:
//   - one asks the DNS server of test/fixtures/dns-server.ts on 127.0.0.154:53, which answers
//     NXDOMAIN, NOERROR without records, SERVFAIL, REFUSED, or nothing at all, by name;
//   - one asks 127.0.0.155:53, where nothing listens (the kernel answers "port unreachable").
// The rules need the name's addresses (an IP-CIDR rule before MATCH), so `proxyctl route` looks it up.
//
// Needs root (port 53, mounts). Outside CI the file is skipped when `unshare -m` is not allowed.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { RouteExplanation } from '../../src/control/api.js';
import { A, REFUSED, SERVFAIL, startDnsServer, type DnsServer } from '../fixtures/dns-server.js';
import { proxyctl, proxyctlJson } from '../fixtures/proxyctl.js';
import { run } from '../fixtures/run.js';

const PROXYD = join(import.meta.dirname, '../../dist/proxyd.js');
/** not hostile-dns.test.ts's 127.0.0.153: the two files may run at the same time */
const DNS_ADDRESS = '127.0.0.154';
const NOBODY_ADDRESS = '127.0.0.155';
const dir = mkdtempSync(join(tmpdir(), 'proxyd-lookup-failures-'));

const RULES = ['IP-CIDR,10.0.0.0/8,REJECT', 'MATCH,DIRECT'];

let skipReason: string | undefined;
let dns: DnsServer;
/** asks our DNS server */
let asking: Daemon;
/** asks an address where no DNS server listens */
let nobody: Daemon;
const children: ChildProcess[] = [];

interface Daemon {
  control: string;
  out: () => string;
}

beforeAll(async () => {
  if (!existsSync(PROXYD)) throw new Error('dist/proxyd.js is missing: run `npm run build` (npm test does it first)');
  const probe = await run('unshare', ['-m', 'true']).catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message }));
  if (probe.code !== 0) {
    const why = `\`unshare -m true\` is not permitted here (exit ${probe.code}: ${probe.stderr.trim()}); these tests need a private mount namespace (root)`;
    if (process.env.CI === 'true') throw new Error(`${why}; in CI they may not be skipped`);
    skipReason = `lookup-failures.test.ts skipped: ${why}`;
    console.warn(skipReason);
    return;
  }
  dns = await startDnsServer((name, qtype) => {
    switch (name) {
      case 'corp.test': return qtype === A ? ['10.1.2.3'] : [];
      case 'empty.test': return []; // the name exists, with no A or AAAA record
      case 'servfail.test': return { rcode: SERVFAIL };
      case 'refused.test': return { rcode: REFUSED };
      case 'silent.test': return { silent: true };
      default: return undefined; // NXDOMAIN
    }
  }, { address: DNS_ADDRESS });
  [asking, nobody] = await Promise.all([startProxyd('asking', DNS_ADDRESS), startProxyd('nobody', NOBODY_ADDRESS)]);
});

beforeEach((ctx) => {
  if (skipReason) ctx.skip(skipReason);
});

afterAll(async () => {
  await Promise.all(children.map(stopChild));
  await dns?.close();
  rmSync(dir, { recursive: true, force: true });
});

const route = (d: Daemon, host: string) => proxyctlJson(d.control, ['route', host], RouteExplanation);

/** The `addresses:` line of `proxyctl route HOST` as a person reads it. */
async function addressesLine(d: Daemon, host: string): Promise<string> {
  const r = await proxyctl(d.control, ['route', host]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split('\n').find((l) => l.startsWith('  addresses:')) ?? `(no addresses line in:\n${r.stdout})`;
}

test('a name that resolves: its addresses, and no lookup failure', async () => {
  const e = await route(asking, 'corp.test');
  expect(e).toMatchObject({ route: 'REJECT', rule: 'IP-CIDR,10.0.0.0/8,REJECT', resolved: ['10.1.2.3'] });
  expect(e.lookup).toBeUndefined();
});

test('NXDOMAIN: the name does not exist', async () => {
  const e = await route(asking, 'nx.test');
  expect(e).toMatchObject({ route: 'DIRECT', rule: 'MATCH,DIRECT', resolved: [], addresses: [] });
  expect(e.lookup).toEqual({ outcome: 'nxdomain', reason: 'nx.test does not exist (NXDOMAIN)' });
  expect(await addressesLine(asking, 'nx.test')).toBe('  addresses: none, lookup failed (nxdomain): nx.test does not exist (NXDOMAIN)');
});

test('NOERROR without records: the name exists but has no address', async () => {
  const e = await route(asking, 'empty.test');
  expect(e.lookup).toEqual({ outcome: 'no-address', reason: 'empty.test has no address (no A or AAAA record)' });
});

test('a DNS server that does not answer: timeout, after the resolver\'s own timeout', async () => {
  const e = await route(asking, 'silent.test');
  expect(e).toMatchObject({ route: 'DIRECT', resolved: [] });
  expect(e.lookup?.outcome).toBe('timeout');
  expect(e.lookup?.reason).toMatch(/^the DNS server \(127\.0\.0\.154\) did not answer for silent\.test in time \(EAI_AGAIN after \d+\.\d s\)$/);
  expect(dns.count('silent.test', A)).toBeGreaterThan(0); // it was asked, and kept quiet
  expect(await addressesLine(asking, 'silent.test')).toMatch(/^ {2}addresses: none, lookup failed \(timeout\): the DNS server \(127\.0\.0\.154\) did not answer for silent\.test in time/);
});

test('a DNS server that answers REFUSED: refused', async () => {
  const e = await route(asking, 'refused.test');
  expect(e.lookup).toEqual({ outcome: 'refused', reason: 'the DNS server (127.0.0.154) refused to look up refused.test (REFUSED)' });
});

test('a DNS server that answers SERVFAIL: servfail', async () => {
  const e = await route(asking, 'servfail.test');
  expect(e.lookup).toEqual({ outcome: 'servfail', reason: 'the DNS server (127.0.0.154) failed to look up servfail.test (SERVFAIL)' });
  expect(await addressesLine(asking, 'servfail.test')).toBe(
    '  addresses: none, lookup failed (servfail): the DNS server (127.0.0.154) failed to look up servfail.test (SERVFAIL)');
});

test('no DNS server listening at the configured address: refused (connection refused)', async () => {
  const e = await route(nobody, 'anything.test');
  expect(e).toMatchObject({ route: 'DIRECT', resolved: [] });
  expect(e.lookup).toEqual({ outcome: 'refused', reason: 'nothing answers DNS at 127.0.0.155 (connection refused): anything.test could not be looked up' });
  expect(await addressesLine(nobody, 'anything.test')).toBe(
    '  addresses: none, lookup failed (refused): nothing answers DNS at 127.0.0.155 (connection refused): anything.test could not be looked up');
});

// ---- helpers -------------------------------------------------------------------------------------

/**
 * A proxyd whose getaddrinfo asks `nameserver` only (one try, a one-second timeout): a private mount
 * namespace with resolv.conf, hosts and nsswitch.conf bind-mounted from files written here.
 */
async function startProxyd(name: string, nameserver: string): Promise<Daemon> {
  const file = (base: string, text: string) => {
    const path = join(dir, `${name}-${base}`);
    writeFileSync(path, text);
    return path;
  };
  const resolv = file('resolv.conf', `nameserver ${nameserver}\noptions timeout:1 attempts:1\n`);
  const hosts = file('hosts', '127.0.0.1 localhost\n::1 localhost\n');
  const nsswitch = file('nsswitch.conf', 'hosts: files dns\n');
  const control = join(dir, `${name}-control`, 'control.sock');
  const config = file('config.yaml', [
    'listen: { socks: 127.0.0.1:0, http: 127.0.0.1:0 }',
    `control: ${control}`,
    'log: { level: info }',
    'limits: { drain-timeout: 1s }',
    'rules:',
    ...RULES.map((r) => `  - ${r}`),
    '',
  ].join('\n'));
  const script = 'mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts && mount --bind "$3" /etc/nsswitch.conf && exec "$4" "$5" --config "$6"';
  const child = spawn('unshare', ['-m', '--', 'sh', '-c', script, 'sh', resolv, hosts, nsswitch, process.execPath, PROXYD, config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`proxyd (${name}) did not start within 10 s:\n${out}`)), 10_000);
    const onExit = (code: number | null, signal: string | null) => {
      clearTimeout(timer);
      reject(new Error(`proxyd (${name}) exited (${code ?? signal}) before it started:\n${out}`));
    };
    child.once('exit', onExit);
    const onData = (c: Buffer) => {
      out += c;
      if (!/"msg":"proxyd /.test(out)) return;
      clearTimeout(timer);
      child.removeListener('exit', onExit);
      resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  });
  return { control, out: () => out };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
