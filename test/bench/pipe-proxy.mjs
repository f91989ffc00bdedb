// The minimal Node HTTP CONNECT proxy the bench compares with: net + pipe, nothing else.
// Usage: node pipe-proxy.mjs PORT
import net from 'node:net';

net.createServer({ noDelay: true }, (client) => {
  let head = Buffer.alloc(0);
  client.on('error', () => client.destroy());
  client.on('data', function onHead(chunk) {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    client.off('data', onHead);
    client.pause();
    const m = /^CONNECT \[?([^\]\s]+?)\]?:(\d+) HTTP/.exec(head.subarray(0, end).toString('latin1'));
    if (!m) return client.end('HTTP/1.1 405 Method Not Allowed\r\n\r\n');
    const upstream = net.connect({ host: m[1], port: Number(m[2]), noDelay: true });
    upstream.on('error', () => { client.destroy(); upstream.destroy(); });
    client.on('close', () => upstream.destroy());
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > end + 4) upstream.write(head.subarray(end + 4));
      client.pipe(upstream).pipe(client);
    });
  });
}).listen({ port: Number(process.argv[2]), host: '127.0.0.1', backlog: 4096 });
