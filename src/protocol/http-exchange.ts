// One HTTP request and its answer, as every stage sees them: the HTTP inbound makes them from
// its parser and its response, forwarding sends them upstream, a responder (a mirror) answers
// them itself. Only types: the wire format stays in node:http and undici.
import type { Readable } from 'node:stream';
import type { ProxyError } from '../errors.js';

/** requests one client connection may have in flight (and so upstream connections per forwarding pool) */
export const MAX_IN_FLIGHT = 6;

export interface HttpRequest {
  method: string;
  /** `http://host:port` or `https://host:port`: where the request goes (forwarding) or which host it named (origin-form) */
  origin: string;
  /** path and query exactly as the client sent them (RFC 9110 §7.7: a proxy does not rewrite them) */
  path: string;
  /** end-to-end headers as a flat [name, value, …] list; Host names the origin's authority */
  headers: string[];
  body: Readable | null;
}

/** How a response reaches the client, in the client's protocol (the inbound implements it). */
export interface HttpAnswer {
  /** the response head; throws when it cannot be sent (a header the HTTP writer refuses) */
  head(status: number, headers: string[]): void;
  /** false when the client is full: stop until onDrain */
  write(chunk: Uint8Array): boolean;
  end(): void;
  /** an error answer; once the head has gone, the message is cut so the client sees it broken, not short */
  fail(err: ProxyError, status?: number): void;
  onDrain(fn: () => void): void;
  /** the client connection closed or the answer ended, whichever comes first */
  onClose(fn: () => void): void;
  readonly closed: boolean;
  /** bytes each way on the client connection for this exchange, request head included */
  bytes(): { up: number; down: number };
  /** when the head was sent (performance.now()), for time-to-first-byte */
  readonly headAt: number | undefined;
}
