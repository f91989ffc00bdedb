// A Go module zip checked by golang.org/x/mod/zip's rules before it is served or cached: every
// file under `module@version/`, no path escaping it, no name twice (case-folded), sizes within
// the limits; and its go.sum hash (dirhash "h1:") computed as the go command computes it.
import { createHash } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';

const MAX_ZIP_BYTES = 500 * 1024 * 1024;
const MAX_GO_MOD_BYTES = 16 * 1024 * 1024;

interface Entry {
  name: string;
  method: number;
  compressed: number;
  size: number;
  offset: number;
}

export class ZipError extends Error {}

/** Throws ZipError when `zip` is not a valid module zip for module@version; returns its h1 hash. */
export function checkModuleZip(zip: Buffer, module: string, version: string): string {
  const prefix = `${module}@${version}/`;
  const entries = centralDirectory(zip);
  if (!entries.length) throw new ZipError('the zip holds no files');
  const seen = new Set<string>();
  let total = 0;
  const lines: string[] = [];
  for (const e of entries) {
    if (e.name.endsWith('/')) continue; // a directory entry
    if (!e.name.startsWith(prefix)) throw new ZipError(`${e.name} is not under ${prefix}`);
    const rel = e.name.slice(prefix.length);
    if (!rel || rel.split('/').some((p) => p === '' || p === '.' || p === '..') || rel.includes('\\')) throw new ZipError(`${e.name} is not a valid file path`);
    const folded = e.name.toLowerCase();
    if (seen.has(folded)) throw new ZipError(`${e.name} appears twice (names differing only in case count as the same)`);
    seen.add(folded);
    total += e.size;
    if (total > MAX_ZIP_BYTES) throw new ZipError(`the files add up to more than ${MAX_ZIP_BYTES} bytes`);
    if (rel === 'go.mod' && e.size > MAX_GO_MOD_BYTES) throw new ZipError(`go.mod is larger than ${MAX_GO_MOD_BYTES} bytes`);
    const data = contents(zip, e);
    lines.push(`${createHash('sha256').update(data).digest('hex')}  ${e.name}\n`);
  }
  return h1(lines);
}

/** The go.sum hash of a go.mod file (`module version/go.mod h1:…`). */
export function goModHash(mod: Buffer): string {
  return h1([`${createHash('sha256').update(mod).digest('hex')}  go.mod\n`]);
}

function h1(lines: string[]): string {
  const sorted = [...lines].sort((a, b) => (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0));
  return `h1:${createHash('sha256').update(sorted.join('')).digest('base64')}`;
}

const nameOf = (line: string) => line.slice(66, -1);

function centralDirectory(zip: Buffer): Entry[] {
  // the end-of-central-directory record: within the last 64 KiB + 22 bytes
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 65_557); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ZipError('not a zip file (no end of central directory)');
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  if (count === 0xffff || at === 0xffffffff) throw new ZipError('zip64 archives are not supported');
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 46 > zip.length || zip.readUInt32LE(at) !== 0x02014b50) throw new ZipError('a damaged central directory');
    const nameLength = zip.readUInt16LE(at + 28);
    const extra = zip.readUInt16LE(at + 30);
    const comment = zip.readUInt16LE(at + 32);
    entries.push({
      method: zip.readUInt16LE(at + 10),
      compressed: zip.readUInt32LE(at + 20),
      size: zip.readUInt32LE(at + 24),
      offset: zip.readUInt32LE(at + 42),
      name: zip.toString('utf8', at + 46, at + 46 + nameLength),
    });
    at += 46 + nameLength + extra + comment;
  }
  return entries;
}

function contents(zip: Buffer, e: Entry): Buffer {
  const at = e.offset;
  if (at + 30 > zip.length || zip.readUInt32LE(at) !== 0x04034b50) throw new ZipError(`${e.name}: a damaged local header`);
  const start = at + 30 + zip.readUInt16LE(at + 26) + zip.readUInt16LE(at + 28);
  const raw = zip.subarray(start, start + e.compressed);
  if (raw.length !== e.compressed) throw new ZipError(`${e.name}: truncated`);
  if (e.method !== 0 && e.method !== 8) throw new ZipError(`${e.name}: compression method ${e.method} is not allowed`);
  let data = raw;
  if (e.method === 8) {
    try {
      data = inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
    } catch {
      throw new ZipError(`${e.name}: does not inflate to its ${e.size} bytes`);
    }
  }
  if (data.length !== e.size) throw new ZipError(`${e.name}: ${data.length} bytes where the directory says ${e.size}`);
  return data;
}
