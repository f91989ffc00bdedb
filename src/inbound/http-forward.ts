// Absolute-URI forwarding (`GET http://host/path HTTP/1.1` sent to the proxy).
//
//   client ──request──► proxyd ──route──► pooled upstream connection (keep-alive, per route)
//   client ◄──response (streamed, backpressured, hop-by-hop headers dropped, Via added)── origin
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import { performance } from 'node:perf_hooks';
import type { Engine, Routed } from '../engine.js';
import { classify, ProxyError } from '../errors.js';
import { endToEndHeaders, responseHeaders } from '../protocol/http-headers.js';
import { nextSessionId, normalizeHost, type Session } from '../session.js';
import { sendError } from './http-reply.js';

export async function forward(req: IncomingMessage, res: ServerResponse, engine: Engine, via: string, user?: string): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url!);
  } catch {
    return sendError(res, new ProxyError('protocol', `"${req.url}" is not a valid absolute URI`));
  }
  const host = normalizeHost(url.hostname);
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !host) {
    return sendError(res, new ProxyError('protocol', `cannot forward "${req.url}": only http:// and https:// URIs`));
  }
  const socket = req.socket;
  const session: Session = {
    id: nextSessionId(),
    inbound: 'http',
    mode: 'forward',
    client: { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
    target: { host, port: Number(url.port) || (url.protocol === 'https:' ? 443 : 80) },
  };
  if (user !== undefined) session.user = user;
  const started = performance.now();
  let routed: Routed | undefined;
  let error: ProxyError | undefined;
  // a client that goes quiet mid-request (an announced body that never comes) is cut off
  let idle: ProxyError | undefined;
  req.setTimeout(engine.limits.idleTimeoutMs, () => {
    idle = new ProxyError('timeout', `client idle for ${engine.limits.idleTimeoutMs} ms`);
    if (res.headersSent) return void socket.destroy(idle);
    res.setHeader('Connection', 'close');
    sendError(res, idle, 408); // ends the response: the exchange upstream is then abandoned
  });
  try {
    routed = await engine.route(session);
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    await relayExchange(engine.pool(routed), res, via, {
      origin: url.origin,
      path: rawPath(req.url!),
      method: req.method!,
      headers: endToEndHeaders(req.rawHeaders, via),
      body: hasBody ? req : null,
    });
  } catch (e) {
    error = idle ?? classify(e);
    // the request was already accepted: a protocol error now is the upstream's, hence 502
    if (!res.headersSent) sendError(res, error, error.cls === 'protocol' ? 502 : undefined);
    else res.destroy(); // mid-body: the client must see a broken message, not a short one
  } finally {
    const result = bytesSinceLastExchange(socket);
    engine.finish(session, routed, started, error ? { ...result, error } : result);
  }
}

/**
 * The path and query exactly as the client wrote them (RFC 9110 §7.7: a proxy does not rewrite
 * them); URL parsing would resolve dot segments and re-encode characters.
 */
function rawPath(absoluteUri: string): string {
  const authority = absoluteUri.indexOf('//') + 2;
  const end = absoluteUri.slice(authority).search(/[/?#]/);
  if (end < 0) return '/';
  const rest = absoluteUri.slice(authority + end).split('#')[0]!;
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** Per client connection, the byte counts already charged to earlier requests. */
const charged = new WeakMap<Socket, { read: number; written: number }>();

/**
 * Bytes each way of the exchange that just ended: everything the connection moved since the
 * previous one ended, so the request head (read before forward() runs) counts too.
 */
function bytesSinceLastExchange(socket: Socket): { up: number; down: number } {
  const before = charged.get(socket) ?? { read: 0, written: 0 };
  const now = { read: socket.bytesRead, written: socket.bytesWritten };
  charged.set(socket, now);
  return { up: now.read - before.read, down: now.written - before.written };
}

/**
 * One request/response exchange on a pooled upstream connection, through undici's handler
 * interface (no intermediate streams): the response is written to the client as it arrives, and
 * the upstream read pauses while the client's socket is full.
 */
function relayExchange(pool: Dispatcher, res: ServerResponse, via: string, request: Dispatcher.DispatchOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    pool.dispatch(request, {
      onRequestStart(controller) {
        // the response closed before the exchange ended: the client left, or we answered it ourselves
        const abandon = () => settled || controller.abort(new ProxyError('reset', 'client connection closed mid-exchange'));
        if (res.destroyed) abandon();
        else res.once('close', abandon);
      },
      onResponseStart(controller, statusCode, headers) {
        if (statusCode < 200) return; // 1xx informational: not passed on
        try {
          res.writeHead(statusCode, responseHeaders(headers, via));
        } catch (err) {
          // a header Node will not send (a value with a forbidden character): fail this exchange only
          return controller.abort(new ProxyError('protocol', `upstream response not forwardable: ${(err as Error).message}`));
        }
        res.on('drain', () => controller.resume());
      },
      onResponseData(controller, chunk) {
        if (!res.write(chunk)) controller.pause();
      },
      onResponseEnd() {
        settled = true;
        res.end();
        resolve();
      },
      onResponseError(_controller, err) {
        settled = true;
        reject(err);
      },
    });
  });
}
