// REJECT: refuse by rule. SOCKS5 clients get reply 0x02, HTTP clients 403.
import type { Socket } from 'node:net';
import { ProxyError } from '../errors.js';
import { formatTarget, type Target } from '../session.js';
import type { Dialer } from './types.js';

export class RejectDialer implements Dialer {
  readonly kind = 'dialer';
  readonly name = 'REJECT';

  dial(target: Target): Promise<Socket> {
    return Promise.reject(new ProxyError('rejected', `${formatTarget(target)} is rejected by rule`));
  }
}
