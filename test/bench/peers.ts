// The proxies under test: how each is configured and started, and the table rows
// they give (proxyd gives two, one per listener).
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Via } from './clients.ts';
import { Daemon, findBinary, freePort, waitForPort } from './proc.ts';

type Ports = { http?: number; socks5?: number };

interface Launch {
  daemon: Daemon;
  ports: Ports;
}

/** One proxy process (or process tree). */
export class Server {
  daemon?: Daemon;
  ports: Ports = {};
  /** why it is not running: not installed, failed to start */
  error?: string;

  constructor(readonly name: string, readonly launch: (dir: string) => Promise<Launch>, readonly workDir: string) {}

  async start(): Promise<void> {
    this.error = undefined;
    const dir = join(this.workDir, this.name);
    mkdirSync(dir, { recursive: true });
    try {
      const { daemon, ports } = await this.launch(dir);
      this.daemon = daemon;
      this.ports = ports;
    } catch (e) {
      this.error = (e as Error).message;
    }
  }

  /** Fresh process, for measurements that must start from a clean heap. */
  async restart(): Promise<void> {
    await this.daemon?.stop();
    this.daemon = undefined;
    await this.start();
  }
}

export interface Row {
  label: string;
  server?: Server;
  protocol: 'direct' | 'http' | 'socks5';
  /** forwards absolute-URI plain-HTTP requests (GET http://...) */
  plainHttp: boolean;
  /** left out of the tables unless --peers names its server in full (e.g. proxyd-nostats) */
  optIn?: boolean;
}

export function via(row: Row): Via {
  if (row.protocol === 'direct') return { kind: 'direct' };
  const port = row.server?.ports[row.protocol];
  if (port === undefined) throw new Error(`${row.label}: no ${row.protocol} port`);
  return { kind: row.protocol, port };
}

/** Why the row cannot be measured now, or undefined when it can. */
export function unavailable(row: Row): string | undefined {
  const s = row.server;
  if (!s) return undefined;
  if (s.error) return s.error;
  if (!s.daemon?.alive) return `${s.name} is not running: ${s.daemon?.tail() ?? ''}`;
  return undefined;
}

async function started(name: string, bin: string | undefined, args: (port: number) => string[], protocol: keyof Ports): Promise<Launch> {
  if (!bin) throw new Error('not installed');
  const port = await freePort();
  const daemon = new Daemon(name, bin, args(port));
  try {
    await waitForPort(port, daemon);
  } catch (e) {
    await daemon.stop();
    throw e;
  }
  return { daemon, ports: { [protocol]: port } };
}

export function makeRows(workDir: string, repoRoot: string): Row[] {
  const file = (dir: string, name: string, text: string) => { writeFileSync(join(dir, name), text); return join(dir, name); };

  /**
   * A proxyd whose routing is `routes()` (rules, and the proxies they name), started with `env`
   * added; at log level info (its default: a line per connection, to a file) unless told otherwise.
   */
  const proxydServer = (name: string, routes: () => Promise<string>, env?: Record<string, string>, level = 'info') => new Server(name, async (dir) => {
    const entry = join(repoRoot, 'dist', 'proxyd.js');
    if (!existsSync(entry)) throw new Error('not available (dist/proxyd.js missing: build failed?)');
    const [socks5, http] = [await freePort(), await freePort()];
    const conf = file(dir, 'proxyd.yaml', `listen: { socks: 127.0.0.1:${socks5}, http: 127.0.0.1:${http} }
log: { level: ${level} }
control: ${JSON.stringify(join(dir, 'control.sock'))}  # one per daemon: several run at once
limits: { max-connections: 20000, max-connections-per-client: 20000, drain-timeout: 1s }  # one load generator makes every connection
${await routes()}`);
    // BENCH_PROXYD_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the daemon under load
    const nodeArgs = (process.env.BENCH_PROXYD_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const daemon = new Daemon(name, process.execPath, [...nodeArgs, entry, '--config', conf], repoRoot, env, join(dir, 'proxyd.log'));
    try {
      await waitForPort(socks5, daemon);
      await waitForPort(http, daemon);
    } catch (e) {
      await daemon.stop();
      throw new Error(`not available (${(e as Error).message})`);
    }
    return { daemon, ports: { socks5, http } };
  }, workDir);
  const direct = async () => 'rules:\n  - MATCH,DIRECT\n';
  const proxyd = proxydServer('proxyd', direct);
  /** the same at log level warn: what a line per connection costs */
  const quiet = proxydServer('proxyd-warn', direct, undefined, 'warn');
  /** the same proxyd without statistics (PROXYD_STATS=off), for the statistics section (stats-cost.ts) */
  const nostats = proxydServer('proxyd-nostats', direct, { PROXYD_STATS: 'off' });
  /** proxyd in front of a SOCKS5 peer: client → proxyd → peer → origin (the peer is started if its own row is not measured) */
  const inFrontOf = (peer: Server) => proxydServer(`proxyd→${peer.name}`, async () => {
    if (!peer.daemon?.alive) await peer.start();
    if (!peer.ports.socks5) throw new Error(`not available (${peer.name}: ${peer.error ?? 'no port'})`);
    return `proxies:\n  - { name: up, type: socks5, server: 127.0.0.1:${peer.ports.socks5} }\nrules:\n  - MATCH,up\n`;
  });

  const tinyproxy = new Server('tinyproxy', (dir) => started('tinyproxy', findBinary('tinyproxy'), (port) => ['-d', '-c', file(dir, 'tinyproxy.conf', `Port ${port}
Listen 127.0.0.1
Allow 127.0.0.1
Timeout 600
MaxClients 4000
LogLevel Critical
LogFile "${join(dir, 'tinyproxy.log')}"
PidFile "${join(dir, 'tinyproxy.pid')}"
`)], 'http'), workDir); // no ConnectPort line: CONNECT to any port is allowed

  const squid = new Server('squid', (dir) => {
    chmodSync(dir, 0o777); // squid drops to its own user before writing its log
    return started('squid', findBinary('squid'), (port) => ['-N', '-f', file(dir, 'squid.conf', `http_port 127.0.0.1:${port}
workers 1
http_access allow localhost
http_access deny all
cache deny all
cache_mem 0 MB
access_log none
cache_store_log none
cache_log ${join(dir, 'cache.log')}
pid_filename ${join(dir, 'squid.pid')}
coredump_dir ${dir}
visible_hostname bench
max_filedescriptors 16384
pinger_enable off
shutdown_lifetime 0 seconds
`)], 'http');
  }, workDir);

  const dante = new Server('dante', (dir) => started('danted', findBinary('danted'), (port) => ['-f', file(dir, 'danted.conf', `logoutput: ${join(dir, 'danted.log')}
internal: 127.0.0.1 port = ${port}
external: 127.0.0.1
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: error }
socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: error }
`), '-p', join(dir, 'danted.pid')], 'socks5'), workDir);

  const microsocks = new Server('microsocks', () => started('microsocks', findBinary('microsocks'), (port) => ['-i', '127.0.0.1', '-p', String(port)], 'socks5'), workDir);

  const pipe = new Server('node-pipe', () => started('node-pipe', process.execPath,
    (port) => [fileURLToPath(new URL('./pipe-proxy.mjs', import.meta.url)), String(port)], 'http'), workDir);

  return [
    { label: 'direct', protocol: 'direct', plainHttp: true },
    { label: 'proxyd http', server: proxyd, protocol: 'http', plainHttp: true },
    { label: 'proxyd socks5', server: proxyd, protocol: 'socks5', plainHttp: false },
    { label: 'proxyd-warn http', server: quiet, protocol: 'http', plainHttp: true },
    { label: 'proxyd-warn socks5', server: quiet, protocol: 'socks5', plainHttp: false },
    { label: 'tinyproxy', server: tinyproxy, protocol: 'http', plainHttp: true },
    { label: 'squid', server: squid, protocol: 'http', plainHttp: true },
    { label: 'node-pipe', server: pipe, protocol: 'http', plainHttp: false },
    { label: 'dante', server: dante, protocol: 'socks5', plainHttp: false },
    { label: 'microsocks', server: microsocks, protocol: 'socks5', plainHttp: false },
    { label: 'proxyd→dante', server: inFrontOf(dante), protocol: 'socks5', plainHttp: false },
    { label: 'proxyd→microsocks', server: inFrontOf(microsocks), protocol: 'socks5', plainHttp: false },
    { label: 'proxyd-nostats http', server: nostats, protocol: 'http', plainHttp: true, optIn: true },
    { label: 'proxyd-nostats socks5', server: nostats, protocol: 'socks5', plainHttp: false, optIn: true },
  ];
}
