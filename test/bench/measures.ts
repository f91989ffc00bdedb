// One measurement each, of one proxy (or of the direct path) at a time. Every loop
// is bounded both in count and in time.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openTunnel, type Tunnel, type Via } from './clients.ts';
import { percentile } from './report.ts';
import { runCommand, sleep, treeMemoryKiB } from './proc.ts';

/**
 * Aggregate MB/s (10^6 bytes) of `streams` parallel downloads of `bytes` each from the
 * source origin; after capMs the bytes received so far count.
 */
export async function throughput(via: Via, sourcePort: number, streams: number, bytes: number, capMs: number): Promise<{ mbps: number; seconds: number; capped: boolean }> {
  const tunnels = await Promise.all(Array.from({ length: streams }, () => openTunnel(via, sourcePort)));
  let received = 0;
  const start = process.hrtime.bigint();
  const finished = tunnels.map((t) => new Promise<void>((resolve, reject) => {
    let mine = 0;
    t.onData = (b) => { mine += b.length; received += b.length; };
    t.socket.once('end', () => (mine === bytes ? resolve() : reject(new Error(`stream ended after ${mine} of ${bytes} bytes`))));
    t.socket.once('error', reject);
    const head = Buffer.alloc(8);
    head.writeBigUInt64BE(BigInt(bytes));
    t.socket.write(head);
  }));
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), capMs); });
  try {
    const capped = await Promise.race([Promise.all(finished).then(() => false), cap]);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    return { mbps: received / seconds / 1e6, seconds, capped };
  } finally {
    clearTimeout(timer);
    tunnels.forEach((t) => t.destroy());
  }
}

export interface TunnelRate { perSecond: number; p50Ms: number; p99Ms: number; errors: number; /** tunnels that got their byte */ done: number }

/**
 * Opens tunnels, gets one byte from the origin, closes. With clientFirst the client sends
 * a byte and the echo origin returns it (as in TLS, HTTP); otherwise the hold origin
 * speaks first (as in SSH, SMTP), which shows a proxy that leaves Nagle's algorithm on:
 * its reply and the first byte wait for the client's delayed ACK (~40 ms on Linux).
 */
export async function newTunnels(via: Via, port: number, clientFirst: boolean, count: number, capMs: number, concurrency: number): Promise<TunnelRate> {
  const latencies: number[] = [];
  let started = 0;
  let errors = 0;
  let firstError: string | undefined;
  const t0 = Date.now();
  const worker = async () => {
    while (started < count && Date.now() - t0 < capMs) {
      started++;
      const begin = process.hrtime.bigint();
      try {
        const t = await openTunnel(via, port, 5000);
        await firstByte(t, clientFirst, 5000);
        latencies.push(Number(process.hrtime.bigint() - begin) / 1e6);
        t.destroy();
      } catch (e) {
        firstError ??= (e as Error).message;
        if (++errors > count / 10) throw new Error(`${errors} failed tunnels, first: ${firstError}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (Date.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSecond: latencies.length / seconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), errors, done: latencies.length };
}

function firstByte(t: Tunnel, send: boolean, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { t.destroy(); reject(new Error('no first byte')); }, timeoutMs);
    t.socket.once('error', (e) => { clearTimeout(timer); reject(e); });
    t.socket.once('end', () => { clearTimeout(timer); reject(new Error('ended before first byte')); });
    t.onData = () => { clearTimeout(timer); t.onData = () => {}; resolve(); };
    if (send) t.socket.write('y');
  });
}

export interface RoundTrip { p50Us: number; p99Us: number }

/** Ping-pong of a 64-byte message over one established tunnel to the echo origin. */
export async function roundTrip(via: Via, echoPort: number, count: number, capMs: number): Promise<RoundTrip> {
  const s = await openTunnel(via, echoPort);
  const msg = Buffer.alloc(64, 0x62);
  const samples: number[] = [];
  const warmup = Math.min(200, Math.floor(count / 10));
  const t0 = Date.now();
  try {
    await new Promise<void>((resolve, reject) => {
      let got = 0;
      let sentAt = 0n;
      const send = () => { sentAt = process.hrtime.bigint(); s.socket.write(msg); };
      s.onData = (b) => {
        got += b.length;
        if (got < msg.length) return;
        got -= msg.length;
        if (got) return reject(new Error('echo sent more than was asked'));
        samples.push(Number(process.hrtime.bigint() - sentAt) / 1e3);
        if (samples.length >= count + warmup || Date.now() - t0 > capMs) resolve();
        else send();
      };
      s.socket.once('error', reject);
      s.socket.once('end', () => reject(new Error('tunnel ended')));
      send();
    });
  } finally {
    s.destroy();
  }
  const measured = samples.slice(warmup).sort((a, b) => a - b);
  return { p50Us: percentile(measured, 50), p99Us: percentile(measured, 99) };
}

export interface IdleMemory { rssKiB: number; pssKiB: number }

/**
 * Resident memory per idle tunnel: memory of the proxy's process tree before and
 * after `count` tunnels to the hold origin are open (each has delivered its byte).
 */
export async function idleMemory(via: Via, proxyPid: number, holdPort: number, count: number): Promise<IdleMemory> {
  const openBatch = async (n: number) => {
    const out: Tunnel[] = [];
    const batch = 50;
    for (let i = 0; i < n; i += batch) {
      out.push(...await Promise.all(Array.from({ length: Math.min(batch, n - i) }, async () => {
        const t = await openTunnel(via, holdPort);
        t.socket.on('error', () => t.destroy());
        await firstByte(t, false, 5000);
        return t;
      })));
    }
    return out;
  };
  // Warm-up so that lazily allocated pools and code are in the baseline.
  (await openBatch(50)).forEach((t) => t.destroy());
  await sleep(500);
  const before = treeMemoryKiB(proxyPid);
  const held = await openBatch(count);
  await sleep(500);
  const after = treeMemoryKiB(proxyPid);
  held.forEach((t) => t.destroy());
  return { rssKiB: (after.rss - before.rss) / count, pssKiB: (after.pss - before.pss) / count };
}

export interface HttpRate { perSecond: number; errors: string }

/**
 * wrk with keep-alive against the proxy with absolute-URI requests
 * (`GET http://127.0.0.1:ORIGIN/ HTTP/1.1`), or straight at the origin for direct.
 */
export async function httpForwarding(tmp: string, proxyPort: number | undefined, originPort: number, seconds: number): Promise<HttpRate> {
  const args = ['-t1', '-c32', `-d${seconds}s`, '--timeout', '2s'];
  if (proxyPort !== undefined) {
    const script = join(tmp, 'absolute-uri.lua');
    writeFileSync(script, `local req
init = function(args) req = wrk.format("GET", "http://127.0.0.1:${originPort}/") end
request = function() return req end
`);
    args.push('-s', script);
  }
  args.push(`http://127.0.0.1:${proxyPort ?? originPort}/`);
  const { code, out } = await runCommand('wrk', args, (seconds + 10) * 1000);
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (code !== 0 || !rate) throw new Error(`wrk failed (${code}): ${out.trim().split('\n').slice(-2).join(' ')}`);
  // A proxy without client keep-alive closes after each response: wrk counts a read error each time.
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const readErrors = Number(/Socket errors: .*read (\d+)/.exec(out)?.[1] ?? 0);
  const notes = [
    readErrors > requests / 2 ? 'closes the client connection after each response (no keep-alive)' : /Socket errors: (.*)/.exec(out)?.[0],
    /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[0],
  ].filter(Boolean);
  return { perSecond: Number(rate[1]), errors: notes.join('; ') };
}
