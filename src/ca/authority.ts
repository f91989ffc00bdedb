// The local CA: one or more CA certificates that may each sign only the names they were made for,
// and the short-lived leaves they sign, kept in memory.
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { CaReport } from '../control/api.js';
import type { Logger } from '../log/logger.js';
import { caCertificate, constraintsOf, leafCertificate, parseCertificate, type Issuer } from './certificate.js';
import { constraintsFor, hostName, permits, type Constraints } from './names.js';
import { bundlePath, certsDir, loadCas, prepareDir, removeCa, saveCa, writeBundle, type StoredCa } from './store.js';

interface CaOptions {
  dir: string;
  names: readonly string[];
  log: Logger;
  now?: () => Date;
}

export interface Authority {
  /** a secure context (key + leaf chain) for SNI `name`, from a CA whose name constraints permit it; undefined when no CA of ours may sign it (an IP address, a name outside the constraints) */
  contextFor(name: string): Promise<SecureContext | undefined>;
  /** the configured names changed: when they grow beyond the current CAs a new CA is made (logged: it must be trusted again); the old ones keep serving the names they cover */
  update(names: readonly string[]): Promise<{ renewed: boolean }>;
  /** each CA in use, newest first */
  report(): CaReport;
  /** the PEM of every CA in use */
  bundlePem(): string;
}

const DAY = 86_400_000;
const CA_LIFETIME = 730 * DAY;
/** a CA this close to its end no longer counts as covering its names: a new one is made in time to be trusted */
const CA_RENEW_BEFORE = 30 * DAY;
const LEAF_LIFETIME = 7 * DAY;
/** a leaf is made anew this long before it expires */
const LEAF_RENEW_BEFORE = DAY;
/** notBefore this far back, for clients whose clock is behind */
const BACKDATE = 3_600_000;

interface Ca extends StoredCa, Issuer {
  constraints: Constraints;
  notBefore: Date;
  notAfter: Date;
}

interface Leaf {
  context: SecureContext;
  renewAt: number;
}

export async function openAuthority(o: CaOptions): Promise<Authority> {
  prepareDir(o.dir);
  const now = o.now ?? (() => new Date());
  const cas: Ca[] = [];
  for (const stored of loadCas(o.dir, o.log)) {
    const ca = fromStored(stored);
    if (!ca) {
      o.log.warn({ ca: stored.certPath }, `local CA ${stored.certPath} not used: it has no name constraints`);
    } else if (ca.notAfter.getTime() <= now().getTime()) {
      removeCa(ca); // a key nothing will accept any more need not be kept
      o.log.info({ ca: stored.certPath, notAfter: ca.notAfter.toISOString() }, `removed the expired local CA ${stored.certPath}`);
    } else cas.push(ca);
  }
  const authority = new LocalAuthority(o.dir, o.log, now, cas);
  await authority.update(o.names);
  return authority;
}

class LocalAuthority implements Authority {
  readonly #dir: string;
  readonly #log: Logger;
  readonly #now: () => Date;
  /** oldest first */
  readonly #cas: Ca[];
  #names = new Set<string>();
  readonly #leaves = new Map<string, Leaf>();

  constructor(dir: string, log: Logger, now: () => Date, cas: Ca[]) {
    this.#dir = dir;
    this.#log = log;
    this.#now = now;
    this.#cas = cas.sort((a, b) => a.notBefore.getTime() - b.notBefore.getTime());
  }

  async contextFor(name: string): Promise<SecureContext | undefined> {
    const host = hostName(name);
    if (!host || !this.#names.has(host)) return undefined;
    const now = this.#now().getTime();
    const cached = this.#leaves.get(host);
    if (cached && cached.renewAt > now) return cached.context;
    // every CA for it near its end while the daemon ran: a new one, as a reload would make
    if (!this.#issuerFor(host, now)) await this.update([...this.#names]);
    const ca = this.#issuerFor(host, now);
    if (!ca) return undefined;
    const leaf = this.#leaf(ca, host, now);
    this.#leaves.set(host, leaf);
    return leaf.context;
  }

  async update(names: readonly string[]): Promise<{ renewed: boolean }> {
    this.#names = new Set(names.flatMap((n) => hostName(n) ?? []));
    for (const host of this.#leaves.keys()) if (!this.#names.has(host)) this.#leaves.delete(host);
    const now = this.#now().getTime();
    const uncovered = [...this.#names].filter((n) => !this.#cas.some((ca) => ca.notAfter.getTime() - now > CA_RENEW_BEFORE && permits(ca.constraints, n)));
    const renewed = uncovered.length > 0;
    if (renewed) this.#makeCa(uncovered, now);
    writeBundle(this.#dir, this.bundlePem());
    return { renewed };
  }

  report(): CaReport {
    const now = this.#now().getTime();
    const inUse = this.#inUse(now);
    return {
      dir: this.#dir,
      certsDir: certsDir(this.#dir),
      bundle: bundlePath(this.#dir),
      cas: inUse.map((ca) => ({
        subject: ca.x509.subject.split('\n').reverse().join(', '),
        names: ca.constraints.permitted,
        serves: [...this.#names].filter((n) => this.#issuerFor(n, now) === ca).sort(),
        notBefore: ca.notBefore.toISOString(),
        notAfter: ca.notAfter.toISOString(),
        fingerprint: ca.x509.fingerprint256,
        path: ca.certPath,
        pem: ca.pem,
        mustTrust: ca !== inUse[inUse.length - 1],
      })),
    };
  }

  bundlePem(): string {
    return this.#inUse(this.#now().getTime()).map((ca) => ca.pem).join('');
  }

  /** the CAs that are valid and may sign a configured name, newest first */
  #inUse(now: number): Ca[] {
    return this.#cas.filter((ca) => ca.notAfter.getTime() > now && [...this.#names].some((n) => permits(ca.constraints, n))).reverse();
  }

  /** the oldest CA that may sign `host` (the one most likely trusted already), preferring those not near their end */
  #issuerFor(host: string, now: number): Ca | undefined {
    const able = this.#cas.filter((ca) => ca.notAfter.getTime() - now > LEAF_RENEW_BEFORE && permits(ca.constraints, host));
    return able.find((ca) => ca.notAfter.getTime() - now > CA_RENEW_BEFORE) ?? able[0];
  }

  #makeCa(uncovered: string[], now: number): void {
    const first = this.#cas.length === 0;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const created = new Date(now);
    const pem = caCertificate(privateKey, publicKey, `proxyd local CA for ${owner()} (${created.toISOString().slice(0, 10)})`, constraintsFor([...this.#names]), {
      notBefore: new Date(now - BACKDATE),
      notAfter: new Date(now + CA_LIFETIME),
    });
    const id = `ca-${created.toISOString().slice(0, 10)}-${new X509Certificate(pem).fingerprint256.replace(/:/g, '').slice(0, 12).toLowerCase()}`;
    const ca = fromStored(saveCa(this.#dir, id, privateKey, pem))!;
    this.#cas.push(ca);
    const facts = { ca: ca.certPath, names: ca.constraints.permitted, notAfter: ca.notAfter.toISOString(), fingerprint: ca.x509.fingerprint256 };
    if (first) {
      this.#log.info(facts, `made the local CA ${ca.certPath} for ${facts.names.join(', ')} (until ${facts.notAfter.slice(0, 10)}): tools must trust it to be served from the mirrors over HTTPS (proxyctl ca trust-info)`);
    } else {
      this.#log.warn({ ...facts, uncovered }, `made a new local CA ${ca.certPath} for ${uncovered.length ? uncovered.join(', ') : 'the names of one near its end'}: it must be trusted again (proxyctl ca trust-info); the older one keeps serving its names`);
    }
  }

  #leaf(ca: Ca, host: string, now: number): Leaf {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const notAfter = Math.min(now + LEAF_LIFETIME, ca.notAfter.getTime());
    const cert = leafCertificate(ca, publicKey, host, { notBefore: new Date(now - BACKDATE), notAfter: new Date(notAfter) });
    const context = createSecureContext({ key: privateKey.export({ type: 'pkcs8', format: 'pem' }), cert: cert + ca.pem });
    return { context, renewAt: notAfter - LEAF_RENEW_BEFORE };
  }
}

function fromStored(stored: StoredCa): Ca | undefined {
  const certificate = parseCertificate(stored.pem);
  const constraints = constraintsOf(certificate);
  if (!constraints) return undefined;
  return { ...stored, certificate, constraints, notBefore: new Date(stored.x509.validFrom), notAfter: new Date(stored.x509.validTo) };
}

/** who and where, so that a user recognizes the CA in a trust store */
function owner(): string {
  let user = 'proxyd';
  try {
    user = userInfo().username;
  } catch { /* no entry for this uid (a container): the daemon's name will do */ }
  return `${user}@${hostname()}`;
}

