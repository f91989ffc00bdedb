// Name resolution for every route: `hosts` overrides first, system DNS (getaddrinfo) otherwise.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';

export class Resolver {
  readonly #hosts: Map<string, string>;

  constructor(hosts: Map<string, string>) {
    this.#hosts = hosts;
  }

  /** All addresses of a host (an IP literal resolves to itself). */
  resolve = (host: string): Promise<string[]> => {
    if (isIP(host)) return Promise.resolve([host]);
    const fixed = this.#hosts.get(host);
    if (fixed) return Promise.resolve([fixed]);
    return new Promise((resolve, reject) => {
      dnsLookup(host, { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses.map((a) => a.address))));
    });
  };

  /** A `lookup` for net.connect that honours the overrides (and so Happy Eyeballs over them). */
  readonly lookup: LookupFunction = (host, options, callback) => {
    const fixed = this.#hosts.get(host);
    if (fixed) return answer([fixed], options, callback);
    dnsLookup(host, options, callback as never);
  };
}

/** A `lookup` that answers with addresses already resolved (by the router, for an IP rule). */
export function fixedLookup(addresses: string[]): LookupFunction {
  return (_host, options, callback) => answer(addresses, options, callback);
}

function answer(addresses: string[], options: { all?: boolean }, callback: Parameters<LookupFunction>[2]): void {
  const list: LookupAddress[] = addresses.map((address) => ({ address, family: isIP(address) }));
  if (options.all) (callback as (e: null, a: LookupAddress[]) => void)(null, list);
  else callback(null, list[0]!.address, list[0]!.family);
}
