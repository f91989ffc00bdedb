// The hostile client's raw sockets: opened from attacker addresses (127.0.0.2 and up, so
// that the legitimate client on 127.0.0.1 is another client address to the daemon),
// tracked so that every one of them is closed after each attack.
import net from 'node:net';
import { sleep } from '../proc.ts';

/** The n-th of `spread` attacker addresses (127.0.0.2, 127.0.0.3, ...). */
export function attackerAddress(n = 0, spread = 1): string {
  return `127.0.0.${2 + (n % spread)}`;
}

export class Attacker {
  readonly #sockets = new Set<net.Socket>();

  /** A connection to 127.0.0.1:port from `from`; errors (resets) are expected and ignored. */
  connect(port: number, from: string, allowHalfOpen = false): net.Socket {
    const s = net.connect({ port, host: '127.0.0.1', localAddress: from, allowHalfOpen });
    s.on('error', () => undefined);
    this.#sockets.add(s);
    s.once('close', () => this.#sockets.delete(s));
    return s;
  }

  closeAll(): void {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }
}

export interface Reply {
  data: Buffer;
  /** the daemon ended or reset the connection (or it never connected) */
  closed: boolean;
  timedOut: boolean;
  ms: number;
}

/**
 * Writes `payload` once connected and collects what comes back until `complete(data)` (when
 * given), the connection closes, or timeoutMs. The socket is left as it is: the caller closes it.
 */
export function exchange(s: net.Socket, payload: string | Buffer, timeoutMs: number, complete?: (data: Buffer) => boolean): Promise<Reply> {
  const t0 = Date.now();
  const chunks: Buffer[] = [];
  return new Promise((resolve) => {
    const finish = (closed: boolean, timedOut: boolean) => {
      clearTimeout(timer);
      s.off('data', onData);
      s.off('end', onEnd);
      s.off('close', onEnd);
      resolve({ data: Buffer.concat(chunks), closed, timedOut, ms: Date.now() - t0 });
    };
    const onData = (b: Buffer) => {
      chunks.push(b);
      if (complete?.(Buffer.concat(chunks))) finish(false, false);
    };
    const onEnd = () => finish(true, false);
    const timer = setTimeout(() => finish(false, true), timeoutMs);
    if (s.destroyed) return finish(true, false);
    s.on('data', onData);
    s.once('end', onEnd);
    s.once('close', onEnd);
    if (s.connecting) s.once('connect', () => s.write(payload));
    else s.write(payload);
  });
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** The complete HTTP/1.1 responses at the start of `data` (bodies by Content-Length, none without it). */
export function httpAnswers(data: Buffer): HttpAnswer[] {
  const out: HttpAnswer[] = [];
  let rest = data;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0 || !rest.subarray(0, 5).equals(Buffer.from('HTTP/'))) return out;
    const head = rest.subarray(0, end).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (rest.length < end + 4 + length) return out;
    out.push({ status: Number(head.slice(9, 12)), body: rest.subarray(end + 4, end + 4 + length).toString() });
    rest = rest.subarray(end + 4 + length);
  }
}

/** Polls `condition` every 50 ms; false if it is still not true after timeoutMs. */
export async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}

/** "38 × 200, 1 × 503": how often each value occurs, most frequent first. */
export function tally(values: Array<string | number>): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(String(v), (counts.get(String(v)) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([v, n]) => `${n.toLocaleString('en')} × ${v}`).join(', ') || 'nothing';
}
