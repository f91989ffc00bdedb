// How a mirror reads a request and writes its answer: the path decoded once (and refused when it
// could step out of an upstream's base path), the Host header checked, bodies sent from memory,
// from a file, or from the disk cache with backpressure.
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { ProxyError } from '../errors.js';
import type { HttpAnswer, HttpRequest } from '../protocol/http-exchange.js';

/**
 * The path decoded, and its query as sent; undefined when it does not decode or, decoded, could
 * step out of an upstream's base path (`.` or `..` segments, a backslash, a `%` left over from
 * double encoding: URL parsers resolve those) or holds a `?` or `#` of its own (`%3F`): the path
 * that names an artifact is the same for its cache key, its upstream URL and its check.
 */
export function decodePath(raw: string): { path: string; query: string } | undefined {
  const q = raw.indexOf('?');
  let path: string;
  try {
    path = decodeURIComponent(q < 0 ? raw : raw.slice(0, q));
  } catch {
    return undefined;
  }
  if (/[\\%\0?#]/.test(path) || path.split('/').some((s) => s === '.' || s === '..')) return undefined;
  return { path, query: q < 0 ? '' : raw.slice(q) };
}

/** a Host header that names this machine: an IP address, localhost (with any port) */
export function loopbackName(host: string | undefined): boolean {
  if (!host) return true;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d*$/, '');
  return isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost');
}

export function headerOf(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === name) return headers[i + 1];
  return undefined;
}

export function send(answer: HttpAnswer, request: HttpRequest, status: number, type: string, body: Buffer, extra: Record<string, string> = {}): void {
  const headers = ['Content-Type', type, 'Content-Length', String(body.length), ...Object.entries(extra).flat()];
  answer.head(status, headers);
  if (request.method !== 'HEAD') answer.write(body);
  answer.end();
}

/**
 * A body from a file or the disk cache to the client, with backpressure; a stream that fails (a
 * cached file that fails its hash) cuts the answer, so the client sees it broken, not short.
 */
export function stream(answer: HttpAnswer, request: HttpRequest, status: number, type: string, size: number, body: Readable): Promise<void> {
  if (answer.closed) {
    body.destroy(); // the client left while the body was being fetched or checked
    return Promise.resolve();
  }
  answer.head(status, ['Content-Type', type, 'Content-Length', String(size)]);
  if (request.method === 'HEAD') {
    body.destroy();
    answer.end();
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (err?: ProxyError) => {
      if (settled) return;
      settled = true;
      body.destroy();
      if (err) reject(err);
      else resolve();
    };
    answer.onDrain(() => body.resume());
    answer.onClose(() => settle()); // the client left (or the answer ended): the file is closed either way
    body.on('data', (chunk: Buffer) => {
      if (!answer.write(chunk)) body.pause();
    });
    body.once('end', () => {
      answer.end();
      settle();
    });
    body.once('error', (err) => settle(new ProxyError('reset', `the body failed while it was sent: ${err.message}`, undefined, 'proxyd')));
    body.once('close', () => settle());
  });
}

/** a whole stream in memory (`discard`: only read it through, keep nothing) */
export async function readAll(body: Readable, discard = false): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) if (!discard) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
