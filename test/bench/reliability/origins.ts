// The servers behind the daemon under attack, in the harness process:
//
//   http:   GET /hello → HELLO (the legitimate client's page); GET /n/TEXT → TEXT;
//           GET /big?n=BYTES → BYTES bytes. Counts the upstream connections that carried
//           an attacker's request (/n or /big): accepted, open now, most open at once.
//   silent: accepts TCP and never sends a byte (an https:// origin that never speaks TLS).
import http from 'node:http';
import net from 'node:net';

export const HELLO = 'hello from origin';

const MiB = 1 << 20;
const ZEROS = Buffer.alloc(MiB);

export interface ConnectionCounts {
  accepted: number;
  open: number;
  maxOpen: number;
}

export interface HttpOrigin {
  port: number;
  /** upstream connections that carried an attacker's request, and the attacker requests that reached the origin */
  attacker: ConnectionCounts & { requests: number };
  /** zeroes the counters before an attack (open connections stay counted as open) */
  reset(): void;
  close(): Promise<void>;
}

export interface SilentOrigin {
  port: number;
  connections: ConnectionCounts;
  close(): Promise<void>;
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => resolve((server.address() as net.AddressInfo).port)));
}

function counter(): ConnectionCounts {
  return { accepted: 0, open: 0, maxOpen: 0 };
}

/** Counts `socket` once as open until it closes. */
function track(counts: ConnectionCounts, socket: net.Socket): void {
  counts.accepted++;
  counts.maxOpen = Math.max(counts.maxOpen, ++counts.open);
  socket.once('close', () => counts.open--);
}

export async function startHttpOrigin(): Promise<HttpOrigin> {
  const attacker = { ...counter(), requests: 0 };
  const attackerSockets = new WeakSet<net.Socket>();
  const server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://origin');
    if (url.pathname === '/hello') return void res.end(HELLO);
    attacker.requests++;
    if (!attackerSockets.has(req.socket)) {
      attackerSockets.add(req.socket);
      track(attacker, req.socket);
    }
    if (url.pathname.startsWith('/n/')) return void res.end(url.pathname.slice(3));
    if (url.pathname === '/big') {
      const n = Math.min(Number(url.searchParams.get('n')) || 0, MiB);
      res.setHeader('content-length', n);
      return void res.end(ZEROS.subarray(0, n));
    }
    res.statusCode = 404;
    res.end('not here');
  });
  return {
    port: await listen(server),
    attacker,
    reset: () => Object.assign(attacker, { requests: 0, accepted: 0, maxOpen: attacker.open }),
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

export async function startSilentOrigin(): Promise<SilentOrigin> {
  const sockets = new Set<net.Socket>();
  const connections = counter();
  const server = net.createServer((s) => {
    track(connections, s);
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.resume(); // reads the ClientHello and never answers it
  });
  const port = await listen(server);
  return {
    port,
    connections,
    close: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}
