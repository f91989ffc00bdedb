// A name as the daemon's network answers it: proxyd's `hosts:` override, the system resolver
// (getaddrinfo: /etc/hosts, then the DNS servers) and the DNS servers asked directly. Answers that
// disagree, and answers no public name has (bogons), are said in notes.
import { lookup, promises as dnsPromises } from 'node:dns';
import { performance } from 'node:perf_hooks';
import { canonicalAddress } from '../address/index.js';
import type { DoctorDns, DoctorLookup } from '../control/api.js';
import { raceCancel, type Cancel, type Deadline } from '../deadline.js';
import { explainFailure, type LookupFailure } from '../resolver.js';
import { bogonRange } from './bogons.js';
import type { ProbeSlots } from './slots.js';
import { seconds } from './words.js';

interface DnsQuestion {
  host: string;
  /** the `hosts:` override of the name */
  override: string | undefined;
  /** a name of the local network (an internal host): private answers are expected */
  internal: boolean;
  timeoutMs: number;
}

export async function probeDns(q: DnsQuestion, slots: ProbeSlots): Promise<DoctorDns> {
  const skipped: DoctorLookup = { addresses: [], failure: { outcome: 'timeout', reason: 'not asked: the run ended first' }, ms: 0 };
  const [system, server] = await Promise.all([
    slots.take(() => systemLookup(q.host, slots.step(q.timeoutMs, `look up ${q.host}`))).then((r) => r ?? skipped),
    slots.take(() => serverLookup(q.host, slots.step(q.timeoutMs, `ask the DNS server for ${q.host}`))).then((r) => r ?? skipped),
  ]);
  const dns: DoctorDns = { system, server, bogons: [], notes: [] };
  if (q.override !== undefined) dns.override = q.override;
  dns.notes.push(...disagreements(q, system, server));
  if (!q.internal) {
    for (const address of new Set([...system.addresses, ...server.addresses])) {
      const range = bogonRange(address);
      if (!range) continue;
      dns.bogons.push({ address, range });
      dns.notes.push(`${address} is ${range}: no public name has it, possible DNS poisoning`);
    }
  }
  return dns;
}

function disagreements(q: DnsQuestion, system: DoctorLookup, server: DoctorLookup): string[] {
  const notes: string[] = [];
  const list = (l: DoctorLookup) => l.addresses.join(', ');
  if (q.override !== undefined && system.addresses.length && !system.addresses.includes(q.override)) {
    notes.push(`hosts: sends ${q.host} to ${q.override}; the system resolver answers ${list(system)}`);
  }
  if (system.addresses.length && server.addresses.length && !system.addresses.some((a) => server.addresses.includes(a))) {
    notes.push(`the system resolver answers ${list(system)}, the DNS server ${list(server)}: /etc/hosts (or another source in nsswitch.conf) answers instead of DNS`);
  } else if (!system.addresses.length && server.addresses.length) {
    notes.push(`the system resolver fails (${system.failure?.reason}) while the DNS server answers ${list(server)}: check /etc/hosts and nsswitch.conf`);
  } else if (system.addresses.length && !server.addresses.length && server.failure && !q.internal) {
    notes.push(`the DNS server fails (${server.failure.reason}) while the system resolver answers ${list(system)} (from /etc/hosts or a cache)`);
  }
  return notes;
}

/** getaddrinfo, as every DIRECT connection's lookup (without proxyd's `hosts:`); addresses as it gave them (0.0.0.0 stays). */
async function systemLookup(host: string, cancel: Deadline): Promise<DoctorLookup> {
  const t0 = performance.now();
  const answer = new Promise<string[]>((resolve, reject) => {
    lookup(host, { all: true }, (err, addresses) => {
      if (!err) return resolve(unique(addresses.map((a) => a.address)));
      explainFailure(host, err, performance.now() - t0).then((failure) => reject(failure), () => reject(plainFailure(err)));
    });
  });
  try {
    return { addresses: await raceCancel(answer, cancel), ms: elapsed(t0) };
  } catch (err) {
    const failure = 'outcome' in (err as object) ? (err as LookupFailure) : timedOut(host, cancel, 'the system resolver');
    return { addresses: [], failure, ms: elapsed(t0) };
  } finally {
    cancel.done();
  }
}

/** A and AAAA from the servers of resolv.conf, one try each within the step's deadline. */
async function serverLookup(host: string, cancel: Deadline): Promise<DoctorLookup> {
  const t0 = performance.now();
  const resolver = new dnsPromises.Resolver({ tries: 1 });
  const stop = cancel.onAbort(() => resolver.cancel());
  const [a, aaaa] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
  stop();
  cancel.done();
  const addresses = unique([a, aaaa].flatMap((r) => (r.status === 'fulfilled' ? r.value : [])));
  if (addresses.length) return { addresses, ms: elapsed(t0) };
  const codes = [a, aaaa].map((r) => (r.status === 'rejected' ? (r.reason as NodeJS.ErrnoException).code : 'ENODATA'));
  const servers = resolver.getServers().join(', ') || 'no DNS server configured';
  const has = (code: string) => codes.includes(code);
  const failure: LookupFailure =
    has('ENOTFOUND') ? { outcome: 'nxdomain', reason: `${host} does not exist (NXDOMAIN from ${servers})` }
      : codes.every((c) => c === 'ENODATA') ? { outcome: 'no-address', reason: `${host} has no A or AAAA record (${servers})` }
        : has('ECANCELLED') || has('ETIMEOUT') ? timedOut(host, cancel, `the DNS server (${servers})`)
          : has('ECONNREFUSED') || has('EREFUSED') ? { outcome: 'refused', reason: `the DNS server (${servers}) refused to answer for ${host}` }
            : has('ESERVFAIL') ? { outcome: 'servfail', reason: `the DNS server (${servers}) failed to look up ${host} (SERVFAIL)` }
              : { outcome: 'failed', reason: `${host}: ${codes.join(', ')} from ${servers}` };
  return { addresses: [], failure, ms: elapsed(t0) };
}

function timedOut(host: string, cancel: Cancel, who: string): LookupFailure {
  const after = cancel.reason?.message.match(/after (\d+) ms/)?.[1];
  return { outcome: 'timeout', reason: `${who} did not answer for ${host}${after ? ` in ${seconds(Number(after))}` : ''}` };
}

function plainFailure(err: NodeJS.ErrnoException): LookupFailure {
  return { outcome: 'failed', reason: err.message.split('\n')[0] ?? String(err.code) };
}

/** canonical forms (IPv4-mapped IPv6 as IPv4), without repeats */
function unique(addresses: string[]): string[] {
  return [...new Set(addresses.map((a) => canonicalAddress(a) ?? a))];
}

function elapsed(t0: number): number {
  return Math.round(performance.now() - t0);
}
