// The mirror's figures: a 100 MB artifact from proxyd's cache against the same file from nginx
// (MB/s), the time a cold request adds over fetching straight from the origin (ms, p50 and p99),
// and requests per second for a small cached file (wrk, keep-alive) against nginx serving it.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { Daemon, findBinary, freePort, runCommand, waitForPort } from './proc.ts';
import { median, percentile } from './report.ts';

export interface MirrorFigures {
  /** MB/s of one 100 MB download, medians of 3: proxyd's cache, nginx (sendfile), a Node file server (no hash check) */
  cacheMBps: number;
  staticMBps: number;
  nodeMBps: number;
  /** ms per cold request, and straight from the origin */
  cold: { p50: number; p99: number };
  direct: { p50: number; p99: number };
  /** requests per second for a cached 16 KiB file, and nginx serving it */
  cachedRps: number;
  staticRps: number;
}

const BIG = 100 * 1024 * 1024;
const SMALL = 16 * 1024;
const COLD_FILES = 200;

export async function mirrorBench(tmp: string, repoRoot: string): Promise<MirrorFigures> {
  const nginx = findBinary('nginx');
  if (!nginx) throw new Error('nginx is not installed (apt-get install nginx): it is the static server the cache is measured against');
  const www = join(tmp, 'www', 'packages');
  mkdirSync(www, { recursive: true });
  // each file listed with its sha256 on its project's index page, as on PyPI: the mirror stores only what it can check
  const files = { big: [['big-1.0.tar.gz', randomBytes(BIG)]], small: Array.from({ length: COLD_FILES }, (_, i) => [`small-${i}.tar.gz`, randomBytes(SMALL)]) } as Record<string, Array<[string, Buffer]>>;
  for (const [project, list] of Object.entries(files)) {
    mkdirSync(join(tmp, 'www', 'simple', project), { recursive: true });
    const links = list.map(([name, bytes]) => `<a href="../../packages/${name}#sha256=${createHash('sha256').update(bytes).digest('hex')}">${name}</a>`);
    writeFileSync(join(tmp, 'www', 'simple', project, 'index.html'), `<!DOCTYPE html><html><body>${links.join('\n')}</body></html>\n`);
    for (const [name, bytes] of list) writeFileSync(join(www, name), bytes);
  }
  const staticPort = await freePort();
  const conf = join(tmp, 'nginx.conf');
  const t = (name: string) => `${name}_temp_path ${join(tmp, name)};`;
  // as root, nginx's workers would run as nobody, who cannot enter the bench's private directories
  writeFileSync(conf, `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
pid ${join(tmp, 'nginx.pid')};
error_log ${join(tmp, 'nginx-error.log')} warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off; sendfile on; tcp_nopush on; keepalive_requests 10000000;
  ${t('client_body')} ${t('proxy')} ${t('fastcgi')} ${t('uwsgi')} ${t('scgi')}
  server { listen 127.0.0.1:${staticPort}; root ${join(tmp, 'www')}; }
}
`);
  const web = new Daemon('nginx-static', nginx, ['-p', tmp, '-e', join(tmp, 'nginx-error.log'), '-c', conf]);
  await waitForPort(staticPort, web);

  const http = await freePort();
  const proxydConf = join(tmp, 'proxyd-mirror.yaml');
  writeFileSync(proxydConf, `listen: { socks: off, http: 127.0.0.1:${http} }
control: ${JSON.stringify(join(tmp, 'control.sock'))}
log: { level: warn }
mirrors:
  - { name: pypi, kind: pypi, path: /pypi, upstreams: ['http://127.0.0.1:${staticPort}'], check: { interval: 1h } }
cache: { dir: ${JSON.stringify(join(tmp, 'cache'))}, max-size: 1GiB }
`);
  const proxyd = new Daemon('proxyd-mirror', process.execPath, [join(repoRoot, 'dist', 'proxyd.js'), '--config', proxydConf], repoRoot);
  await waitForPort(http, proxyd);
  // what Node itself reaches serving a file (read stream → response, 1 MiB reads, no hash): the ceiling without sendfile
  const nodePort = await freePort();
  const nodeServer = new Daemon('node-static', process.execPath, ['-e', `require('http').createServer((q, r) => {
    const f = ${JSON.stringify(join(www, 'big-1.0.tar.gz'))};
    r.writeHead(200, { 'content-length': require('fs').statSync(f).size });
    require('fs').createReadStream(f, { highWaterMark: 1 << 20 }).pipe(r);
  }).listen(${nodePort}, '127.0.0.1')`]);
  await waitForPort(nodePort, nodeServer);
  const viaProxyd = (file: string) => `http://127.0.0.1:${http}/pypi/packages/${file}`;
  const fromStatic = (file: string) => `http://127.0.0.1:${staticPort}/packages/${file}`;
  try {
    // 1. a 100 MB artifact: warm the cache, then three downloads each way
    await download(viaProxyd('big-1.0.tar.gz'));
    const cache: number[] = [];
    const plain: number[] = [];
    const node: number[] = [];
    for (let i = 0; i < 3; i++) {
      plain.push(await download(fromStatic('big-1.0.tar.gz')));
      cache.push(await download(viaProxyd('big-1.0.tar.gz')));
      node.push(await download(`http://127.0.0.1:${nodePort}/`));
    }
    // 2. cold requests, each for a file proxyd has not seen, against the same file straight from nginx
    const agent = new Agent({ connections: 1 });
    const timed = async (url: string) => {
      const t0 = performance.now();
      const res = await request(url, { dispatcher: agent });
      await res.body.arrayBuffer();
      if (res.statusCode !== 200) throw new Error(`${url}: HTTP ${res.statusCode}`);
      return performance.now() - t0;
    };
    const cold: number[] = [];
    const direct: number[] = [];
    for (let i = 0; i < COLD_FILES; i++) {
      direct.push(await timed(fromStatic(`small-${i}.tar.gz`)));
      cold.push(await timed(viaProxyd(`small-${i}.tar.gz`)));
    }
    await agent.close();
    // 3. requests per second for one small cached file
    const cachedRps = await wrkRate(viaProxyd('small-0.tar.gz'));
    const staticRps = await wrkRate(fromStatic('small-0.tar.gz'));
    const p = (xs: number[]) => ({ p50: round(percentile([...xs].sort((a, b) => a - b), 50)), p99: round(percentile([...xs].sort((a, b) => a - b), 99)) });
    return { cacheMBps: round(median(cache)), staticMBps: round(median(plain)), nodeMBps: round(median(node)), cold: p(cold), direct: p(direct), cachedRps, staticRps };
  } finally {
    await nodeServer.stop();
    await proxyd.stop();
    await web.stop();
  }
}

const round = (x: number) => Math.round(x * 100) / 100;

/** MB/s of one download with curl */
async function download(url: string): Promise<number> {
  const { code, out } = await runCommand('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{speed_download}', url], 60_000);
  const [status, speed] = out.trim().split(' ');
  if (code !== 0 || status !== '200') throw new Error(`curl ${url}: exit ${code}, ${out.trim()}`);
  return Number(speed) / 1e6;
}

async function wrkRate(url: string): Promise<number> {
  const { code, out } = await runCommand('wrk', ['-t1', '-c16', '-d5s', url], 20_000);
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (code !== 0 || !rate || /Non-2xx/.test(out)) throw new Error(`wrk ${url} failed: ${out.trim().split('\n').slice(-2).join(' ')}`);
  return Math.round(Number(rate[1]));
}
