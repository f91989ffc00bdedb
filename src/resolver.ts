// Name resolution for every route: `hosts` overrides first, system DNS (getaddrinfo) otherwise.
// Every address comes out in the form of addresses from clients (IPv4-mapped → IPv4, unspecified
// → loopback, zone ids dropped) before any rule or the loop guard sees it.
//
// A failed lookup says why (LookupError): the name does not exist, it has no address, the DNS
// server did not answer in time, refused the query, or failed (SERVFAIL). getaddrinfo tells the
// first two apart (EAI_NONAME, EAI_NODATA) but answers EAI_AGAIN for the others; then one query
// of our own to the same servers (resolv.conf, through c-ares) tells which. Its answer is used for
// the reason only, never as addresses: what is dialled comes from getaddrinfo alone.
import { lookup as dnsLookup, promises as dnsPromises, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { canonicalAddress, reachedAddress } from './address/index.js';

/** How a lookup failed, for `proxyctl route` and the logs. */
export type LookupOutcome = 'nxdomain' | 'no-address' | 'timeout' | 'refused' | 'servfail' | 'failed';

export const LOOKUP_OUTCOMES: readonly LookupOutcome[] = ['nxdomain', 'no-address', 'timeout', 'refused', 'servfail', 'failed'];

export interface LookupFailure {
  outcome: LookupOutcome;
  /** one line a person understands, naming the host: "nx.example does not exist (NXDOMAIN)" */
  reason: string;
}

/** A failed lookup: `code` is getaddrinfo's (ENOTFOUND, EAI_AGAIN …), so the error class stays `dns`. */
export class LookupError extends Error {
  readonly code: string;
  readonly outcome: LookupOutcome;
  constructor(code: string, failure: LookupFailure, cause: unknown) {
    super(failure.reason, { cause });
    this.name = 'LookupError';
    this.code = code;
    this.outcome = failure.outcome;
  }

  get failure(): LookupFailure {
    return { outcome: this.outcome, reason: this.message };
  }
}

/** Why a lookup failed, whatever was thrown: a LookupError says it; anything else is `failed` with its message. */
export function lookupFailure(err: unknown): LookupFailure {
  if (err instanceof LookupError) return err.failure;
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const message = typeof e?.message === 'string' ? e.message.split('\n')[0]! : String(err);
  return { outcome: 'failed', reason: message || 'the lookup failed' };
}

/**
 * getaddrinfo waits at least a second for a silent server (resolv.conf's timeout is whole seconds,
 * at least 1); an EAI_AGAIN that took this long means a server did not answer in time.
 */
const SILENT_SERVER_MS = 900;
/** How long the diagnostic query waits: getaddrinfo's failure was quick, so its servers answer quickly. */
const DIAGNOSIS_TIMEOUT_MS = 1000;

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

  /** All addresses of a host, canonical and without repeats (an IP literal resolves to itself); a LookupError when it fails. */
  resolve = (host: string): Promise<string[]> => {
    if (isIP(host)) return Promise.resolve(canonicalList([host]));
    const fixed = this.#hosts.get(host);
    if (fixed) return Promise.resolve(canonicalList([fixed]));
    const started = performance.now();
    return new Promise((resolve, reject) => {
      dnsLookup(host, { all: true }, (err, addresses) => {
        if (!err) return resolve(canonicalList(addresses.map((a) => a.address)));
        explainFailure(host, err, performance.now() - started).then(
          (failure) => reject(new LookupError(err.code ?? 'ENOTFOUND', failure, err)),
          () => reject(err), // the diagnosis itself broke: the plain error is still true
        );
      });
    });
  };
}

/** Why getaddrinfo failed for `host`, having taken `elapsedMs`. */
export async function explainFailure(host: string, err: NodeJS.ErrnoException, elapsedMs: number): Promise<LookupFailure> {
  const name = typeof err.errno === 'number' ? safeErrorName(err.errno) : undefined;
  if (err.code === 'ENOTFOUND') {
    // Node reports EAI_NONAME and EAI_NODATA both as ENOTFOUND; errno keeps them apart
    return name === 'EAI_NODATA'
      ? { outcome: 'no-address', reason: `${host} has no address (no A or AAAA record)` }
      : { outcome: 'nxdomain', reason: `${host} does not exist (NXDOMAIN)` };
  }
  if (err.code !== 'EAI_AGAIN') return { outcome: 'failed', reason: err.message };
  const servers = new dnsPromises.Resolver().getServers();
  const at = servers.length ? servers.join(', ') : 'the configured DNS servers';
  if (elapsedMs >= SILENT_SERVER_MS) {
    return { outcome: 'timeout', reason: `the DNS server (${at}) did not answer for ${host} in time (EAI_AGAIN after ${(elapsedMs / 1000).toFixed(1)} s)` };
  }
  const diagnosis = new dnsPromises.Resolver({ timeout: DIAGNOSIS_TIMEOUT_MS, tries: 1 });
  const codes = await Promise.all([diagnosis.resolve4(host), diagnosis.resolve6(host)].map((p) => p.then(
    () => undefined,
    (e: NodeJS.ErrnoException) => e.code,
  )));
  const seen = (code: string) => codes.includes(code);
  if (seen('ECONNREFUSED')) return { outcome: 'refused', reason: `nothing answers DNS at ${at} (connection refused): ${host} could not be looked up` };
  if (seen('EREFUSED')) return { outcome: 'refused', reason: `the DNS server (${at}) refused to look up ${host} (REFUSED)` };
  if (seen('ESERVFAIL')) return { outcome: 'servfail', reason: `the DNS server (${at}) failed to look up ${host} (SERVFAIL)` };
  if (seen('ETIMEOUT')) return { outcome: 'timeout', reason: `the DNS server (${at}) did not answer for ${host} in time` };
  return { outcome: 'failed', reason: `${host}: temporary failure in name resolution (EAI_AGAIN)` };
}

function safeErrorName(errno: number): string | undefined {
  try {
    return getSystemErrorName(errno);
  } catch {
    return undefined;
  }
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
