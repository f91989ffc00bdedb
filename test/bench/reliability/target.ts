// The daemon under attack: a fresh proxyd process limited to 1,024 descriptors, its
// descriptor and memory gauges read from /proc, and the legitimate client (curl) that
// must still be served through both listeners.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon, freePort, sleep, waitForPort } from '../proc.ts';
import { HELLO } from './origins.ts';

export const FD_LIMIT = 1024;
const KEPT_LOG_LINES = 20_000;

export interface Gauges {
  fds: number;
  rssMiB: number;
}

export interface TargetOptions {
  /** flow-mapping entries added to `limits:`, e.g. "handshake-timeout: 2s" */
  limits?: string;
  /** one configured user, "name:password"; the legitimate client then logs in with it */
  user?: string;
}

export class Target {
  /** every line the daemon printed (JSON at log level warn), up to KEPT_LOG_LINES */
  readonly logLines: string[] = [];

  private constructor(readonly daemon: Daemon, readonly httpPort: number, readonly socksPort: number, readonly user?: string) {
    let partial = '';
    daemon.child.stdout!.on('data', (b: Buffer) => {
      const lines = (partial + b.toString()).split('\n');
      partial = lines.pop()!;
      this.logLines.push(...lines.slice(0, KEPT_LOG_LINES - this.logLines.length));
    });
  }

  /** Writes the config to dir/name.yaml and starts `node dist/proxyd.js` under `ulimit -n 1024`. */
  static async start(dir: string, name: string, repoRoot: string, options: TargetOptions): Promise<Target> {
    const [httpPort, socksPort] = [await freePort(), await freePort()];
    const [username, password] = options.user?.split(':') ?? [];
    const config = join(dir, `${name}.yaml`);
    writeFileSync(config, `listen: { socks: 127.0.0.1:${socksPort}, http: 127.0.0.1:${httpPort} }
control: ${JSON.stringify(join(dir, `${name}-control`, 'control.sock'))}
log: { level: warn }
limits: { drain-timeout: 1s${options.limits ? `, ${options.limits}` : ''} }
${username ? `auth: [{ username: ${username}, password: ${password} }]\n` : ''}rules:
  - MATCH,DIRECT
`);
    // `ulimit -n` in sh sets the soft and the hard limit, so Node cannot raise it again.
    const daemon = new Daemon(`proxyd ${name}`, 'sh', ['-c', `ulimit -n ${FD_LIMIT}; exec "$@"`, 'sh',
      process.execPath, join(repoRoot, 'dist', 'proxyd.js'), '--config', config], repoRoot);
    try {
      await waitForPort(httpPort, daemon);
      await waitForPort(socksPort, daemon);
    } catch (e) {
      await daemon.stop();
      throw e;
    }
    const target = new Target(daemon, httpPort, socksPort, options.user);
    const limit = target.openFilesLimit();
    if (limit !== `${FD_LIMIT} ${FD_LIMIT}`) {
      await daemon.stop();
      throw new Error(`proxyd runs with descriptor limits "${limit}", not ${FD_LIMIT}`);
    }
    return target;
  }

  /** soft and hard RLIMIT_NOFILE of the daemon process, "soft hard" */
  openFilesLimit(): string {
    const line = /^Max open files\s+(\d+)\s+(\d+)/m.exec(readFileSync(`/proc/${this.daemon.pid}/limits`, 'utf8'));
    return line ? `${line[1]} ${line[2]}` : 'unknown';
  }

  /** Open descriptors and resident memory now; undefined once the process is gone. */
  gauges(): Gauges | undefined {
    try {
      const fds = readdirSync(`/proc/${this.daemon.pid}/fd`).length;
      const kib = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${this.daemon.pid}/status`, 'utf8'))?.[1]);
      return { fds, rssMiB: kib / 1024 };
    } catch {
      return undefined;
    }
  }

  /** Waits until the descriptor count has not changed for `quietMs` (bounded by timeoutMs). */
  async settled(quietMs = 500, timeoutMs = 5000): Promise<Gauges | undefined> {
    const deadline = Date.now() + timeoutMs;
    let last = this.gauges();
    let since = Date.now();
    while (last && Date.now() < deadline && Date.now() - since < quietMs) {
      await sleep(100);
      const now = this.gauges();
      if (now?.fds !== last.fds) since = Date.now();
      last = now;
    }
    return last;
  }

  /** Polls every 100 ms until the descriptors are down to `fds` or fewer, bounded by timeoutMs. */
  async comeDown(fds: number, timeoutMs: number): Promise<{ gauges?: Gauges; ms: number }> {
    const t0 = Date.now();
    for (;;) {
      const g = this.gauges();
      if (!g || g.fds <= fds || Date.now() - t0 >= timeoutMs) return { gauges: g, ms: Date.now() - t0 };
      await sleep(100);
    }
  }
}

/** Highest descriptor count and RSS seen, sampling every 100 ms until stopped. */
export class PeakSampler {
  readonly peak: Gauges = { fds: 0, rssMiB: 0 };
  readonly #timer: NodeJS.Timeout;

  constructor(private readonly target: Target) {
    this.sample();
    this.#timer = setInterval(() => this.sample(), 100);
  }

  /** One reading now, besides the 100 ms ticks. */
  sample(): void {
    const g = this.target.gauges();
    if (!g) return;
    this.peak.fds = Math.max(this.peak.fds, g.fds);
    this.peak.rssMiB = Math.max(this.peak.rssMiB, g.rssMiB);
  }

  stop(): Gauges {
    clearInterval(this.#timer);
    this.sample();
    return this.peak;
  }
}

/** "served", or what the legitimate client got instead, per listener. */
export interface Served {
  http: string;
  socks: string;
}

/** No proxy variables from our environment: curl must use exactly the proxy it is given. */
const curlEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/_proxy$/i.test(k)));

function curl(proxy: string, url: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('curl', ['-sS', '--max-time', '5', '-x', proxy, '-w', '\n%{http_code}', url], { env: curlEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { err += b; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('error', (e) => { err += e.message; });
    child.once('close', (code) => {
      clearTimeout(timer);
      const cut = out.lastIndexOf('\n');
      const [body, status] = [out.slice(0, cut), out.slice(cut + 1)];
      if (code === 0 && status === '200' && body === HELLO) resolve('served');
      else if (code === 0) resolve(`HTTP ${status}`);
      else resolve(`curl exit ${code}: ${err.trim().replace(/^curl: \(\d+\) /, '').slice(0, 80)}`);
    });
  });
}

/** One GET of the origin's /hello through each listener (HTTP proxy and socks5h), at the same time. */
export async function legitimateClient(target: Target, originPort: number): Promise<Served> {
  const login = target.user ? `${target.user}@` : '';
  const url = `http://127.0.0.1:${originPort}/hello`;
  const [http, socks] = await Promise.all([
    curl(`http://${login}127.0.0.1:${target.httpPort}`, url),
    curl(`socks5h://${login}127.0.0.1:${target.socksPort}`, url),
  ]);
  return { http, socks };
}
