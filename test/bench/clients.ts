// Opening a tunnel to an origin port on 127.0.0.1: directly, through an HTTP CONNECT
// proxy, or through a SOCKS5 proxy. Tiny hand-written clients, the same cost for
// every proxy, so that differences are the proxy's.
//
// Sockets read into one reused buffer (net `onread`) instead of allocating a Buffer per
// 'data' event: with 'data', the load generator itself capped direct throughput at a
// fraction of what one proxy relayed.
import net from 'node:net';

export type Via = { kind: 'direct' } | { kind: 'http' | 'socks5'; port: number };

/** Data handler: `b` is a view of a shared buffer, valid only during the call. */
export type OnData = (b: Buffer) => void;

const shared = Buffer.allocUnsafe(64 * 1024); // safe to share: reads are handled one at a time
const CRLFCRLF = Buffer.from('\r\n\r\n');
const SOCKS_GREETING = Buffer.from([5, 1, 0]); // version 5, one method: no authentication

export class Tunnel {
  #early: Buffer[] = [];
  #keep: OnData = (b) => { this.#early.push(Buffer.from(b)); };
  #handler = this.#keep;

  constructor(readonly socket: net.Socket) {}

  /** Sets the data handler; bytes that arrived before it are handed over first. */
  set onData(fn: OnData) {
    this.#handler = fn;
    // One at a time: fn may hand over to another handler (park) midway.
    while (this.#early.length && this.#handler === fn) fn(this.#early.shift()!);
  }

  receive(b: Buffer): void { this.#handler(b); }

  /** Keeps `rest` and whatever follows until the next handler is set. */
  park(rest: Buffer): void {
    this.#handler = this.#keep;
    if (rest.length) this.#early.unshift(Buffer.from(rest)); // it came before anything still kept
  }

  destroy(): void { this.socket.destroy(); }
}

/** Resolves with a tunnel whose next byte comes from the origin. */
export function openTunnel(via: Via, originPort: number, timeoutMs = 10_000): Promise<Tunnel> {
  let tunnel: Tunnel;
  const sock = net.connect({
    port: via.kind === 'direct' ? originPort : via.port,
    host: '127.0.0.1',
    noDelay: true,
    onread: { buffer: shared, callback: (n) => { tunnel.receive(shared.subarray(0, n)); return true; } },
  });
  tunnel = new Tunnel(sock);
  sock.resume(); // so that 'end' is emitted
  return new Promise<Tunnel>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`handshake timeout after ${timeoutMs} ms`)), timeoutMs);
    const fail = (e: Error) => { clearTimeout(timer); sock.destroy(); reject(e); };
    const closed = () => fail(new Error('closed during handshake'));
    const done = () => { clearTimeout(timer); sock.off('error', fail); sock.off('close', closed); resolve(tunnel); };
    sock.once('error', fail);
    sock.once('close', closed);
    sock.once('connect', () => {
      if (via.kind === 'direct') return done();
      runSteps(tunnel, via.kind === 'http' ? connectSteps(originPort) : socksSteps(originPort)).then(done, fail);
    });
  });
}

/** A step sends a message, then reads until `need(buffer)` says the answer is complete. */
interface Step {
  send: Buffer;
  /** bytes of the answer once complete, or 0 to read more; throws on a bad answer */
  need: (b: Buffer) => number;
}

function connectSteps(port: number): Step[] {
  const send = Buffer.from(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  return [{
    send,
    need: (b) => {
      const end = b.indexOf(CRLFCRLF);
      if (end < 0) return 0;
      const status = b.subarray(0, b.indexOf('\r\n')).toString();
      if (!/^HTTP\/1\.[01] 200/.test(status)) throw new Error(`CONNECT answered: ${status}`);
      return end + 4;
    },
  }];
}

function socksSteps(port: number): Step[] {
  // Sent one after the other: some servers (microsocks) drop a request pipelined after the greeting.
  const request = Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 0xff]);
  return [
    { send: SOCKS_GREETING, need: (b) => {
      if (b.length < 2) return 0;
      if (b[0] !== 5 || b[1] !== 0) throw new Error(`SOCKS5 greeting answered ${b.subarray(0, 2).toString('hex')}`);
      return 2;
    } },
    { send: request, need: (b) => {
      if (b.length < 10) return 0; // IPv4 bound address expected back
      if (b[1] !== 0) throw new Error(`SOCKS5 reply code ${b[1]}`);
      return 10;
    } },
  ];
}

async function runSteps(tunnel: Tunnel, steps: Step[]): Promise<void> {
  for (const step of steps) {
    tunnel.socket.write(step.send);
    await new Promise<void>((resolve, reject) => {
      let got = Buffer.alloc(0);
      tunnel.onData = (b) => {
        got = Buffer.concat([got, b]);
        let n: number;
        try { n = step.need(got); } catch (e) { return reject(e); }
        if (!n) return;
        tunnel.park(got.subarray(n)); // bytes past the answer are for the next reader
        resolve();
      };
    });
  }
}
