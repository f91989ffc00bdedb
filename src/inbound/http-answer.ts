// How the HTTP listener answers its client: a response as the engine's HttpAnswer, and error
// answers (the status for the error class, a one-line reason) on a response or on a raw socket.
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { httpStatus, type ProxyError } from '../errors.js';
import type { HttpAnswer } from '../protocol/http-exchange.js';
import { endToEndHeaders } from '../protocol/http-headers.js';
import { closeWith } from './close.js';

export class ResponseAnswer implements HttpAnswer {
  readonly #res: ServerResponse;
  readonly #via: string;
  /** kept: the response lets go of its socket when it finishes */
  readonly #socket: Socket | null;
  headAt: number | undefined;

  constructor(res: ServerResponse, via: string) {
    this.#res = res;
    this.#via = via;
    this.#socket = res.socket;
  }

  head(status: number, headers: string[]): void {
    this.headAt = performance.now();
    this.#res.writeHead(status, endToEndHeaders(headers, this.#via));
  }

  write(chunk: Uint8Array): boolean {
    return this.#res.write(chunk);
  }

  end(): void {
    this.#res.end();
  }

  fail(err: ProxyError, status?: number): void {
    if (!this.#res.headersSent) sendError(this.#res, err, status);
    else this.#res.destroy(); // mid-body: the client must see a broken message, not a short one
  }

  onDrain(fn: () => void): void {
    this.#res.on('drain', fn);
  }

  onClose(fn: () => void): void {
    this.#res.once('close', fn);
  }

  get closed(): boolean {
    return this.#res.destroyed || this.#res.writableEnded;
  }

  bytes(): { up: number; down: number } {
    return bytesSinceLastExchange(this.#socket);
  }
}

/** Per client connection, the byte counts already charged to earlier exchanges. */
const charged = new WeakMap<Socket, { read: number; written: number }>();

/**
 * Bytes each way of the exchange that just ended: everything the connection moved since the
 * previous one ended, so the request head (read before the exchange starts) counts too.
 */
function bytesSinceLastExchange(socket: Socket | null): { up: number; down: number } {
  if (!socket) return { up: 0, down: 0 };
  const before = charged.get(socket) ?? { read: 0, written: 0 };
  const now = { read: socket.bytesRead, written: socket.bytesWritten };
  charged.set(socket, now);
  return { up: now.read - before.read, down: now.written - before.written };
}

function body(err: ProxyError): string {
  return `proxyd: ${err.message} (${err.cls})\n`;
}

/** Challenge headers for the statuses that ask for credentials. */
function challenge(status: number): Record<string, string> {
  if (status === 407) return { 'Proxy-Authenticate': 'Basic realm="proxyd"' };
  if (status === 401) return { 'WWW-Authenticate': 'Basic realm="proxyd"' };
  return {};
}

/** An error answer on a response of the HTTP server (forwarding, origin-form). */
export function sendError(res: ServerResponse, err: ProxyError, status = httpStatus(err)): void {
  const text = body(err);
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'X-Proxyd-Error': err.cls,
    ...challenge(status),
  }).end(text);
}

/** An error answer on a raw socket (CONNECT answers, parse errors): a whole response, then close. */
export function sendRawError(socket: Socket, err: ProxyError, status = httpStatus(err)): void {
  const text = body(err);
  const extra = Object.entries(challenge(status)).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  closeWith(
    socket,
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\nX-Proxyd-Error: ${err.cls}\r\n${extra}Connection: close\r\n\r\n${text}`,
  );
}
