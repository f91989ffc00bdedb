// Hostile DNS answers cannot get around the routing rules, through the REAL system resolver
// path (getaddrinfo) of a real proxyd process.
//
// Each proxyd runs in a private mount namespace (`unshare -m`) whose /etc/resolv.conf,
// /etc/hosts and /etc/nsswitch.conf are bind mounts of files written here, so its lookups go
// to the DNS server of test/fixtures/dns-server.ts on 127.0.0.153:53 and nowhere else. Two
// HTTP origins share one port number: the good one on 127.0.0.1 and the forbidden one on
// 127.0.0.2, which records every connection it accepts; the forbidden one also listens on a
// second port where 127.0.0.1 has no listener at all. Clients are real curl runs through the
// HTTP listener (absolute-URI GET and CONNECT) and the SOCKS5 listener (remote resolution).
//
//   a. IPv4-mapped IPv6 from DNS (AAAA ::ffff:127.0.0.2) is matched as 127.0.0.2 by IP rules.
//   b. DNS rebinding: the address the rules checked is the one dialled; no second lookup.
//   c. One allowed address does not let the connection go to the name's other addresses.
//
// Needs root (port 53, mounts). Outside CI the file is skipped when `unshare -m` is not allowed.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { ownDnsUnavailable, startOwnDnsDaemon, type OwnDnsDaemon } from '../fixtures/daemon-own-dns.js';
import { A, AAAA, startDnsServer, type DnsServer } from '../fixtures/dns-server.js';
import { startHttpOrigin, type Origin } from '../fixtures/origin.js';
import { curl, type RunResult } from '../fixtures/run.js';

const DNS_ADDRESS = '127.0.0.153';
const dir = mkdtempSync(join(tmpdir(), 'proxyd-hostile-dns-'));

/** What the DNS server answers, by name (A and AAAA); `nth` counts queries per name and type from 1. */
function dnsAnswer(name: string, qtype: number, nth: number): string[] | undefined {
  if (name === 'mapped.test') return qtype === AAAA ? ['::ffff:127.0.0.2'] : []; // no A record at all
  if (/^rebind(-\w+)?\.test$/.test(name)) return qtype === A ? [nth === 1 ? '127.0.0.1' : '127.0.0.2'] : [];
  if (name === 'both.test') return qtype === A ? ['127.0.0.1', '127.0.0.2'] : [];
  return undefined;
}

const DENY_RULES = ['IP-CIDR,127.0.0.2/32,REJECT', 'MATCH,DIRECT'];
const ALLOW_RULES = ['IP-CIDR,127.0.0.1/32,DIRECT', 'MATCH,REJECT'];

interface Forbidden {
  /** the port 127.0.0.1 (the good origin) shares */
  sharedPort: number;
  /** a port where only 127.0.0.2 listens */
  lonePort: number;
  connections: Array<{ port: number; from: string }>;
  close(): Promise<void>;
}

let skipReason: string | undefined;
let dns: DnsServer;
let good: Origin;
let forbidden: Forbidden;
let deny: OwnDnsDaemon;
let allow: OwnDnsDaemon;
const daemons: OwnDnsDaemon[] = [];

/** A proxyd that asks only our DNS server, stopped after the file. */
async function startProxyd(name: string, rules: string[]): Promise<OwnDnsDaemon> {
  const d = await startOwnDnsDaemon(dir, name, { nameserver: DNS_ADDRESS, attempts: 2 }, rules);
  daemons.push(d);
  return d;
}

beforeAll(async () => {
  skipReason = await ownDnsUnavailable('hostile-dns.test.ts');
  if (skipReason) return;
  dns = await startDnsServer(dnsAnswer, { address: DNS_ADDRESS });
  [good, forbidden] = await startOrigins();
  [deny, allow] = await Promise.all([startProxyd('deny', DENY_RULES), startProxyd('allow', ALLOW_RULES)]);
});

beforeEach((ctx) => {
  if (skipReason) ctx.skip(skipReason);
});

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  await Promise.all([dns?.close(), good?.close(), forbidden?.close()]);
  rmSync(dir, { recursive: true, force: true }); // the namespaces holding its bind mounts ended with the processes
});

// ---- a. IPv4-mapped IPv6 answers ---------------------------------------------------------------

test('a: GET for a name whose only address is AAAA ::ffff:127.0.0.2 is refused 403 by the 127.0.0.2 REJECT rule, origin untouched', async () => {
  const seen = forbiddenWatch();
  const port = forbidden.sharedPort;
  const r = await httpGet(deny, `http://mapped.test:${port}/hello`);
  expect(r.status).toBe(403);
  const line = await logLine(deny, `mapped.test:${port}`, 'http', 'forward');
  expect(line).toMatchObject({ route: 'REJECT', rule: 'IP-CIDR,127.0.0.2/32,REJECT', error: 'rejected' });
  expect(seen()).toEqual([]);
});

test('a: CONNECT to a name whose only address is AAAA ::ffff:127.0.0.2 is refused 403 by the 127.0.0.2 REJECT rule, origin untouched', async () => {
  const seen = forbiddenWatch();
  const port = forbidden.sharedPort;
  const r = await httpConnect(deny, `http://mapped.test:${port}/hello`);
  expect(r.connectStatus).toBe(403);
  expect(r.code).not.toBe(0);
  const line = await logLine(deny, `mapped.test:${port}`, 'http', 'tunnel');
  expect(line).toMatchObject({ route: 'REJECT', rule: 'IP-CIDR,127.0.0.2/32,REJECT', error: 'rejected' });
  expect(seen()).toEqual([]);
});

test('a: SOCKS5 (remote resolution) to a name whose only address is AAAA ::ffff:127.0.0.2 gets reply 0x02 from the REJECT rule, origin untouched', async () => {
  const seen = forbiddenWatch();
  const port = forbidden.sharedPort;
  const r = await socksGet(deny, `http://mapped.test:${port}/hello`);
  expect(r.code).toBe(97);
  expect(r.stderr).toContain('(2)');
  const line = await logLine(deny, `mapped.test:${port}`, 'socks5', 'tunnel');
  expect(line).toMatchObject({ route: 'REJECT', rule: 'IP-CIDR,127.0.0.2/32,REJECT', error: 'rejected' });
  expect(seen()).toEqual([]);
});

// ---- b. DNS rebinding between the rule check and the dial -------------------------------------

test('b: GET for a rebinding name reaches the 127.0.0.1 address the allow rule checked, with one A lookup; 127.0.0.2 untouched', async () => {
  const seen = forbiddenWatch();
  const port = forbidden.sharedPort;
  const r = await httpGet(allow, `http://rebind.test:${port}/hello`);
  expect(r).toMatchObject({ status: 200, body: 'hello from origin' });
  expect(dns.count('rebind.test', A)).toBe(1);
  const line = await logLine(allow, `rebind.test:${port}`, 'http', 'forward');
  expect(line).toMatchObject({ route: 'DIRECT', rule: 'IP-CIDR,127.0.0.1/32,DIRECT' });
  expect(line.error).toBeUndefined();
  expect(dns.count('rebind.test', A)).toBe(1);
  expect(seen()).toEqual([]);
});

test('b: CONNECT to a rebinding name reaches the 127.0.0.1 address the allow rule checked, with one A lookup; 127.0.0.2 untouched', async () => {
  const seen = forbiddenWatch();
  const port = forbidden.sharedPort;
  const r = await httpConnect(allow, `http://rebind-connect.test:${port}/hello`);
  expect(r).toMatchObject({ code: 0, connectStatus: 200, status: 200, body: 'hello from origin' });
  expect(dns.count('rebind-connect.test', A)).toBe(1);
  const line = await logLine(allow, `rebind-connect.test:${port}`, 'http', 'tunnel');
  expect(line).toMatchObject({ route: 'DIRECT', rule: 'IP-CIDR,127.0.0.1/32,DIRECT' });
  expect(line.error).toBeUndefined();
  expect(dns.count('rebind-connect.test', A)).toBe(1);
  expect(seen()).toEqual([]);
});

test('b: SOCKS5 to a rebinding name reaches the 127.0.0.1 address the allow rule checked, with one A lookup; 127.0.0.2 untouched', async () => {
  const seen = forbiddenWatch();
  const port = forbidden.sharedPort;
  const r = await socksGet(allow, `http://rebind-socks.test:${port}/hello`);
  expect(r).toMatchObject({ code: 0, status: 200, body: 'hello from origin' });
  expect(dns.count('rebind-socks.test', A)).toBe(1);
  const line = await logLine(allow, `rebind-socks.test:${port}`, 'socks5', 'tunnel');
  expect(line).toMatchObject({ route: 'DIRECT', rule: 'IP-CIDR,127.0.0.1/32,DIRECT' });
  expect(line.error).toBeUndefined();
  expect(dns.count('rebind-socks.test', A)).toBe(1);
  expect(seen()).toEqual([]);
});

// ---- c. one allowed address among several ------------------------------------------------------

test('c: GET for a name with A 127.0.0.1 + 127.0.0.2 dials only the allowed 127.0.0.1: refused there, 502, never 127.0.0.2', async () => {
  const seen = forbiddenWatch();
  const port = forbidden.lonePort;
  expect(await refused('127.0.0.1', port)).toBe(true);
  const r = await httpGet(allow, `http://both.test:${port}/hello`);
  expect(r.status).toBe(502);
  const line = await logLine(allow, `both.test:${port}`, 'http', 'forward');
  expect(line).toMatchObject({ route: 'DIRECT', rule: 'IP-CIDR,127.0.0.1/32,DIRECT', error: 'refused' });
  expect(seen()).toEqual([]);
});

test('c: CONNECT to a name with A 127.0.0.1 + 127.0.0.2 dials only the allowed 127.0.0.1: refused there, 502, never 127.0.0.2', async () => {
  const seen = forbiddenWatch();
  const port = forbidden.lonePort;
  expect(await refused('127.0.0.1', port)).toBe(true);
  const r = await httpConnect(allow, `http://both.test:${port}/hello`);
  expect(r.connectStatus).toBe(502);
  expect(r.code).not.toBe(0);
  const line = await logLine(allow, `both.test:${port}`, 'http', 'tunnel');
  expect(line).toMatchObject({ route: 'DIRECT', rule: 'IP-CIDR,127.0.0.1/32,DIRECT', error: 'refused' });
  expect(seen()).toEqual([]);
});

test('c: SOCKS5 to a name with A 127.0.0.1 + 127.0.0.2 dials only the allowed 127.0.0.1: refused there, reply 0x05, never 127.0.0.2', async () => {
  const seen = forbiddenWatch();
  const port = forbidden.lonePort;
  expect(await refused('127.0.0.1', port)).toBe(true);
  const r = await socksGet(allow, `http://both.test:${port}/hello`);
  expect(r.code).toBe(97);
  expect(r.stderr).toContain('(5)');
  const line = await logLine(allow, `both.test:${port}`, 'socks5', 'tunnel');
  expect(line).toMatchObject({ route: 'DIRECT', rule: 'IP-CIDR,127.0.0.1/32,DIRECT', error: 'refused' });
  expect(seen()).toEqual([]);
});

// ---- helpers -------------------------------------------------------------------------------------

/** The connections the forbidden origin accepts from now on. */
function forbiddenWatch(): () => Forbidden['connections'] {
  const from = forbidden.connections.length;
  return () => forbidden.connections.slice(from);
}

/** The one log line of a finished request or tunnel to `target`, waiting for it to be written. */
async function logLine(p: OwnDnsDaemon, target: string, inbound: 'http' | 'socks5', mode: 'forward' | 'tunnel'): Promise<Record<string, unknown>> {
  const lines = () => p.logs.filter((l) => l.target === target && l.inbound === inbound && l.mode === mode);
  await expect.poll(() => lines().length, { timeout: 5000, message: `a log line for ${target} (${inbound}, ${mode}) in:\n${p.out()}` }).toBe(1);
  return lines()[0]!;
}

type Fetched = RunResult & { status: number; body: string };

/** curl's output with `-w '\n%{http_code}'`: the body, then the status on a line of its own. */
function fetched(r: RunResult): Fetched {
  const cut = r.stdout.lastIndexOf('\n');
  return { ...r, body: r.stdout.slice(0, cut), status: Number(r.stdout.slice(cut + 1)) };
}

/** An absolute-URI GET through the HTTP listener. */
async function httpGet(p: OwnDnsDaemon, url: string): Promise<Fetched> {
  return fetched(await curl(['-x', `http://127.0.0.1:${p.http}`, '-w', '\n%{http_code}', url]));
}

/** A GET through an HTTP CONNECT tunnel; connectStatus is the proxy's answer to CONNECT. */
async function httpConnect(p: OwnDnsDaemon, url: string): Promise<Fetched & { connectStatus: number }> {
  const r = fetched(await curl(['-p', '-x', `http://127.0.0.1:${p.http}`, '-w', '\n%{http_code} %{http_connect}', url]));
  const [status, connect] = r.stdout.slice(r.stdout.lastIndexOf('\n') + 1).split(' ').map(Number);
  return { ...r, status: status!, connectStatus: connect! };
}

/** A GET through the SOCKS5 listener, the name resolved by proxyd. */
async function socksGet(p: OwnDnsDaemon, url: string): Promise<Fetched> {
  return fetched(await curl(['--socks5-hostname', `127.0.0.1:${p.socks}`, '-w', '\n%{http_code}', url]));
}

/** Is a TCP connection to host:port refused right now (nothing listening)? */
function refused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * The good origin (fixtures/origin.ts) on 127.0.0.1:P, and the forbidden one on 127.0.0.2:P and
 * 127.0.0.2:Q, where Q has no listener on 127.0.0.1. Q is taken below Linux's ephemeral range
 * (32768+) so no port-0 listener elsewhere can land on 127.0.0.1:Q while the tests run.
 */
async function startOrigins(): Promise<[Origin, Forbidden]> {
  const connections: Forbidden['connections'] = [];
  const makeServer = () => {
    const server = createHttpServer((_req, res) => res.end('hello from FORBIDDEN origin'));
    server.on('connection', (s) => connections.push({ port: s.localPort ?? 0, from: `${s.remoteAddress}:${s.remotePort}` }));
    return server;
  };
  const close = (s: Server) => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); });
  for (let attempt = 0; attempt < 20; attempt++) {
    const origin = await startHttpOrigin('127.0.0.1');
    const shared = makeServer();
    const lone = makeServer();
    try {
      await listen(shared, origin.port, '127.0.0.2');
      const lonePort = 20000 + Math.floor(Math.random() * 10000);
      if (!(await refused('127.0.0.1', lonePort))) throw new Error(`127.0.0.1:${lonePort} has a listener`);
      await listen(lone, lonePort, '127.0.0.2');
      return [origin, { sharedPort: origin.port, lonePort, connections, close: async () => { await close(shared); await close(lone); } }];
    } catch {
      await origin.close();
      if (shared.listening) await close(shared);
      if (lone.listening) await close(lone);
    }
  }
  throw new Error('could not place the origins on 127.0.0.1/127.0.0.2 in 20 attempts');
}

