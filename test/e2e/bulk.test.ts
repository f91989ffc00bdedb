// Bulk data through each listener of a real (in-process) daemon, checked end to end by SHA-256:
//   - 1 GiB download (origin → client) through SOCKS5 and through HTTP CONNECT
//   - 1 GiB upload (client → origin) through SOCKS5 and through HTTP CONNECT
//   - half-close: the client sends its FIN first; the origin only then starts sending, and the
//     download must still arrive whole
//   - slow reader: the origin floods, the client reads a trickle; backpressure must reach the
//     origin (it gets to write only a little of what it wants) and the daemon must not buffer
//     (memory of this process, where the daemon runs, stays flat)
import type { Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import {
  forwardPost, GiB, httpConnect, KiB, MiB, receive, send, socks5Connect, startBulkOrigin, type BulkOrigin, type Dial,
} from '../fixtures/bulk-peers.js';
import { startHttpOrigin, type Origin } from '../fixtures/origin.js';

// A full garbage collection on demand, so memory figures show what is alive, not what awaits collection.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let d: TestDaemon;
let origin: BulkOrigin;

beforeAll(async () => {
  d = await startTestDaemon('limits: { drain-timeout: 2s }\nrules:\n  - MATCH,DIRECT\n');
  origin = await startBulkOrigin();
});

afterAll(async () => {
  await origin?.close();
  await d?.stop();
});

let seq = 0;
const nextId = () => `c${++seq}`;

const report = (what: string, bytes: number, ms: number) =>
  console.info(`${what}: ${(bytes / MiB).toFixed(0)} MiB in ${(ms / 1000).toFixed(2)} s (${(bytes / MiB / (ms / 1000)).toFixed(0)} MiB/s)`);

/** The daemon's log line for the tunnel (or forwarded request) from our local port `localPort`. */
async function tunnelLine(localPort: number | undefined, mode = 'tunnel'): Promise<Record<string, unknown> | undefined> {
  expect(localPort).toBeGreaterThan(0);
  const client = `127.0.0.1:${localPort}`;
  const deadline = Date.now() + 5_000;
  for (;;) {
    const line = d.logs.find((l) => l.client === client && l.mode === mode);
    if (line || Date.now() > deadline) return line;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Reads a short reply to its end (the UP command's "<bytes> <sha256>\n"). */
function readAll(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (text += c));
    socket.once('end', () => resolve(text));
    socket.once('error', reject);
    socket.resume();
  });
}

const listeners: Array<{ name: string; dial: Dial; port: () => number; inbound: string }> = [
  { name: 'SOCKS5', dial: socks5Connect, port: () => d.socksPort, inbound: 'socks5' },
  { name: 'HTTP CONNECT', dial: httpConnect, port: () => d.httpPort, inbound: 'http' },
];

describe.each(listeners)('through $name', ({ name, dial, port, inbound }) => {
  test('1 GiB download arrives whole and in order (SHA-256 of what the origin sent)', async () => {
    const t0 = performance.now();
    const s = await dial(port(), origin.port);
    const localPort = s.localPort; // (gone once the socket is closed)
    const id = nextId();
    const got = receive(s);
    s.write(`DOWN ${id} ${GiB}\n`);
    const conn = await origin.conn(id);
    const [received, sent] = await Promise.all([got, conn.result]);
    report(`${name} download`, received.bytes, performance.now() - t0);

    expect(sent.bytes).toBe(GiB);
    expect(received.bytes).toBe(GiB);
    expect(received.sha256).toBe(sent.sha256);

    const line = await tunnelLine(localPort);
    expect(line).toMatchObject({ inbound, mode: 'tunnel', route: 'DIRECT', target: `127.0.0.1:${origin.port}` });
    expect(line?.error).toBeUndefined();
    expect(line?.down).toBeGreaterThanOrEqual(GiB);
    expect(line?.down).toBeLessThan(GiB + 4 * KiB);
  }, 120_000);

  test('1 GiB upload arrives whole and in order (SHA-256 of what the client sent)', async () => {
    const t0 = performance.now();
    const s = await dial(port(), origin.port);
    const localPort = s.localPort; // (gone once the socket is closed)
    const id = nextId();
    const answer = readAll(s);
    s.write(`UP ${id}\n`);
    const sent = await send(s, origin.stream, GiB); // ends our side after the last byte
    const conn = await origin.conn(id);
    const received = await conn.result;
    const reply = await answer; // the origin's verdict, back through the tunnel after our FIN
    report(`${name} upload`, received.bytes, performance.now() - t0);

    expect(sent.bytes).toBe(GiB);
    expect(received.bytes).toBe(GiB);
    expect(received.sha256).toBe(sent.sha256);
    expect(reply).toBe(`${GiB} ${sent.sha256}\n`);

    const line = await tunnelLine(localPort);
    expect(line).toMatchObject({ inbound, mode: 'tunnel', route: 'DIRECT', target: `127.0.0.1:${origin.port}` });
    expect(line?.error).toBeUndefined();
    expect(line?.up).toBeGreaterThanOrEqual(GiB);
  }, 120_000);

  test('half-close: after the client ends its side, the download still completes', async () => {
    const n = 64 * MiB;
    const s = await dial(port(), origin.port);
    const localPort = s.localPort; // (gone once the socket is closed)
    const id = nextId();
    let clientEndedAt = 0;
    const got = receive(s);
    s.write(`DOWN-AFTER-FIN ${id} ${n}\n`);
    s.end(() => (clientEndedAt = performance.now())); // our FIN; we keep reading
    const conn = await origin.conn(id);
    const [received, sent] = await Promise.all([got, conn.result]);

    expect(clientEndedAt).toBeGreaterThan(0);
    expect(conn.finAt).toBeGreaterThanOrEqual(clientEndedAt); // the origin saw our FIN, and only then sent
    expect(sent.bytes).toBe(n);
    expect(received.bytes).toBe(n);
    expect(received.sha256).toBe(sent.sha256);
    const line = await tunnelLine(localPort);
    expect(line).toMatchObject({ inbound, mode: 'tunnel', route: 'DIRECT', target: `127.0.0.1:${origin.port}` });
    expect(line?.error).toBeUndefined();
    expect(line?.down).toBeGreaterThanOrEqual(n);
  }, 60_000);

  test('slow reader: backpressure reaches the origin and the daemon does not buffer', async () => {
    const want = 256 * MiB; // what the origin would like to push
    const tickMs = 20;
    const perTick = 64 * KiB;
    const ticks = 200; // ~4 s of slow reading
    const s = await dial(port(), origin.port);
    s.pause();
    const id = nextId();
    gc();
    const mem0 = process.memoryUsage();
    s.write(`FLOOD ${id} ${want}\n`);
    const conn = await origin.conn(id);

    const h = createHash('sha256');
    let read = 0;
    const peak = { rss: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
    for (let t = 1; t <= ticks && !s.destroyed; t++) {
      await new Promise((r) => setTimeout(r, tickMs));
      for (let got = 0; got < perTick; ) {
        const c = s.read() as Buffer | null;
        if (!c) break;
        h.update(c);
        got += c.length;
        read += c.length;
      }
      // what is still alive (collect the garbage first: chunks already passed on are not growth)
      if (t % 10 === 0) {
        gc();
        const m = process.memoryUsage();
        for (const k of ['rss', 'heapUsed', 'external', 'arrayBuffers'] as const) peak[k] = Math.max(peak[k], m[k] - mem0[k]);
      }
    }
    const written = conn.written.bytes;
    console.info(
      `${name} slow reader: read ${(read / MiB).toFixed(1)} MiB, origin wrote ${(written / MiB).toFixed(1)} MiB of ${want / MiB} MiB; ` +
        `peak growth rss ${(peak.rss / MiB).toFixed(1)} MiB, heap ${(peak.heapUsed / MiB).toFixed(1)} MiB, external ${(peak.external / MiB).toFixed(1)} MiB, arrayBuffers ${(peak.arrayBuffers / MiB).toFixed(1)} MiB`,
    );

    // the data that did arrive is the right data, in order
    expect(read).toBeGreaterThan(1 * MiB);
    expect(h.digest('hex')).toBe(origin.stream.hashPrefix(read));
    // the origin was throttled: it wrote only a small part of what it wanted, and what is in
    // flight (kernel socket buffers on both hops plus the daemon's stream buffers) is bounded
    expect(written).toBeLessThan(want / 4);
    expect(written - read).toBeLessThan(48 * MiB);
    // and this process (where the daemon runs) did not soak it up
    // (a daemon that buffered would hold most of the 256 MiB; RSS is noisier, so its bound is looser)
    expect(peak.rss).toBeLessThan(64 * MiB);
    expect(peak.heapUsed).toBeLessThan(16 * MiB);
    expect(peak.external).toBeLessThan(48 * MiB);
    expect(peak.arrayBuffers).toBeLessThan(16 * MiB);

    s.destroy();
    const sent = await conn.result; // the origin stops when the tunnel goes away
    expect(sent.bytes).toBeLessThan(want);
  }, 60_000);
});

// Absolute-URI forwarding carries request bodies too (git push, npm publish, API uploads). The
// body must arrive intact, and the log line / route stats must count it in "up", like a tunnel does.
describe('through HTTP forwarding (absolute-URI POST)', () => {
  let web: Origin;
  beforeAll(async () => {
    web = await startHttpOrigin();
  });
  afterAll(async () => {
    await web?.close();
  });

  test.each([
    { label: '8 KiB', n: 8 * KiB },
    { label: '16 MiB', n: 16 * MiB },
  ])('a $label POST body is echoed intact and counted in the log line\'s "up" bytes', async ({ n }) => {
    const body = Buffer.concat(Array.from({ length: Math.ceil(n / MiB) }, (_, i) => origin.stream.chunk(i))).subarray(0, n);
    const r = await forwardPost(d.httpPort, `http://127.0.0.1:${web.port}/echo`, body);
    expect(r.status).toBe(200);
    expect(r.bytes).toBe(n);
    expect(r.sha256).toBe(createHash('sha256').update(body).digest('hex'));

    const line = await tunnelLine(r.localPort, 'forward');
    expect(line).toMatchObject({ inbound: 'http', mode: 'forward', route: 'DIRECT', target: `127.0.0.1:${web.port}` });
    expect(line?.error).toBeUndefined();
    expect(line?.down).toBeGreaterThanOrEqual(n); // the echoed body (plus the response head)
    expect(line?.up).toBeGreaterThanOrEqual(n); // the posted body (plus the request head)
  }, 60_000);
});
