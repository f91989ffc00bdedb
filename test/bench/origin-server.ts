// The origin every tunnel goes to; run as its own process (a core of its own when
// it can get one) by origins.ts. Prints its ports as one JSON line on stdout.
//
//   source: the client sends a u64 BE byte count; the origin sends that many bytes and ends
//   echo:   sends back whatever arrives
//   hold:   sends one byte on accept, then holds the connection until the client closes
//   http:   "hello\n" with keep-alive (only used when nginx is not installed)
import http from 'node:http';
import net from 'node:net';

const CHUNK = Buffer.alloc(1 << 20, 0x61);

function source(sock: net.Socket): void {
  let head = Buffer.alloc(0);
  sock.on('data', function onData(b: Buffer) {
    head = Buffer.concat([head, b]);
    if (head.length < 8) return;
    sock.off('data', onData);
    let left = Number(head.readBigUInt64BE(0));
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, CHUNK.length);
        left -= n;
        if (!sock.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void sock.once('drain', pump);
      }
      sock.end();
    };
    pump();
  });
}

function listen(onConn: (s: net.Socket) => void): Promise<number> {
  const srv = net.createServer({ noDelay: true }, (s) => {
    s.on('error', () => s.destroy());
    onConn(s);
  });
  return new Promise((resolve) => srv.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => resolve((srv.address() as net.AddressInfo).port)));
}

const httpServer = http.createServer({ keepAliveTimeout: 60_000 }, (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '6' });
  res.end('hello\n');
});
httpServer.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, async () => {
  const ports = {
    source: await listen(source),
    echo: await listen((s) => s.pipe(s)),
    hold: await listen((s) => { s.write('x'); s.resume(); }),
    http: (httpServer.address() as net.AddressInfo).port,
  };
  process.stdout.write(JSON.stringify(ports) + '\n');
});
