// The origin of the workload rows: a registry on loopback that waits a fixed delay before each
// answer (default 20 ms: a distant registry), serving what a generator made (npm packuments and
// tarballs, GOPROXY files and checksum-database lookups, a PyPI simple index and wheels).
//
// What a real registry does with documents, it does too, so that a mirror that revalidates or asks
// for compressed documents gains here as it would there: every answer has a strong ETag and a
// matching If-None-Match is 304 (after the same delay); documents (`doc: true`) are gzipped when
// the request accepts gzip. Requests are counted, and 304s among them.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gzipSync } from 'node:zlib';

export interface Served {
  body: Buffer;
  type: string;
  /** a document (JSON, HTML, a version list): gzipped for clients that accept it */
  doc?: boolean;
}

/** What the origin serves at a path (without the query), or undefined for 404. */
export type Route = (path: string, req: IncomingMessage) => Served | undefined;

export interface DelayedOrigin {
  port: number;
  base: string;
  /** ms waited before each answer; may be changed between runs */
  delayMs: number;
  counts(): { requests: number; notModified: number; bytes: number };
  resetCounts(): void;
  close(): Promise<void>;
}

export async function startDelayedOrigin(route: Route, delayMs: number): Promise<DelayedOrigin> {
  const etags = new WeakMap<Buffer, string>();
  const gzipped = new WeakMap<Buffer, Buffer>();
  let requests = 0;
  let notModified = 0;
  let bytes = 0;
  const sockets = new Set<Socket>();
  const origin: DelayedOrigin = {
    port: 0,
    base: '',
    delayMs,
    counts: () => ({ requests, notModified, bytes }),
    resetCounts: () => void (requests = notModified = bytes = 0),
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
  const server: Server = createServer((req, res) => {
    requests++;
    const answer = () => {
      let found: Served | undefined;
      try {
        const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
        if (req.method === 'GET' || req.method === 'HEAD') found = route(path, req);
      } catch { /* a malformed path: 404 */ }
      if (!found) {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        return void res.end('{"error":"Not found"}');
      }
      let etag = etags.get(found.body);
      if (!etag) etags.set(found.body, (etag = `"${createHash('sha1').update(found.body).digest('base64url')}"`));
      const vary: Record<string, string> = found.doc ? { Vary: 'Accept, Accept-Encoding' } : {};
      if (req.headers['if-none-match']?.split(/\s*,\s*/).includes(etag)) {
        notModified++;
        res.writeHead(304, { ETag: etag, ...vary });
        return void res.end();
      }
      let body = found.body;
      const headers: Record<string, string> = { 'Content-Type': found.type, ETag: etag, ...vary };
      if (found.doc && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
        let gz = gzipped.get(found.body);
        if (!gz) gzipped.set(found.body, (gz = gzipSync(found.body)));
        body = gz;
        headers['Content-Encoding'] = 'gzip';
      }
      headers['Content-Length'] = String(body.length);
      bytes += body.length;
      res.writeHead(200, headers);
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    // the delay stands for the round trip to a distant registry: before the answer, after the request
    if (origin.delayMs > 0) setTimeout(answer, origin.delayMs);
    else answer();
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin.port = (server.address() as AddressInfo).port;
  origin.base = `http://127.0.0.1:${origin.port}`;
  return origin;
}
