// The servers of the workload rows: proxyd with one mirror (or an upstream group), verdaccio with
// the origin as its uplink, nginx serving a directory, microsocks. proxyd and verdaccio run with
// clock.mjs preloaded, so that `jumpClock()` moves them 10 minutes on (see clock.mjs).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon, findBinary, freePort, waitForPort } from '../proc.ts';

const CLOCK = fileURLToPath(new URL('./clock.mjs', import.meta.url));
export const VERDACCIO_DIR = fileURLToPath(new URL('../verdaccio/', import.meta.url));
const VERDACCIO_BIN = join(VERDACCIO_DIR, 'node_modules', 'verdaccio', 'bin', 'verdaccio');

export interface Running {
  daemon: Daemon;
  port: number;
  /** moves the process's clock 10 minutes on (proxyd, verdaccio) */
  jumpClock(): Promise<void>;
  stop(): Promise<void>;
}

export interface Proxyd extends Running {
  /** the HTTP listener's port (mirrors at /npm, /go, /pypi) and the SOCKS5 one */
  socks: number;
  /** requests proxyd answered on its mirror endpoint (from its statistics), or NaN */
  requests(): Promise<number>;
}

const jump = (d: Daemon) => async () => {
  process.kill(d.pid, 'SIGUSR2');
  await new Promise((r) => setTimeout(r, 100));
};

/** proxyd at log level info (what users run; its log to a file), with `routes` (mirrors:, proxies:, rules:) and its cache in `dir/cache`. */
export async function startProxyd(dir: string, repoRoot: string, routes: string): Promise<Proxyd> {
  mkdirSync(dir, { recursive: true });
  const [port, socks] = [await freePort(), await freePort()];
  const control = join(dir, 'control.sock');
  const conf = join(dir, 'proxyd.yaml');
  writeFileSync(conf, `listen: { socks: 127.0.0.1:${socks}, http: 127.0.0.1:${port} }
log: { level: info }
control: ${JSON.stringify(control)}
cache: { dir: ${JSON.stringify(join(dir, 'cache'))}, max-size: 4GiB }
${routes}`);
  const daemon = new Daemon('proxyd-workload', process.execPath, ['--import', CLOCK, join(repoRoot, 'dist', 'proxyd.js'), '--config', conf], repoRoot, undefined, join(dir, 'proxyd.log'));
  await waitForPort(port, daemon);
  return {
    daemon, port, socks, jumpClock: jump(daemon), stop: () => daemon.stop(),
    requests: () => mirrorRequests(control).catch(() => NaN),
  };
}

/**
 * The requests proxyd answered on its mirror routes, from its statistics (a mirror is a route, and
 * its `connections` count one per request); 0 before the first, NaN when the statistics say nothing.
 */
async function mirrorRequests(control: string): Promise<number> {
  const body = await new Promise<string>((resolve, reject) => {
    const req = request({ socketPath: control, path: '/stats', method: 'GET' }, (res) => {
      let text = '';
      res.on('data', (b) => (text += b));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('control socket: no answer in 5 s')));
    req.end();
  });
  const stats = JSON.parse(body) as { routes?: Array<{ name: string; connections?: number }> };
  if (!Array.isArray(stats.routes)) return NaN;
  return stats.routes.filter((r) => /^(npm|go|pypi)$/.test(r.name)).reduce((n, r) => n + (r.connections ?? NaN), 0);
}

/** Why verdaccio cannot run, or undefined. */
export function verdaccioMissing(): string | undefined {
  return existsSync(VERDACCIO_BIN) ? undefined : 'verdaccio 6.8.0 not set up: run `npm run bench:setup` (installs it in test/bench/verdaccio/)';
}

/** verdaccio with `uplink` as its one uplink for every package, its storage in `dir/storage`. */
export async function startVerdaccio(dir: string, uplink: string): Promise<Running> {
  mkdirSync(join(dir, 'storage'), { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'config.yaml');
  writeFileSync(conf, `storage: ${JSON.stringify(join(dir, 'storage'))}
self_path: ${JSON.stringify(dir)}
auth:
  htpasswd: { file: ${JSON.stringify(join(dir, 'htpasswd'))}, max_users: -1 }
uplinks:
  origin: { url: ${JSON.stringify(`${uplink}/`)}, timeout: 60s, max_fails: 100 }
packages:
  '**': { access: $all, publish: $authenticated, proxy: origin }
server: { keepAliveTimeout: 60 }
log: { type: stdout, format: pretty, level: warn }
web: { enable: false }
`);
  const daemon = new Daemon('verdaccio', process.execPath, ['--import', CLOCK, VERDACCIO_BIN, '--config', conf, '--listen', `127.0.0.1:${port}`], dir);
  await waitForPort(port, daemon, 30_000);
  return { daemon, port, jumpClock: jump(daemon), stop: () => daemon.stop() };
}

/** nginx (one worker, sendfile, keep-alive) serving `root` as it is, or an error saying why not. */
export async function startNginx(dir: string, root: string): Promise<Running | { error: string }> {
  const nginx = findBinary('nginx');
  if (!nginx) return { error: 'nginx is not installed (apt-get install nginx)' };
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  const t = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  // as root, nginx's workers would run as nobody, who cannot enter the bench's private directories
  writeFileSync(conf, `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'nginx-error.log')} warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;
  types { text/html html; application/octet-stream whl metadata; }
  ${t('client_body')} ${t('proxy')} ${t('fastcgi')} ${t('uwsgi')} ${t('scgi')}
  server { listen 127.0.0.1:${port}; root ${root}; index index.html; }
}
`);
  const daemon = new Daemon('nginx-workload', nginx, ['-p', dir, '-e', join(dir, 'nginx-error.log'), '-c', conf]);
  await waitForPort(port, daemon);
  return { daemon, port, jumpClock: async () => undefined, stop: () => daemon.stop() };
}

/** `count` microsocks on loopback, or an error saying why not. */
export async function startMicrosocks(count: number): Promise<Running[] | { error: string }> {
  const bin = findBinary('microsocks');
  if (!bin) return { error: 'microsocks is not installed (apt-get install microsocks)' };
  const out: Running[] = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const daemon = new Daemon(`microsocks-${i}`, bin, ['-i', '127.0.0.1', '-p', String(port)]);
    await waitForPort(port, daemon);
    out.push({ daemon, port, jumpClock: async () => undefined, stop: () => daemon.stop() });
  }
  return out;
}
