// Name resolution for every route: `hosts` overrides first, system DNS (getaddrinfo) otherwise.
// Every address comes out in the form of addresses from clients (IPv4-mapped → IPv4, unspecified
// → loopback, zone ids dropped) before any rule or the loop guard sees it.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { canonicalAddress, reachedAddress } from './address/index.js';

export class Resolver {
  readonly #hosts: ReadonlyMap<string, string>;

  constructor(hosts: ReadonlyMap<string, string>) {
    this.#hosts = hosts;
  }

  /** The `hosts` override of a name, in canonical form, or undefined when it has none. */
  override(host: string): string | undefined {
    const fixed = this.#hosts.get(host);
    return fixed === undefined ? undefined : canonicalList([fixed])[0];
  }

  /** All addresses of a host, canonical and without repeats (an IP literal resolves to itself). */
  resolve = (host: string): Promise<string[]> => {
    if (isIP(host)) return Promise.resolve(canonicalList([host]));
    const fixed = this.#hosts.get(host);
    if (fixed) return Promise.resolve(canonicalList([fixed]));
    return new Promise((resolve, reject) => {
      dnsLookup(host, { all: true }, (err, addresses) => (err ? reject(err) : resolve(canonicalList(addresses.map((a) => a.address)))));
    });
  };
}

function canonicalList(addresses: string[]): string[] {
  const out: string[] = [];
  for (const a of addresses) {
    const c = canonicalAddress(a);
    if (c !== undefined && !out.includes(reachedAddress(c))) out.push(reachedAddress(c));
  }
  return out;
}

/** A `lookup` for net.connect that answers with addresses already resolved and checked. */
export function fixedLookup(addresses: string[]): LookupFunction {
  return (_host, options, callback) => {
    const list: LookupAddress[] = addresses.map((address) => ({ address, family: isIP(address) }));
    if (options.all) (callback as (e: null, a: LookupAddress[]) => void)(null, list);
    else callback(null, list[0]!.address, list[0]!.family);
  };
}
