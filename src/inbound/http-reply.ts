// Error answers on the HTTP listener: the status for the error class and a one-line reason.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { httpStatus, type ProxyError } from '../errors.js';
import { closeWith } from './close.js';

function body(err: ProxyError): string {
  return `proxyd: ${err.message} (${err.cls})\n`;
}

/** Challenge headers for the statuses that ask for credentials. */
function challenge(status: number): Record<string, string> {
  if (status === 407) return { 'Proxy-Authenticate': 'Basic realm="proxyd"' };
  if (status === 401) return { 'WWW-Authenticate': 'Basic realm="proxyd"' };
  return {};
}

/** On a response of the HTTP server (forwarding, origin-form). */
export function sendError(res: ServerResponse, err: ProxyError, status = httpStatus(err)): void {
  const text = body(err);
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'X-Proxyd-Error': err.cls,
    ...challenge(status),
  }).end(text);
}

/** On a raw socket (CONNECT answers, parse errors): a whole response, then close. */
export function sendRawError(socket: Socket, err: ProxyError, status = httpStatus(err)): void {
  const text = body(err);
  const extra = Object.entries(challenge(status)).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  closeWith(
    socket,
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\nX-Proxyd-Error: ${err.cls}\r\n${extra}Connection: close\r\n\r\n${text}`,
  );
}
