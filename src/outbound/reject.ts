// REJECT: refuse by rule. SOCKS5 clients get reply 0x02, HTTP clients 403.
import { formatTarget, type Target } from '../address/index.js';
import { ProxyError } from '../errors.js';
import type { Dialed, Dialer } from './types.js';

export class RejectDialer implements Dialer {
  readonly kind = 'dialer';
  readonly name: string;

  constructor(name: string) {
    this.name = name;
  }

  dial(target: Target): Promise<Dialed> {
    return Promise.reject(new ProxyError('rejected', `${formatTarget(target)} is rejected by rule`, undefined, 'proxyd'));
  }

  async close(): Promise<void> {}
}
