// proxyctl doctor in a network lab of namespaces, where each failure is real: a port that is open,
// one with nothing listening (RST), one whose packets are dropped (filtered), one that resets each
// connection it accepts, an address answered with ICMP host-unreachable, a name the client's DNS
// server poisons with a private address, a TLS server whose certificate is for another name, a
// middlebox that answers TLS for a host with its own CA on the client's path only, and a stale
// /etc/hosts line. The daemon runs in the client namespace; its DIRECT path crosses the filters,
// and a microsocks upstream in a third namespace has a clean path and a clean DNS server.
//
//   client (proxyd) ──198.51.100.0/30──► origin ("the internet": 203.0.113.x, DNS, nftables)
//        └──198.51.100.8/30──► upstream (microsocks) ──198.51.100.4/30──┘
//
// Root only (namespaces, mounts). Outside CI, when not root or a tool is missing, the file is
// skipped with a message; in CI it must run.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { DoctorReport, type DoctorRoute, type DoctorTarget } from '../../src/control/api.js';
import { PROXYD } from '../fixtures/daemon-process.js';
import { missingLabTools, NetLab, waitForLine } from '../fixtures/netlab.js';
import { proxyctl } from '../fixtures/proxyctl.js';
import type { LabServersSpec } from '../fixtures/lab-servers.js';
import type { RunResult } from '../fixtures/run.js';

const ROOT = join(import.meta.dirname, '../..');
const LAB_SERVERS = join(import.meta.dirname, '../fixtures/lab-servers.ts');

const CLIENT = '198.51.100.2';
const SOCKS = '198.51.100.9';
const ADDR = {
  git: '203.0.113.10', wrongName: '203.0.113.11', mitm: '203.0.113.12', ports: '203.0.113.13',
  poisoningDns: '203.0.113.53', cleanDns: '203.0.113.54', icmpUnreachable: '203.0.113.66', stale: '203.0.113.77',
};
const POISON = '10.66.0.1';
/** each step's limit in doctor's runs */
const TIMEOUT_S = 2;

/** what both DNS servers answer; the client's gives POISON for poisoned.lab.example */
const NAMES: Record<string, string[]> = {
  'git.lab.example': [ADDR.git],
  'ports.lab.example': [ADDR.ports],
  'wrongname.lab.example': [ADDR.wrongName],
  'mitm.lab.example': [ADDR.mitm],
  'unreach.lab.example': [ADDR.icmpUnreachable],
  'poisoned.lab.example': [ADDR.git],
  'stale.lab.example': [ADDR.git],
};

const TARGETS = [
  'git.lab.example:443', 'git.lab.example:22',
  'ports.lab.example:7001', 'ports.lab.example:7002', 'ports.lab.example:7003', 'ports.lab.example:7004',
  'unreach.lab.example:7001', 'poisoned.lab.example:443', 'wrongname.lab.example:443', 'mitm.lab.example:443', 'stale.lab.example:443',
];

let skipReason: string | undefined;
let lab: NetLab;
let dir: string;
let control: string;
let run: RunResult;
let report: DoctorReport;

beforeAll(async () => {
  const missing = missingLabTools(['microsocks', 'openssl']);
  const why = process.getuid?.() !== 0 ? 'they need root (network namespaces, mounts)' : missing.length ? `missing: ${missing.join(', ')}` : undefined;
  if (why) {
    if (process.env.CI === 'true') throw new Error(`doctor-lab.test.ts cannot run: ${why}; in CI it may not be skipped`);
    skipReason = `doctor-lab.test.ts skipped: ${why}`;
    console.warn(skipReason);
    return;
  }
  dir = mkdtempSync(join(tmpdir(), 'proxyd-doctor-lab-'));
  mkdirSync(join(dir, 'home'));
  lab = new NetLab(`pd${process.pid % 100000}`);
  await buildNetwork(lab);
  const trusted = await startLabServers(lab, dir);
  await startMicrosocks(lab);
  control = await startProxyd(lab, dir, trusted);
  run = await doctor([...TARGETS, '--timeout', String(TIMEOUT_S), '--json']);
  report = DoctorReport.parse(JSON.parse(run.stdout));
}, 120_000);

beforeEach((ctx) => {
  if (skipReason) ctx.skip(skipReason);
});

afterAll(async () => {
  await lab?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** as a user without settings of their own: the settings audit after the probes reads an empty home, and no proxy variable */
const doctor = (args: string[]) => proxyctl(control, ['doctor', ...args], { PATH: process.env.PATH, HOME: join(dir, 'home') });

const target = (text: string): DoctorTarget => report.targets.find((t) => t.target === text)!;
const route = (text: string, name: string): DoctorRoute => target(text).routes.find((r) => r.route === name)!;

describe('each port as each route sees it', () => {
  test('the report is of its schema, and exit 1: some targets have no working route today', () => {
    expect(run.code).toBe(1);
    expect(report.ok).toBe(false);
    expect(report.targets.map((t) => t.target)).toEqual(TARGETS);
  });

  test('filtered on the DIRECT path, open through the upstream: the verdict says so, and the fix is a rule to the group that carries it', () => {
    const t = target('git.lab.example:443');
    expect(t.verdict).toMatch(/^git\.lab\.example:443 {2}DIRECT filtered \(no answer in 2 s\) · via lab-socks open [\d.]+ ms · rule MATCH → DIRECT \(fails\)$/);
    expect(route(t.target, 'DIRECT')).toMatchObject({ state: 'filtered', works: false, error: { class: 'timeout' } });
    expect(route(t.target, 'lab-socks')).toMatchObject({
      state: 'open', works: true, remoteDns: true,
      tls: { state: 'ok', names: ['git.lab.example', 'poisoned.lab.example', 'stale.lab.example'], issuer: 'proxyd lab CA (proxyd lab)' },
      http: { status: 200 },
    });
    expect(t).toMatchObject({ ok: false, today: { by: 'rule', route: 'DIRECT', rule: 'MATCH,DIRECT', works: false }, better: { route: 'lab-socks' } });
    expect(t.fixes[0]).toBe('add the rule DOMAIN-SUFFIX,git.lab.example,lab-out before rule 2 (MATCH,DIRECT)');
  });

  test('ssh: port 22 filtered on DIRECT, open through the upstream with the server\'s banner', () => {
    expect(route('git.lab.example:22', 'DIRECT')).toMatchObject({ state: 'filtered', summary: 'filtered (no answer in 2 s)' });
    expect(route('git.lab.example:22', 'lab-socks')).toMatchObject({ state: 'open', works: true, banner: 'SSH-2.0-lab' });
  });

  test.each([
    ['ports.lab.example:7001', 'open', true],
    ['ports.lab.example:7002', 'refused', false],
    ['ports.lab.example:7003', 'filtered', false],
    ['ports.lab.example:7004', 'reset', false],
  ] as const)('%s is %s on both routes', (text, state, works) => {
    for (const name of ['DIRECT', 'lab-socks']) expect(route(text, name), name).toMatchObject({ state, works });
    expect(target(text).ok).toBe(works);
  });

  test('words: refused is RST, filtered has the timeout, reset is after connect', () => {
    expect(route('ports.lab.example:7002', 'DIRECT').summary).toBe('refused (RST)');
    expect(route('ports.lab.example:7003', 'DIRECT').summary).toBe('filtered (no answer in 2 s)');
    expect(route('ports.lab.example:7004', 'DIRECT').summary).toMatch(/^reset after connect/);
    expect(target('ports.lab.example:7003').verdict).toBe('ports.lab.example:7003  DIRECT filtered (no answer in 2 s) · via lab-socks filtered (no answer in 2 s) · rule MATCH → DIRECT (fails)');
  });

  test('ICMP host-unreachable: unreachable (EHOSTUNREACH) on DIRECT, and as the upstream reports it', () => {
    expect(route('unreach.lab.example:7001', 'DIRECT')).toMatchObject({ state: 'unreachable', summary: 'unreachable (EHOSTUNREACH)' });
    expect(route('unreach.lab.example:7001', 'lab-socks')).toMatchObject({ state: 'unreachable', error: { hop: 'origin' } });
  });
});

describe('DNS and TLS', () => {
  test('a poisoned answer: the private address is named as possible poisoning, DIRECT cannot reach it, the upstream resolves the name itself, and the rule to the group works', () => {
    const t = target('poisoned.lab.example:443');
    expect(t.dns?.system.addresses).toEqual([POISON]);
    expect(t.dns?.bogons).toEqual([{ address: POISON, range: 'private (RFC 1918), 10.0.0.0/8' }]);
    expect(t.dns?.notes).toContain(`${POISON} is private (RFC 1918), 10.0.0.0/8: no public name has it, possible DNS poisoning`);
    expect(route(t.target, 'DIRECT')).toMatchObject({ state: 'unreachable', summary: 'unreachable (ENETUNREACH)' });
    expect(route(t.target, 'lab-socks')).toMatchObject({ state: 'open', works: true, remoteDns: true, tls: { state: 'ok' } });
    expect(t).toMatchObject({ ok: true, today: { by: 'rule', route: 'lab-out', carrier: 'lab-out/lab-socks', works: true, note: 'ok' } });
    expect(t.verdict).toMatch(/ · rule DOMAIN-SUFFIX,poisoned\.lab\.example → lab-out\/lab-socks \(ok\)$/);
  });

  test('a certificate for another name: open on both routes, TLS wrong-name with the names it is for', () => {
    for (const name of ['DIRECT', 'lab-socks']) {
      expect(route('wrongname.lab.example:443', name)).toMatchObject({
        state: 'open', works: false, summary: 'open, but the TLS certificate is for other.lab.example',
        tls: { state: 'wrong-name', names: ['other.lab.example'], issuer: 'proxyd lab CA (proxyd lab)' },
      });
    }
  });

  test('a middlebox on the DIRECT path: TLS issued by a CA this machine does not trust, the issuer shown; through the upstream the real certificate', () => {
    const direct = route('mitm.lab.example:443', 'DIRECT');
    expect(direct).toMatchObject({ state: 'open', works: false, tls: { state: 'untrusted', issuer: 'Lab Middlebox CA (middlebox)' } });
    expect(direct.tls!.reason).toMatch(/^issued by Lab Middlebox CA \(middlebox\), which this machine does not trust: something on the path answers for mitm\.lab\.example \(a middlebox\)/);
    expect(direct.summary).toBe('open, but TLS answered by Lab Middlebox CA (middlebox) (not trusted: a middlebox?)');
    expect(route('mitm.lab.example:443', 'lab-socks')).toMatchObject({ works: true, tls: { state: 'ok', issuer: 'proxyd lab CA (proxyd lab)' } });
  });

  test('a stale /etc/hosts line: the system resolver and the DNS server disagree, and DIRECT goes to the stale address', () => {
    const t = target('stale.lab.example:443');
    expect(t.dns).toMatchObject({ system: { addresses: [ADDR.stale] }, server: { addresses: [ADDR.git] }, bogons: [] });
    expect(t.dns?.notes).toContain(`the system resolver answers ${ADDR.stale}, the DNS server ${ADDR.git}: /etc/hosts (or another source in nsswitch.conf) answers instead of DNS`);
    expect(route(t.target, 'DIRECT').state).toBe('filtered');
    expect(route(t.target, 'lab-socks').works).toBe(true);
  });
});

describe('the default targets', () => {
  let defaults: DoctorReport;
  beforeAll(async () => {
    if (skipReason) return;
    const r = await doctor(['--timeout', String(TIMEOUT_S), '--json']);
    defaults = DoctorReport.parse(JSON.parse(r.stdout));
  }, 60_000);

  test('GitHub, Go, npm and PyPI, then each mirror upstream and each proxy server, each as the daemon reaches it', () => {
    expect(defaults.targets.map((t) => [t.target, t.source])).toEqual([
      ['github.com:443', 'default'], ['github.com:22', 'default'], ['ssh.github.com:443', 'default'], ['proxy.golang.org:443', 'default'],
      ['sum.golang.org:443', 'default'], ['registry.npmjs.org:443', 'default'], ['pypi.org:443', 'default'],
      ['https://git.lab.example/go/', 'mirror labgo'], [`${SOCKS}:1080`, 'proxy lab-socks'],
    ]);
    const upstream = defaults.targets.find((t) => t.source === 'mirror labgo')!;
    expect(upstream).toMatchObject({ ok: true, today: { by: 'mirror', route: 'lab-socks', works: true } });
    const server = defaults.targets.find((t) => t.source === 'proxy lab-socks')!;
    expect(server.routes.map((r) => r.route)).toEqual(['DIRECT']); // not through itself
    expect(server).toMatchObject({ ok: true, today: { by: 'proxy', route: 'DIRECT', works: true } });
  });

  test('a host a mirror stands for: the mirror is a route, answering from its upstream through its via', () => {
    const go = defaults.targets.find((t) => t.target === 'proxy.golang.org:443')!;
    expect(go.routes.find((r) => r.route === 'labgo')).toMatchObject({ kind: 'goproxy', works: true, upstream: 'git.lab.example' });
    expect(go.fixes[0]).toMatch(/^intercept: true on mirror labgo/);
  });

  test('names the lab does not know fail on every route, and nothing leaves the lab: no route, and its DNS says NXDOMAIN', () => {
    const gh = defaults.targets.find((t) => t.target === 'github.com:443')!;
    expect(gh.dns?.system.failure?.outcome).toBe('nxdomain');
    expect(gh.routes.every((r) => !r.works)).toBe(true);
  });
});

// ---- the lab ---------------------------------------------------------------------------------

async function buildNetwork(l: NetLab): Promise<void> {
  for (const ns of ['c', 'o', 'u']) await l.namespace(ns);
  await l.link('c', `${CLIENT}/30`, 'o', '198.51.100.1/30');
  await l.link('u', '198.51.100.6/30', 'o', '198.51.100.5/30');
  await l.link('c', '198.51.100.10/30', 'u', `${SOCKS}/30`);
  for (const a of Object.values(ADDR)) if (a !== ADDR.stale) await l.ip('o', ['addr', 'add', `${a}/32`, 'dev', 'lo']);
  await l.ip('c', ['route', 'add', '203.0.113.0/24', 'via', '198.51.100.1']);
  await l.ip('u', ['route', 'add', '203.0.113.0/24', 'via', '198.51.100.5']);
  await l.nft('o', `
table inet lab {
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr ${CLIENT} ip daddr ${ADDR.git} tcp dport { 22, 443 } drop
    ip daddr ${ADDR.ports} tcp dport 7003 drop
    ip daddr ${ADDR.icmpUnreachable} reject with icmp type host-unreachable
  }
}
table ip middlebox {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip saddr ${CLIENT} ip daddr ${ADDR.mitm} tcp dport 443 dnat to ${ADDR.mitm}:8443
  }
}
`);
}

/** Resolves with the lab CA's certificate file: what the daemon trusts. */
async function startLabServers(l: NetLab, at: string): Promise<string> {
  const pki = join(at, 'pki');
  mkdirSync(pki);
  const ca = makeCa(pki, 'lab-ca', '/CN=proxyd lab CA/O=proxyd lab');
  const middlebox = makeCa(pki, 'middlebox-ca', '/CN=Lab Middlebox CA/O=middlebox');
  const git = makeLeaf(pki, 'git', ca, ['git.lab.example', 'poisoned.lab.example', 'stale.lab.example']);
  const spec: LabServersSpec = {
    dns: [
      { address: ADDR.poisoningDns, answers: { ...NAMES, 'poisoned.lab.example': [POISON] } },
      { address: ADDR.cleanDns, answers: NAMES },
    ],
    tls: [
      { address: ADDR.git, port: 443, ...git },
      { address: ADDR.wrongName, port: 443, ...makeLeaf(pki, 'other', ca, ['other.lab.example']) },
      { address: ADDR.mitm, port: 443, ...makeLeaf(pki, 'mitm', ca, ['mitm.lab.example']) },
      { address: ADDR.mitm, port: 8443, ...makeLeaf(pki, 'mitm-fake', middlebox, ['mitm.lab.example']) },
    ],
    banner: [{ address: ADDR.git, port: 22, text: 'SSH-2.0-lab' }],
    silent: [{ address: ADDR.ports, port: 7001 }, { address: ADDR.ports, port: 7003 }, { address: ADDR.icmpUnreachable, port: 7001 }],
    reset: [{ address: ADDR.ports, port: 7004 }],
  };
  const file = join(at, 'servers.json');
  writeFileSync(file, JSON.stringify(spec));
  const child = l.spawn('o', [process.execPath, '--import', 'tsx', LAB_SERVERS, file], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  await waitForLine(child, (line) => line === 'ready', 'the lab servers');
  return ca.cert;
}

async function startMicrosocks(l: NetLab): Promise<void> {
  l.spawn('u', ['microsocks', '-i', SOCKS, '-p', '1080'], { resolver: { resolvConf: `nameserver ${ADDR.cleanDns}\noptions timeout:1 attempts:1\n` } });
  // from the client's namespace, as the daemon will connect (bounded)
  const probe = `const s=require('net').connect(1080,'${SOCKS}');s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(1))`;
  for (let i = 0; i < 50; i++) {
    if (await l.exec('c', [process.execPath, '-e', probe]).then(() => true, () => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`microsocks does not accept on ${SOCKS}:1080`);
}

/** proxyd in the client namespace, trusting the lab CA (not the middlebox's); resolves through the poisoning DNS server, with a stale hosts line. */
async function startProxyd(l: NetLab, at: string, trusted: string): Promise<string> {
  const sock = join(at, 'control', 'control.sock');
  const config = join(at, 'proxyd.yaml');
  writeFileSync(config, [
    'listen: { socks: 127.0.0.1:0, http: 127.0.0.1:0 }',
    `control: ${sock}`,
    'log: { level: info }',
    `cache: { dir: ${join(at, 'cache')} }`,
    'proxies:',
    `  - { name: lab-socks, type: socks5, server: ${SOCKS}:1080 }`,
    'groups:',
    '  - { name: lab-out, type: fallback, members: [lab-socks, DIRECT] }',
    'mirrors:',
    '  - { name: labgo, kind: goproxy, upstreams: [https://git.lab.example/go/], origins: [https://proxy.golang.org], via: lab-socks, sumdb-key: off }',
    'rules:',
    '  - DOMAIN-SUFFIX,poisoned.lab.example,lab-out',
    '  - MATCH,DIRECT',
    '',
  ].join('\n'));
  const child = l.spawn('c', [process.execPath, PROXYD, '--config', config], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: trusted },
    resolver: {
      resolvConf: `nameserver ${ADDR.poisoningDns}\noptions timeout:1 attempts:1\n`,
      hosts: `127.0.0.1 localhost\n::1 localhost\n${ADDR.stale} stale.lab.example\n`,
    },
  });
  await waitForLine(child, (line) => line.includes('"msg":"proxyd '), 'proxyd in the lab');
  return sock;
}

interface Pair { key: string; cert: string }

function makeCa(at: string, name: string, subject: string): Pair {
  const pair = { key: join(at, `${name}.key`), cert: join(at, `${name}.pem`) };
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', subject,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign', '-keyout', pair.key, '-out', pair.cert], { stdio: 'ignore' });
  return pair;
}

function makeLeaf(at: string, name: string, ca: Pair, names: string[]): Pair {
  const pair = { key: join(at, `${name}.key`), cert: join(at, `${name}.pem`) };
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${names[0]}`,
    '-addext', 'basicConstraints=CA:FALSE', '-addext', `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`,
    '-CA', ca.cert, '-CAkey', ca.key, '-keyout', pair.key, '-out', pair.cert], { stdio: 'ignore' });
  return pair;
}
