// The server name read from real ClientHellos (Node's TLS, curl, openssl s_client), whole, cut
// anywhere, and re-framed across several records; and never an exception on random bytes. Each
// run prints its seed; HELLO_SEED=<seed> replays it.
import fc from 'fast-check';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseClientHello } from '../../src/protocol/tls-client-hello.js';
import { run } from '../fixtures/run.js';

const seed = Number(process.env.HELLO_SEED ?? Date.now() % 2 ** 31);
console.info(`tls-client-hello: seed ${seed} (replay with HELLO_SEED=${seed})`);

/** a TCP server that keeps the first bytes of each connection and then hangs up */
let server: ReturnType<typeof createServer>;
let port = 0;
const hellos: Array<(b: Buffer) => void> = [];
beforeAll(async () => {
  server = createServer((s: Socket) => {
    let got = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (parseClientHello(got).kind !== 'incomplete') {
        hellos.shift()?.(got);
        s.destroy();
      }
    });
    s.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
afterAll(() => server.close());

const captured = () => new Promise<Buffer>((resolve) => hellos.push(resolve));

async function nodeHello(servername: string | undefined): Promise<Buffer> {
  const hello = captured();
  const s = connect({ host: '127.0.0.1', port, ...(servername ? { servername } : {}), rejectUnauthorized: false });
  s.on('error', () => {});
  return hello;
}

/** the same handshake message in records of `size` bytes */
function reframe(hello: Buffer, size: number): Buffer {
  const message = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const records: Buffer[] = [];
  for (let at = 0; at < message.length; at += size) {
    const part = message.subarray(at, at + size);
    const head = Buffer.from([22, 3, 1, 0, 0]);
    head.writeUInt16BE(part.length, 3);
    records.push(head, part);
  }
  return Buffer.concat(records);
}

describe('the server name of a ClientHello', () => {
  test('Node, curl and openssl ask for proxy.golang.org; a client that names nothing has no server name', async () => {
    expect(parseClientHello(await nodeHello('proxy.golang.org'))).toEqual({ kind: 'ok', sni: 'proxy.golang.org' });
    expect(parseClientHello(await nodeHello('Registry.NPMJS.org'))).toEqual({ kind: 'ok', sni: 'registry.npmjs.org' });
    expect(parseClientHello(await nodeHello(undefined))).toEqual({ kind: 'ok', sni: undefined });
    const fromCurl = captured();
    const curl = run('curl', ['-sS', '--max-time', '5', '--connect-to', `pypi.org:443:127.0.0.1:${port}`, 'https://pypi.org/simple/']);
    expect(parseClientHello(await fromCurl)).toEqual({ kind: 'ok', sni: 'pypi.org' });
    await curl;
    const fromOpenssl = captured();
    const openssl = run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'sum.golang.org'], { timeoutMs: 5_000 });
    expect(parseClientHello(await fromOpenssl)).toEqual({ kind: 'ok', sni: 'sum.golang.org' });
    await openssl;
  });

  test('cut anywhere it is incomplete; re-framed in records of any size it reads the same', async () => {
    const hello = await nodeHello('files.pythonhosted.org');
    await fc.assert(fc.property(fc.integer({ min: 0, max: hello.length - 1 }), fc.integer({ min: 1, max: 600 }), (cut, size) => {
      expect(parseClientHello(hello.subarray(0, cut))).toEqual({ kind: 'incomplete' });
      const framed = reframe(hello, size);
      expect(parseClientHello(framed)).toEqual({ kind: 'ok', sni: 'files.pythonhosted.org' });
    }), { seed, numRuns: 300 });
  });

  test('plain HTTP, SOCKS and random bytes are errors or incomplete, never an exception', () => {
    expect(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toEqual({ kind: 'error', reason: 'not a TLS handshake' });
    expect(parseClientHello(Buffer.from([5, 1, 0]))).toEqual({ kind: 'error', reason: 'not a TLS handshake' });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (random, asRecord) => {
      const bytes = asRecord ? Buffer.concat([Buffer.from([22, 3, 1, random.length >> 8, random.length & 0xff]), random]) : Buffer.from(random);
      expect(['incomplete', 'ok', 'error']).toContain(parseClientHello(bytes).kind);
    }), { seed, numRuns: 2_000 });
  });
});
