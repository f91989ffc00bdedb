// A hostile mirror upstream against the promise "a mirror never serves an artifact that fails its
// check", and against the daemon's memory: each attack that once worked, reproduced on loopback.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Connections } from '../../src/control/api.js';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { startDaemonProcess } from '../fixtures/daemon-process.js';
import { testSumdb } from '../fixtures/module-origin.js';
import { proxyctlJson } from '../fixtures/proxyctl.js';
import { startPypiIndex, type PypiIndex } from '../fixtures/pypi-index.js';
import { curl } from '../fixtures/run.js';

const SUMDB_KEY = testSumdb().key;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `proxyd-hostile-${name}-`));
const get = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
};

/** an HTTP upstream answering every request with `answer` */
async function upstream(answer: (path: string, res: ServerResponse) => void): Promise<{ server: Server; base: string; paths: string[]; close(): Promise<void> }> {
  const paths: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    answer(req.url ?? '', res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server, paths, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

describe('the pypi mirror against an upstream that serves other wheels than its pages list', () => {
  let bad: PypiIndex;
  let good: PypiIndex;
  let d: TestDaemon;
  let root: string;
  const PROJECTS = { 'Hello.Fixture': { '1.0.0': {}, '1.1.0': {} } };
  const config = () => `mirrors:
  - { name: pypi, kind: pypi, path: /pypi, upstreams: ['${bad.base}', '${good.base}'], check: { interval: 1h } }
cache: { dir: ${join(root, 'cache')} }
`;

  beforeAll(async () => {
    root = tmp('pypi');
    [bad, good] = await Promise.all([startPypiIndex(structuredClone(PROJECTS)), startPypiIndex(structuredClone(PROJECTS))]);
    bad.corrupt('Hello.Fixture', '1.0.0', 'content');
    bad.corrupt('Hello.Fixture', '1.1.0', 'content');
    d = await startTestDaemon(config());
  });
  afterAll(async () => {
    await d?.stop({ now: true });
    await Promise.all([bad?.close(), good?.close()]);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test('a file asked for before its index page: the page is read first, and the wheel that does not match it is refused', async () => {
    const wheel = good.files('Hello.Fixture', '1.1.0')[0]!;
    const got = await get(`http://127.0.0.1:${d.httpPort}/pypi/files/${wheel.filename}`);
    expect(got.status).toBe(200);
    expect(sha256(got.body)).toBe(wheel.sha256);
    expect(bad.requests.map((r) => r.path)).toContain('/simple/hello-fixture/');
    expect(d.logs.some((l) => l.upstream === bad.base.replace('http://', '') && String(l.msg).includes('its sha256 is not the one the index page of hello-fixture gives'))).toBe(true);
  });

  test('an encoded ? in a file path (…whl%3Fx=/y.whl) is 400 before any upstream is asked; the plain path serves the wheel its page lists', async () => {
    const wheel = good.files('Hello.Fixture', '1.0.0')[0]!;
    const asked = bad.requests.length + good.requests.length;
    const attack = await curl(['-w', '\n%{http_code}', `http://127.0.0.1:${d.httpPort}/pypi/files/${wheel.filename}%3Fx=/y.whl`]);
    expect(attack.stdout.split('\n').pop()).toBe('400');
    expect(bad.requests.length + good.requests.length).toBe(asked);
    const plain = await get(`http://127.0.0.1:${d.httpPort}/pypi/files/${wheel.filename}`);
    expect(plain.status).toBe(200);
    expect(sha256(plain.body)).toBe(wheel.sha256);
  });
});

describe('artifacts that nothing lists are served to whoever asked, and never stored', () => {
  test('a wheel no index page lists and a tarball no packument lists: asked twice, fetched twice', async () => {
    const root = tmp('unlisted');
    const bytes = Buffer.from('not listed anywhere\n');
    const loose = await upstream((path, res) => {
      if (/\.(whl|tgz)$/.test(path)) res.end(bytes);
      else res.writeHead(404).end('not found\n');
    });
    const d = await startTestDaemon(`mirrors:
  - { name: pypi, kind: pypi, path: /pypi, upstreams: ['${loose.base}'], check: { interval: 1h } }
  - { name: npm, kind: npm, path: /npm, upstreams: ['${loose.base}'], check: { interval: 1h } }
cache: { dir: ${join(root, 'cache')} }
`);
    try {
      for (const path of ['/pypi/packages/aa/bb/unlisted-1.0-py3-none-any.whl', '/npm/unlisted/-/unlisted-1.0.0.tgz']) {
        for (let i = 0; i < 2; i++) {
          const got = await get(`http://127.0.0.1:${d.httpPort}${path}`);
          expect(got.status).toBe(200);
          expect(got.body.equals(bytes)).toBe(true);
        }
        const file = path.slice(path.lastIndexOf('/'));
        expect(loose.paths.filter((p) => p.endsWith(file)), path).toHaveLength(2);
      }
      expect(readdirSync(join(root, 'cache', 'objects'))).toEqual([]);
    } finally {
      await d.stop({ now: true });
      await loose.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('fetches with an end', () => {
  test('a version list that never ends is cut at its limit: 502 for the client, and the upstream connection is closed', async () => {
    let sent = 0;
    const endless = await upstream((_path, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'v1.0.0\n');
      const more = () => {
        let room = true;
        while (!res.destroyed && room) {
          room = res.write(chunk);
          sent += chunk.length;
        }
        if (!res.destroyed) res.once('drain', more);
      };
      res.on('close', () => endless.server.emit('cut'));
      more();
    });
    const d = await startTestDaemon(`mirrors:\n  - { name: go, kind: goproxy, sumdb-key: '${SUMDB_KEY}', upstreams: ['${endless.base}'], check: { interval: 1h } }\n`);
    try {
      const cut = once(endless.server, 'cut');
      const got = await get(`http://127.0.0.1:${d.httpPort}/go/example.com/endless/@v/list`);
      expect(got.status).toBe(502);
      expect(got.body.toString()).toContain('sent more than 4194304 bytes for /example.com/endless/@v/list');
      await cut;
      expect(sent).toBeGreaterThan(4 * 1024 * 1024);
      expect(sent).toBeLessThan(16 * 1024 * 1024); // the limit, and what the socket buffers held
    } finally {
      await d.stop({ now: true });
      await endless.close();
    }
  });

  test('a body that trickles in a byte at a time ends at the fetch deadline (24 check timeouts for a document)', async () => {
    const trickle = await upstream((_path, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('v'), 200);
      res.on('close', () => clearInterval(timer));
    });
    const d = await startTestDaemon(`mirrors:\n  - { name: go, kind: goproxy, sumdb-key: '${SUMDB_KEY}', upstreams: ['${trickle.base}'], check: { interval: 1h, timeout: 100ms } }\n`);
    try {
      const got = await get(`http://127.0.0.1:${d.httpPort}/go/example.com/slow/@v/list`);
      expect(got.status).toBe(502);
      expect(got.body.toString()).toContain('did not finish /example.com/slow/@v/list within 2 s');
    } finally {
      await d.stop({ now: true });
      await trickle.close();
    }
  });

  test('a client that leaves while its zip is being fetched is gone from proxyctl connections at once', async () => {
    const hanging = await upstream(() => {}); // accepts, never answers (within the 30 s a phase may take)
    const d = await startTestDaemon(`mirrors:\n  - { name: go, kind: goproxy, sumdb-key: '${SUMDB_KEY}', upstreams: ['${hanging.base}'], check: { interval: 1h, timeout: 5s } }\n`);
    try {
      const aborted = new AbortController();
      const request = fetch(`http://127.0.0.1:${d.httpPort}/go/example.com/hang/@v/v1.0.0.zip`, { signal: aborted.signal }).catch(() => 'left');
      await expect.poll(() => hanging.paths.filter((p) => p.endsWith('.zip'))).toHaveLength(1);
      const open = await proxyctlJson(d.controlPath!, ['connections'], Connections);
      expect(open.connections.map((c) => c.route)).toEqual(['go']);
      aborted.abort();
      expect(await request).toBe('left');
      await expect.poll(async () => (await proxyctlJson(d.controlPath!, ['connections'], Connections)).connections, { timeout: 3_000 }).toEqual([]);
    } finally {
      await d.stop({ now: true });
      await hanging.close();
    }
  });
});

describe('memory against endless artifacts', () => {
  test('six endless zips at once: the daemon stays within its memory budget, the bodies go to files under the cache, removed when the fetches fail', async () => {
    const root = tmp('endless');
    let sent = 0;
    const streams = new Set<ServerResponse>();
    const endless = await upstream((_path, res) => {
      res.writeHead(200, { 'content-type': 'application/zip' });
      streams.add(res);
      const chunk = Buffer.alloc(1024 * 1024, 1);
      const more = () => {
        let room = true;
        while (!res.destroyed && room && sent < 6 * 96 * 1024 * 1024) {
          room = res.write(chunk);
          sent += chunk.length;
        }
        if (!res.destroyed && sent < 6 * 96 * 1024 * 1024) res.once('drain', more);
      };
      more();
    });
    const d = await startDaemonProcess(`mirrors:\n  - { name: go, kind: goproxy, sumdb-key: '${SUMDB_KEY}', upstreams: ['${endless.base}'], check: { interval: 1h } }\ncache: { dir: ${join(root, 'cache')} }\n`);
    try {
      const before = d.rssBytes();
      const clients = Array.from({ length: 6 }, (_, i) => get(`http://127.0.0.1:${d.http}/go/example.com/endless${i}/@v/v1.0.0.zip`));
      await expect.poll(() => sent, { timeout: 60_000 }).toBeGreaterThanOrEqual(6 * 96 * 1024 * 1024);
      const grown = d.rssBytes() - before;
      expect(grown, `RSS grew ${Math.round(grown / 2 ** 20)} MiB with 576 MiB of bodies in flight`).toBeLessThan(160 * 1024 * 1024);
      expect(readdirSync(join(root, 'cache', 'tmp')).length).toBe(6);
      for (const res of streams) res.destroy(); // the upstream dies mid-body
      for (const answer of await Promise.all(clients)) expect(answer.status).toBe(502);
      await expect.poll(() => readdirSync(join(root, 'cache', 'tmp'))).toEqual([]);
    } finally {
      await d.stop();
      await endless.close();
      rmSync(root, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('redirects', () => {
  test.each(['localhost', 'cdn.test'])('an upstream that redirects to https://%s:PORT/ (this host) is refused, and nothing connects there', async (host) => {
    let connections = 0;
    const local = createTcpServer((s) => {
      connections++;
      s.destroy();
    });
    local.listen(0, '127.0.0.1');
    await once(local, 'listening');
    const target = `https://${host}:${(local.address() as AddressInfo).port}`;
    const redirector = await upstream((path, res) => res.writeHead(302, { location: `${target}${path}` }).end());
    const d = await startTestDaemon(`hosts: { cdn.test: 127.0.0.1 }
mirrors:
  - { name: go, kind: goproxy, sumdb-key: '${SUMDB_KEY}', upstreams: ['${redirector.base}'], check: { interval: 1h } }
`);
    try {
      const got = await get(`http://127.0.0.1:${d.httpPort}/go/example.com/hello/@v/list`);
      expect(got.status).toBe(502);
      expect(got.body.toString()).toContain(`redirected to ${target}: it names this host or its link (loopback, link-local or unspecified address)`);
      expect(connections).toBe(0);
    } finally {
      await d.stop({ now: true });
      await redirector.close();
      local.close();
    }
  });
});
