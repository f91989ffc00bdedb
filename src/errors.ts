// Stable error classes for everything that can go wrong on a connection, and how each class
// is told to a client: a SOCKS5 reply code, an HTTP status, a log field.

export type ErrorClass =
  | 'dns' // the name did not resolve
  | 'refused' // the target (or upstream) answered with RST
  | 'unreachable' // no route to the network or host
  | 'timeout' // connect or handshake took too long
  | 'reset' // an established stream was torn down
  | 'rejected' // a rule said REJECT, or a loop was detected
  | 'auth' // client credentials missing or wrong
  | 'protocol'; // malformed or unsupported input

export const ERROR_CLASSES: readonly ErrorClass[] = [
  'dns', 'refused', 'unreachable', 'timeout', 'reset', 'rejected', 'auth', 'protocol',
];

export class ProxyError extends Error {
  readonly cls: ErrorClass;
  /** errno-style code of the underlying failure, when there was one (ENETUNREACH …) */
  readonly code: string | undefined;
  constructor(cls: ErrorClass, message: string, code?: string) {
    super(message);
    this.name = 'ProxyError';
    this.cls = cls;
    this.code = code;
  }
}

const CLASS_BY_CODE: Record<string, ErrorClass> = {
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EAI_FAIL: 'dns',
  EAI_NODATA: 'dns',
  EAI_NONAME: 'dns',
  ECONNREFUSED: 'refused',
  ENETUNREACH: 'unreachable',
  EHOSTUNREACH: 'unreachable',
  EHOSTDOWN: 'unreachable',
  EADDRNOTAVAIL: 'unreachable',
  ENETDOWN: 'unreachable',
  EAFNOSUPPORT: 'unreachable',
  ETIMEDOUT: 'timeout',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  ECONNABORTED: 'reset',
  UND_ERR_SOCKET: 'reset',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
};

/** Turns any thrown value into a ProxyError with a class and a one-line reason. */
export function classify(err: unknown): ProxyError {
  if (err instanceof ProxyError) return err;
  const e = err as NodeJS.ErrnoException & { cause?: unknown };
  // undici wraps the connect error (ours) in its own; the cause tells what happened
  if (e && e.cause instanceof ProxyError) return e.cause;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  // an HTTP parser (undici's, reading an upstream response) refused malformed input
  const malformed = e?.name === 'HTTPParserError' || code?.startsWith('HPE_');
  const cls = malformed ? 'protocol' : (code && CLASS_BY_CODE[code]) || 'reset';
  const message = (e?.message ?? String(err)).split('\n')[0] ?? 'unknown error';
  return new ProxyError(cls, message, code);
}

/** RFC 1928 reply code for a failure. */
export function socksReplyCode(err: ProxyError): number {
  switch (err.cls) {
    case 'rejected': return 0x02; // connection not allowed by ruleset
    case 'unreachable': return err.code === 'ENETUNREACH' || err.code === 'ENETDOWN' ? 0x03 : 0x04;
    case 'dns': return 0x04; // host unreachable
    case 'refused': return 0x05;
    case 'timeout': return 0x06; // TTL expired: what curl reports as a timeout
    default: return 0x01; // general SOCKS server failure
  }
}

/** HTTP status for a failure answered on the HTTP listener. */
export function httpStatus(err: ProxyError): number {
  switch (err.cls) {
    case 'rejected': return 403;
    case 'timeout': return 504;
    case 'auth': return 407;
    case 'protocol': return 400;
    default: return 502;
  }
}
