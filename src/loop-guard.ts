// proxyd's own listening sockets, so that no tunnel or forwarded request is dialled back into
// them: one CONNECT to ourselves would otherwise let a single write nest tunnels until the
// listener is full.
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { canonicalAddress } from './address/index.js';

export class LoopGuard {
  readonly #binds: Array<{ address: string; port: number; any: boolean }> = [];

  /** A listener bound to `address` (as the kernel reports it: `0.0.0.0` and `::` mean every local address). */
  add(address: string, port: number): void {
    const any = address === '0.0.0.0' || address === '::';
    this.#binds.push({ address: any ? address : canonicalAddress(address) ?? address, port, any });
  }

  /** A listener that no longer accepts (a reload moved it). */
  remove(address: string, port: number): void {
    const any = address === '0.0.0.0' || address === '::';
    const key = any ? address : canonicalAddress(address) ?? address;
    const i = this.#binds.findIndex((b) => b.address === key && b.port === port);
    if (i >= 0) this.#binds.splice(i, 1);
  }

  /** Would connecting to this canonical address and port reach one of our listeners? */
  isSelf = (address: string, port: number): boolean => {
    for (const b of this.#binds) {
      if (b.port !== port) continue;
      if (b.address === address) return true;
      // a wildcard bind answers on every local address; an IPv4 one only on IPv4 addresses
      if (b.any && (b.address === '::' || isIP(address) === 4) && isLocal(address)) return true;
    }
    return false;
  };
}

/** Loopback, or an address of one of this machine's interfaces (read each time: they change). */
function isLocal(address: string): boolean {
  if (address === '::1' || (isIP(address) === 4 && address.startsWith('127.'))) return true;
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (canonicalAddress(i.address.split('%')[0]!) === address) return true;
  }
  return false;
}
