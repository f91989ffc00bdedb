// A SOCKS5 CONNECT through the daemon's listener: what `proxyctl connect` joins to stdin/stdout,
// and what setup's probes open and close. A failure says why in one line, with an exit code of
// its own per reason (10 + the SOCKS5 reply code for the daemon's answers).
//
//   proxyctl ──greeting──► listener ──method──► [RFC 1929 user/password] ──CONNECT host:port──► reply
import { connect, type Socket } from 'node:net';
import { type Target } from '../address/index.js';
import { encodeConnect, encodeGreeting, encodeUserPass, parseAuthStatus, parseMethodChoice, parseReply } from '../protocol/socks5-client.js';
import { METHOD_NO_AUTH, METHOD_USER_PASS, REPLY } from '../protocol/socks5.js';

/** why a tunnel was not opened, and the exit code that says so */
export const TUNNEL_FAILURES = {
  /** the daemon's listener could not be reached */
  listener: { code: 5, text: 'the daemon\'s SOCKS5 listener did not answer' },
  /** the listener wants a user name and password that were not given, or refused them */
  auth: { code: 6, text: 'the daemon refused the user name and password' },
  /** the listener's answer was not SOCKS5, or it closed the connection */
  protocol: { code: 7, text: 'the daemon\'s answer was not SOCKS5' },
  /** open, then cut: a reset from the target, the daemon or the network */
  broken: { code: 8, text: 'the tunnel broke' },
  generalFailure: { code: 11, text: 'proxyd failed (general failure)' },
  notAllowed: { code: 12, text: 'not allowed: rejected by a rule, a loop, or blocked by a local firewall' },
  networkUnreachable: { code: 13, text: 'network unreachable' },
  hostUnreachable: { code: 14, text: 'host unreachable, or the name does not resolve' },
  connectionRefused: { code: 15, text: 'connection refused' },
  ttlExpired: { code: 16, text: 'timed out' },
  commandNotSupported: { code: 17, text: 'command not supported' },
  addressTypeNotSupported: { code: 18, text: 'address type not supported' },
} as const;
export type TunnelFailureKind = keyof typeof TUNNEL_FAILURES;

export class TunnelFailure extends Error {
  readonly code: number;

  constructor(readonly kind: TunnelFailureKind, target: Target, detail?: string) {
    super(`${target.host}:${target.port}: ${TUNNEL_FAILURES[kind].text}${detail ? ` (${detail})` : ''}`);
    this.code = TUNNEL_FAILURES[kind].code;
  }
}

interface TunnelOptions {
  /** the listener */
  via: { host: string; port: number };
  credentials?: { user: string; password: string };
  /** for the whole handshake, the daemon's connect included */
  timeoutMs: number;
}

const REPLY_KINDS = Object.fromEntries(Object.entries(REPLY).map(([kind, code]) => [code, kind])) as Record<number, TunnelFailureKind | 'succeeded'>;

/** Opens a tunnel to `target`; resolves with the socket once the daemon says it is connected. */
export function openTunnel(target: Target, options: TunnelOptions): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: options.via.host, port: options.via.port });
    let stage: 'method' | 'auth' | 'reply' = 'method';
    let buffered = Buffer.alloc(0);
    const fail = (kind: TunnelFailureKind, detail?: string) => {
      socket.destroy();
      reject(new TunnelFailure(kind, target, detail));
    };
    const timer = setTimeout(() => fail('ttlExpired', `no answer from the daemon within ${options.timeoutMs / 1000} s`), options.timeoutMs);
    const done = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    const onClose = () => {
      done();
      fail(stage === 'auth' ? 'auth' : 'protocol', 'it closed the connection');
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (stage === 'method') {
        const m = parseMethodChoice(buffered);
        if (m.kind === 'incomplete') return;
        if (m.kind === 'error') return done(), fail('protocol', m.reason);
        buffered = buffered.subarray(m.length);
        if (m.method === METHOD_USER_PASS && options.credentials) {
          stage = 'auth';
          return void socket.write(encodeUserPass(options.credentials.user, options.credentials.password));
        }
        if (m.method !== METHOD_NO_AUTH) return done(), fail('auth', 'it asks for a user name and password: set PROXYD_USER and PROXYD_PASSWORD');
        stage = 'reply';
        return void socket.write(encodeConnect(target));
      }
      if (stage === 'auth') {
        const a = parseAuthStatus(buffered);
        if (a.kind === 'incomplete') return;
        if (a.kind === 'error' || !a.ok) return done(), fail('auth');
        buffered = buffered.subarray(a.length);
        stage = 'reply';
        return void socket.write(encodeConnect(target));
      }
      const r = parseReply(buffered);
      if (r.kind === 'incomplete') return;
      done();
      if (r.kind === 'error') return fail('protocol', r.reason);
      const kind = REPLY_KINDS[r.reply]!;
      if (kind !== 'succeeded') return fail(kind, `SOCKS5 reply 0x${r.reply.toString(16).padStart(2, '0')}`);
      const rest = buffered.subarray(r.length);
      socket.pause(); // until joined
      if (rest.length) socket.unshift(rest); // the target spoke first (an ssh server's banner)
      resolve(socket);
    };
    socket.on('connect', () => void socket.write(encodeGreeting(!!options.credentials)));
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (stage !== 'method' || socket.bytesRead > 0) return; // close follows and says it
      done();
      fail('listener', `${options.via.host}:${options.via.port}: ${err.code ?? err.message}`);
    });
  });
}

/** Joins the tunnel to two streams (stdin, stdout) until both directions end; rejects with a TunnelFailure when it breaks. */
export function join(tunnel: Socket, target: Target, input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    input.pipe(tunnel); // the input's end half-closes the tunnel: the target sees EOF and may still answer
    tunnel.pipe(output);
    let failed: NodeJS.ErrnoException | undefined;
    tunnel.on('error', (err: NodeJS.ErrnoException) => (failed = err));
    tunnel.on('close', () => (failed ? reject(new TunnelFailure('broken', target, failed.code ?? failed.message)) : resolve()));
  });
}
