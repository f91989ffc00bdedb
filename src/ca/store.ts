// The CA directory:
//   DIR/             0700 (on Windows: the ACL of the user profile it is in, LOCALAPPDATA)
//     ID.key         0600  a CA's private key (PKCS#8 PEM), in place before its certificate
//     certs/ID.pem   0644  its certificate; certs/ holds certificates only, so Go's SSL_CERT_DIR may name it
//     ca.pem         0644  every CA in use: the file tools are told to trust
// Every file is written whole (temporary file, fsync, rename): never a partial key.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { writeAtomic } from '../service/files.js';

export interface StoredCa {
  id: string;
  keyPath: string;
  certPath: string;
  key: KeyObject;
  pem: string;
  x509: X509Certificate;
}

const BUNDLE_FILE = 'ca.pem';
const CERTS = 'certs';

/** Creates the directory (0700) or checks that it is this user's alone, narrowing its mode when it is wider. */
export function prepareDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, CERTS), { recursive: true, mode: 0o755 });
  if (process.platform === 'win32') return; // no mode bits: the user profile's ACL keeps other users out
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
  if (st.uid !== process.getuid?.()) throw new Error(`${dir} belongs to another user (uid ${st.uid}); the CA's key is kept only in a directory of proxyd's own`);
  if ((st.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
}

/** The CAs in the directory. A key without its certificate (a crash between the two writes) is removed. */
export function loadCas(dir: string, log: Logger): StoredCa[] {
  const found: StoredCa[] = [];
  const ids = new Set(readdirSync(join(dir, CERTS)).filter((f) => f.endsWith('.pem')).map((f) => f.slice(0, -4)));
  for (const file of readdirSync(dir)) {
    if (file.endsWith('.key') && !ids.has(file.slice(0, -4))) rmSync(join(dir, file), { force: true });
  }
  for (const id of ids) {
    const { keyPath, certPath } = pathsOf(dir, id);
    try {
      if (!existsSync(keyPath)) throw new Error('its key is missing');
      const pem = readFileSync(certPath, 'utf8');
      const key = createPrivateKey(readFileSync(keyPath, 'utf8'));
      const x509 = new X509Certificate(pem);
      if (!x509.checkPrivateKey(key)) throw new Error(`${keyPath} is not the key of this certificate`);
      found.push({ id, keyPath, certPath, key, pem, x509 });
    } catch (err) {
      log.warn({ ca: certPath, err: (err as Error).message }, `local CA ${certPath} not used: ${(err as Error).message}`);
    }
  }
  return found;
}

export function saveCa(dir: string, id: string, key: KeyObject, pem: string): StoredCa {
  const { keyPath, certPath } = pathsOf(dir, id);
  writeAtomic(keyPath, key.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
  writeAtomic(certPath, pem, 0o644);
  return { id, keyPath, certPath, key, pem, x509: new X509Certificate(pem) };
}

export function removeCa(ca: StoredCa): void {
  rmSync(ca.keyPath, { force: true });
  rmSync(ca.certPath, { force: true });
}

/** Writes the bundle when its content changed. */
export function writeBundle(dir: string, pem: string): void {
  const path = bundlePath(dir);
  if (!existsSync(path) || readFileSync(path, 'utf8') !== pem) writeAtomic(path, pem, 0o644);
}

export function bundlePath(dir: string): string {
  return join(dir, BUNDLE_FILE);
}

export function certsDir(dir: string): string {
  return join(dir, CERTS);
}

function pathsOf(dir: string, id: string): { keyPath: string; certPath: string } {
  return { keyPath: join(dir, `${id}.key`), certPath: join(dir, CERTS, `${id}.pem`) };
}
