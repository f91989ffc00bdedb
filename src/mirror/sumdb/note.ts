// Signed notes (golang.org/x/mod/sumdb/note), the format in which a checksum database signs the
// head of its tree, and the verifier keys that GOSUMDB names (`sum.golang.org+033de0ae+Ac4z…`):
//
//   key   <name>+<8 hex: first 4 bytes of sha256(name "\n" keydata)>+<base64 keydata: 0x01, Ed25519 public key>
//   note  <text, each line ended by \n>\n— <name> <base64: 4-byte key hash, 64-byte signature>\n…
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';

/** sum.golang.org's key, as the go command has it built in */
export const GO_SUMDB_KEY = 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8';

const ED25519 = 1;
/** a signed note is small: a tree head and a few signatures */
const MAX_NOTE = 16 * 1024;

export interface VerifierKey {
  name: string;
  /** as written in the config: shown in messages */
  text: string;
  hash: number;
  key: KeyObject;
}

/** Reads a verifier key; throws an Error saying what is wrong with it. */
export function parseVerifierKey(text: string): VerifierKey {
  // the key's base64 may hold + signs of its own
  const [name, hex] = text.split('+', 2) as [string, string | undefined];
  const data = hex === undefined ? '' : text.slice(name.length + hex.length + 2);
  if (!name || hex === undefined || /[\s+]/.test(name) || !/^[0-9a-f]{8}$/.test(hex)) throw new Error(`"${text}" is not a checksum database key (NAME+HASH+KEY, as in GOSUMDB)`);
  const keydata = Buffer.from(data, 'base64');
  if (keydata.length !== 33 || keydata[0] !== ED25519 || keydata.toString('base64') !== data) {
    throw new Error(`"${text}": the key is not an Ed25519 key in the note format (base64 of 0x01 and 32 bytes)`);
  }
  const hash = keyHash(name, keydata);
  if (hash !== parseInt(hex, 16)) throw new Error(`"${text}": ${hex} is not the hash of this name and key (expected ${hash.toString(16).padStart(8, '0')})`);
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: keydata.subarray(1).toString('base64url') }, format: 'jwk' });
  return { name, text, hash, key };
}

export function keyHash(name: string, keydata: Buffer): number {
  return createHash('sha256').update(`${name}\n`).update(keydata).digest().readUInt32BE(0);
}

/** The text of `note` when `key` signed it; throws an Error saying why not. */
export function openNote(note: Buffer, key: VerifierKey): string {
  if (note.length > MAX_NOTE) throw new Error(`a signed note of more than ${MAX_NOTE} bytes`);
  const msg = note.toString('utf8');
  if (!Buffer.from(msg, 'utf8').equals(note) || msg.includes('\r')) throw new Error('a signed note that is not plain UTF-8 text');
  const split = msg.lastIndexOf('\n\n');
  if (split < 0 || !msg.endsWith('\n')) throw new Error('not a signed note (no blank line before the signatures)');
  const text = msg.slice(0, split + 1);
  for (const line of msg.slice(split + 2, -1).split('\n')) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/]+=*)$/.exec(line);
    if (!m) throw new Error('a signed note with a malformed signature line');
    if (m[1] !== key.name) continue;
    const sig = Buffer.from(m[2]!, 'base64');
    if (sig.length !== 68 || sig.readUInt32BE(0) !== key.hash) continue;
    if (verify(null, Buffer.from(text, 'utf8'), key.key, sig.subarray(4))) return text;
    throw new Error(`the note's signature by ${key.name} does not verify`);
  }
  throw new Error(`the note is not signed by ${key.name}'s key`);
}
