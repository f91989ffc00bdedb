// Stable error classes for everything that can go wrong on a connection, the hop where it went
// wrong, and how each class is told to a client: a SOCKS5 reply code, an HTTP status, a log field.

export type ErrorClass =
  | 'dns' // the name did not resolve
  | 'refused' // the target (or upstream) answered with RST
  | 'unreachable' // no route to the network or host
  | 'blocked' // a local firewall or sandbox refused proxyd's connect (EPERM / EACCES): a network condition, not a bug
  | 'timeout' // connect, handshake or response took too long
  | 'reset' // an established stream was torn down
  | 'tls' // a TLS handshake proxyd made (https:// forwarding) failed
  | 'rejected' // a rule said REJECT, or a loop was detected
  | 'auth' // client credentials missing or wrong
  | 'protocol' // malformed or unsupported input
  | 'internal'; // a bug or a resource limit of proxyd itself: logged with its stack

export const ERROR_CLASSES: readonly ErrorClass[] = [
  'dns', 'refused', 'unreachable', 'blocked', 'timeout', 'reset', 'tls', 'rejected', 'auth', 'protocol', 'internal',
];

/**
 * Which hop of `client → proxyd → upstream proxy → origin` failed: the client (it left, went
 * quiet, sent garbage), proxyd itself (a rule, a limit, a bug), an upstream proxy, or the origin.
 */
type Hop = 'client' | 'proxyd' | 'upstream' | 'origin';

/** `code` of a refused loop: HTTP answers it 508, SOCKS5 0x02. */
export const LOOP = 'ELOOP';
/** `code` of an origin-form request at a path no mirror answers: HTTP 404. */
export const NO_ENDPOINT = 'ENOENT';

export class ProxyError extends Error {
  readonly cls: ErrorClass;
  /** errno-style code of the underlying failure, when there was one (ENETUNREACH …) */
  readonly code: string | undefined;
  hop: Hop | undefined;
  /**
   * The upstream proxy that reported this failure of the target (it answered "host unreachable"
   * or "refused" for it): the member did its job, so a group neither retries nor marks it down.
   */
  reportedBy: string | undefined;
  constructor(cls: ErrorClass, message: string, code?: string, hop?: Hop, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ProxyError';
    this.cls = cls;
    this.code = code;
    this.hop = hop;
  }

  /** The stack of the error that caused this one (for `internal` errors, logged once). */
  get causeStack(): string | undefined {
    return this.cause instanceof Error ? this.cause.stack : this.stack;
  }
}

const CLASS_BY_CODE: Record<string, ErrorClass> = {
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EAI_FAIL: 'dns',
  EAI_NODATA: 'dns',
  EAI_NONAME: 'dns',
  ESERVFAIL: 'dns',
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
  ERR_STREAM_PREMATURE_CLOSE: 'reset',
  ERR_SOCKET_CLOSED: 'reset',
  UND_ERR_SOCKET: 'reset',
  UND_ERR_CLOSED: 'reset',
  UND_ERR_ABORTED: 'reset',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_OVERFLOW: 'protocol',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'protocol',
  UND_ERR_REQ_CONTENT_LENGTH_MISMATCH: 'protocol',
  EPROTO: 'tls',
};

/**
 * Codes whose meaning depends on the system call that failed: from connect() they are the network
 * saying no; from any other call (bind, setsockopt, getaddrinfo …) they are proxyd asking for
 * something wrong, a bug (`internal`).
 */
const CLASS_BY_CALL: Record<string, Record<string, ErrorClass>> = {
  connect: {
    // a route of type prohibit, a sandbox (seccomp, Landlock, a cgroup's BPF), SELinux or AppArmor
    EACCES: 'blocked',
    EPERM: 'blocked',
    // a blackhole route; an address that cannot be a destination
    EINVAL: 'unreachable',
  },
};

/** What a `blocked` error tells the user to do, after the reason. */
export const BLOCKED_ADVICE =
  'a local firewall or sandbox refused the connection: check iptables/nftables rules and policy routes (ip rule, prohibit routes), ' +
  "the service's sandbox (systemd RestrictAddressFamilies/IPAddressDeny, seccomp, Landlock), or SELinux/AppArmor";

function classOf(code: string | undefined, name: string | undefined, syscall: string | undefined): ErrorClass {
  if (name === 'HTTPParserError' || code?.startsWith('HPE_')) return 'protocol'; // a malformed HTTP message
  if (!code) return 'internal';
  const byCall = syscall === undefined ? undefined : CLASS_BY_CALL[syscall]?.[code];
  if (byCall) return byCall;
  const known = CLASS_BY_CODE[code];
  if (known) return known;
  // OpenSSL and certificate failures: ERR_SSL_*, ERR_TLS_*, CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE …
  if (/^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_)/.test(code)) return 'tls';
  return 'internal';
}

/**
 * Turns any thrown value into a ProxyError with a class and a one-line reason. Anything not
 * recognised (a TypeError, an unknown code) is `internal`: a bug must not look like network noise.
 */
export function classify(err: unknown, hop?: Hop): ProxyError {
  if (err instanceof ProxyError) {
    err.hop ??= hop;
    return err;
  }
  const e = err as NodeJS.ErrnoException & { cause?: unknown };
  // undici wraps the connect error (ours) in its own; the cause tells what happened
  if (e && e.cause instanceof ProxyError) return classify(e.cause, hop);
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const first = (e?.message ?? String(err)).split('\n')[0] || 'unknown error';
  const cls = classOf(code, e?.name, typeof e?.syscall === 'string' ? e.syscall : undefined);
  const message = cls === 'blocked' ? `${first} (${BLOCKED_ADVICE})` : first;
  return new ProxyError(cls, message, code, cls === 'internal' ? 'proxyd' : hop, err); // a bug is ours, wherever it surfaced
}

/** RFC 1928 reply code for a failure. */
export function socksReplyCode(err: ProxyError): number {
  switch (err.cls) {
    case 'rejected': return 0x02; // connection not allowed by ruleset
    case 'blocked': return 0x02; // not allowed: by the host's firewall or sandbox rather than by proxyd's rules
    case 'auth': return err.hop === 'upstream' ? 0x02 : 0x01; // an upstream refused proxyd's credentials: not allowed
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
    case 'rejected': return err.code === LOOP ? 508 : 403;
    case 'timeout': return 504;
    case 'auth': return err.hop === 'upstream' ? 502 : 407; // 407 would ask the client for credentials proxyd wants
    // a garbled answer from further on is a bad gateway, not a bad request
    case 'protocol': return err.code === NO_ENDPOINT ? 404 : err.hop === 'upstream' || err.hop === 'origin' ? 502 : 400;
    case 'internal': return 500;
    // the host's firewall or sandbox kept proxyd from the next hop: a gateway failure (502) like an
    // unreachable one, the reason in X-Proxyd-Error; 403 stays the answer of proxyd's own rules
    case 'blocked': return 502;
    default: return 502;
  }
}
