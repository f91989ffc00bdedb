// TLS as a client on top of a socket proxyd dialled (through any route): the certificate is
// checked against the name with Node's default trust, and the handshake ends with the deadline.
import type { Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Cancel } from './deadline.js';
import { classify, ProxyError } from './errors.js';

export function tlsOver(socket: Socket, servername: string, cancel: Cancel): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({ socket, servername, ALPNProtocols: ['http/1.1'] });
    const stopWatching = cancel.onAbort(() => tls.destroy());
    tls.once('secureConnect', () => {
      stopWatching();
      tls.removeListener('error', onError);
      resolve(tls);
    });
    const onError = (err: Error) => {
      stopWatching();
      socket.destroy();
      const e = classify(err, 'origin');
      reject(new ProxyError(e.cls === 'internal' ? 'tls' : e.cls, `TLS with ${servername}: ${e.message}`, e.code, 'origin'));
    };
    tls.once('error', onError);
  });
}
