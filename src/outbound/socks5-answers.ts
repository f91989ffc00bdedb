// The answers of an upstream SOCKS5 proxy, read off its socket one whole message at a time: next()
// waits until its parser has a whole message, and fails on a malformed one or when the upstream
// closes first (mid-message: a truncated answer). What follows the last message (the target's
// first bytes) stays for whoever reads the socket next.
import type { Socket } from 'node:net';
import type { ProxyError } from '../errors.js';
import type { Parsed } from '../protocol/socks5.js';
import { upstreamFailure } from './upstream.js';

export class Socks5Answers {
  readonly #socket: Socket;
  readonly #upstream: string;
  #buf = Buffer.alloc(0);
  /** why no more bytes will come */
  #ended: ProxyError | undefined;
  #wake: (() => void) | undefined;

  constructor(socket: Socket, upstream: string) {
    this.#socket = socket;
    this.#upstream = upstream;
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
    socket.on('error', this.#onError);
    socket.resume(); // a socket handed on by an earlier hop comes paused
  }

  async next<T>(parse: (buf: Uint8Array) => Parsed<T>): Promise<T> {
    for (;;) {
      const parsed = parse(this.#buf);
      if (parsed.kind === 'ok') {
        this.#buf = this.#buf.subarray(parsed.length);
        return parsed;
      }
      if (parsed.kind === 'error') throw this.#garbled(parsed.reason);
      if (this.#ended) throw this.#buf.length ? this.#garbled(`closed after ${this.#buf.length} byte(s) of an answer`) : this.#ended;
      await new Promise<void>((resolve) => { this.#wake = resolve; });
    }
  }

  /** Stops reading; returns the bytes after the last message read. */
  stop(): Buffer {
    const s = this.#socket;
    s.removeListener('data', this.#onData);
    s.removeListener('end', this.#onEnd);
    s.removeListener('close', this.#onEnd);
    s.removeListener('error', this.#onError);
    s.pause(); // what follows is the target's: it waits for the relay
    return this.#buf;
  }

  #garbled(reason: string): ProxyError {
    return upstreamFailure(this.#upstream, 'protocol', `not a SOCKS5 answer (${reason})`, 'EPROTO');
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    this.#wakeUp();
  };

  readonly #onEnd = (): void => {
    this.#ended ??= upstreamFailure(this.#upstream, 'reset', 'closed the connection during the SOCKS5 handshake', 'ECONNRESET');
    this.#wakeUp();
  };

  readonly #onError = (err: NodeJS.ErrnoException): void => {
    this.#ended ??= upstreamFailure(this.#upstream, 'reset', `connection failed during the SOCKS5 handshake (${err.code ?? err.message})`, err.code ?? 'ECONNRESET', err);
    this.#wakeUp();
  };
}
