// Error answers on the HTTP listener: the status for the error class and a one-line reason.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { httpStatus, type ProxyError } from '../errors.js';
import { closeWith } from './listen.js';

function body(err: ProxyError): string {
  return `proxyd: ${err.message} (${err.cls})\n`;
}

/** On a response of the HTTP server (forwarding, origin-form). */
export function sendError(res: ServerResponse, err: ProxyError, status = httpStatus(err)): void {
  const text = body(err);
  const headers: Record<string, string | number> = {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'X-Proxyd-Error': err.cls,
  };
  if (status === 407) headers['Proxy-Authenticate'] = 'Basic realm="proxyd"';
  res.writeHead(status, headers).end(text);
}

/** On a raw socket (CONNECT answers, parse errors): a whole response, then close. */
export function sendRawError(socket: Socket, err: ProxyError, status = httpStatus(err)): void {
  const text = body(err);
  const extra = status === 407 ? 'Proxy-Authenticate: Basic realm="proxyd"\r\n' : '';
  closeWith(
    socket,
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\nX-Proxyd-Error: ${err.cls}\r\n${extra}Connection: close\r\n\r\n${text}`,
  );
}
