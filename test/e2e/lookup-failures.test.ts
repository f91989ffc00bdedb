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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { RouteExplanation } from '../../src/control/api.js';
import { ownDnsUnavailable, startOwnDnsDaemon, type OwnDnsDaemon } from '../fixtures/daemon-own-dns.js';
import { A, REFUSED, SERVFAIL, startDnsServer, type DnsServer } from '../fixtures/dns-server.js';
import { proxyctl, proxyctlJson } from '../fixtures/proxyctl.js';

/** not hostile-dns.test.ts's 127.0.0.153: the two files may run at the same time */
const DNS_ADDRESS = '127.0.0.154';
const NOBODY_ADDRESS = '127.0.0.155';
const dir = mkdtempSync(join(tmpdir(), 'proxyd-lookup-failures-'));

const RULES = ['IP-CIDR,10.0.0.0/8,REJECT', 'MATCH,DIRECT'];

let skipReason: string | undefined;
let dns: DnsServer;
/** asks our DNS server */
let asking: OwnDnsDaemon;
/** asks an address where no DNS server listens */
let nobody: OwnDnsDaemon;
const daemons: OwnDnsDaemon[] = [];

/** A proxyd that asks `nameserver` only (one try, a one-second timeout), stopped after the file. */
async function startProxyd(name: string, nameserver: string): Promise<OwnDnsDaemon> {
  const d = await startOwnDnsDaemon(dir, name, { nameserver, attempts: 1 }, RULES);
  daemons.push(d);
  return d;
}

beforeAll(async () => {
  skipReason = await ownDnsUnavailable('lookup-failures.test.ts');
  if (skipReason) return;
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
  await Promise.all(daemons.map((d) => d.stop()));
  await dns?.close();
  rmSync(dir, { recursive: true, force: true });
});

const route = (d: OwnDnsDaemon, host: string) => proxyctlJson(d.control, ['route', host], RouteExplanation);

/** The `addresses:` line of `proxyctl route HOST` as a person reads it. */
async function addressesLine(d: OwnDnsDaemon, host: string): Promise<string> {
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
