// A TLS handshake with SNI over a connection a route made, and what the certificate says: valid
// for the name; valid, but for another name; or issued by a CA this machine does not trust, which
// on a route to a public host means something on the path (a middlebox) answers in its place.
// The handshake goes on whatever the certificate is, so that it can be described.
import { isIP, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { checkServerIdentity, connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { DoctorTls } from '../control/api.js';
import type { Deadline } from '../deadline.js';
import { seconds } from './words.js';

type TlsOutcome =
  | { tls: DoctorTls; socket: TLSSocket }
  /** no certificate to describe: the handshake was reset, timed out, or failed */
  | { broken: 'reset' | 'timeout' | 'failed'; reason: string };

/** verification failures that mean: issued by no CA this machine trusts */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
]);
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/** `timeoutMs`: the deadline's, for the words of a timeout */
export function probeTls(socket: Socket, host: string, deadline: Deadline, timeoutMs: number): Promise<TlsOutcome> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const tls = tlsConnect({ socket, servername: isIP(host) ? undefined : host, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    let settled = false;
    let stop = (): void => undefined;
    const finish = (outcome: TlsOutcome) => {
      if (settled) return;
      settled = true;
      stop();
      deadline.done();
      if ('broken' in outcome) tls.destroy();
      resolve(outcome);
    };
    stop = deadline.onAbort(() => finish({ broken: 'timeout', reason: `no answer to the TLS handshake in ${seconds(timeoutMs)}` }));
    tls.once('secureConnect', () => finish({ tls: describe(tls, host, performance.now() - t0), socket: tls }));
    tls.once('error', (err: NodeJS.ErrnoException) => finish(err.code === 'ECONNRESET'
      ? { broken: 'reset', reason: 'reset (RST) during the TLS handshake' }
      : { broken: 'failed', reason: /wrong version number|packet length too long/i.test(err.message) ? 'the server does not speak TLS' : `TLS handshake failed: ${err.code ?? err.message}` }));
    tls.once('close', () => finish({ broken: 'reset', reason: 'closed during the TLS handshake' }));
  });
}

function describe(tls: TLSSocket, host: string, ms: number): DoctorTls {
  const cert = tls.getPeerCertificate();
  const names = certificateNames(cert);
  const issuer = nameOf(cert.issuer);
  const base = { ms: Math.round(ms), subject: nameOf(cert.subject), issuer, names, validTo: cert.valid_to ?? '' };
  const failed = tls.authorized ? undefined : codeOf(tls.authorizationError);
  const wrongName = failed === 'ERR_TLS_CERT_ALTNAME_INVALID' || checkServerIdentity(host, cert) !== undefined;
  if (failed && UNTRUSTED.has(failed)) {
    return { ...base, state: 'untrusted', reason: `issued by ${issuer}, which this machine does not trust: something on the path answers for ${host} (a middlebox) (${failed})` };
  }
  if (failed && EXPIRED.has(failed)) return { ...base, state: 'expired', reason: `${failed === 'CERT_HAS_EXPIRED' ? 'expired' : 'not valid before'} ${cert.valid_to}: check this machine's clock` };
  if (wrongName) return { ...base, state: 'wrong-name', reason: `the certificate is for ${names.join(', ') || base.subject}, not ${host} (issued by ${issuer})` };
  if (failed) return { ...base, state: 'invalid', reason: `the certificate does not verify (${failed})` };
  return { ...base, state: 'ok' };
}

/** the subjectAltName's DNS names and addresses, else the subject's CN */
function certificateNames(cert: PeerCertificate): string[] {
  const san = (cert.subjectaltname ?? '').split(',').map((s) => s.trim().replace(/^(DNS|IP Address):/, '')).filter(Boolean);
  return san.length ? san : cert.subject?.CN ? [String(cert.subject.CN)] : [];
}

/** "CN (O)", or whichever of them there is */
function nameOf(n: PeerCertificate['subject'] | undefined): string {
  const cn = n?.CN === undefined ? undefined : String(n.CN);
  const o = n?.O === undefined ? undefined : String(n.O);
  return cn && o && cn !== o ? `${cn} (${o})` : cn ?? o ?? '(no name)';
}

function codeOf(e: unknown): string {
  return typeof e === 'string' ? e : String((e as { code?: unknown } | null)?.code ?? (e as Error | null)?.message ?? 'unknown');
}
