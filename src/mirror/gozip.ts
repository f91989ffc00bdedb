// A Go module zip checked by golang.org/x/mod/zip's rules before it is served or cached: every
// file under `module@version/`, no path escaping it, no name twice (case-folded), sizes within
// the limits; and its go.sum hash (dirhash "h1:") computed as the go command computes it.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw, inflateRawSync } from 'node:zlib';
import type { Body } from './body.js';

export const MAX_ZIP_BYTES = 500 * 1024 * 1024;
export const MAX_GO_MOD_BYTES = 16 * 1024 * 1024;

interface Entry {
  name: string;
  method: number;
  compressed: number;
  size: number;
  offset: number;
}

export class ZipError extends Error {}

/** Throws ZipError when `zip` is not a valid module zip for module@version; returns its h1 hash. */
export async function checkModuleZip(zip: Body, module: string, version: string): Promise<string> {
  const prefix = `${module}@${version}/`;
  const entries = await centralDirectory(zip);
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
    lines.push(`${await contentHash(zip, e)}  ${e.name}\n`);
  }
  return h1(lines);
}

/** The go.sum hash of a go.mod file (`module version/go.mod h1:…`), from the file's hex sha256. */
export function goModHash(sha256: string): string {
  return h1([`${sha256}  go.mod\n`]);
}

function h1(lines: string[]): string {
  const sorted = [...lines].sort((a, b) => (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0));
  return `h1:${createHash('sha256').update(sorted.join('')).digest('base64')}`;
}

const nameOf = (line: string) => line.slice(66, -1);

async function centralDirectory(zip: Body): Promise<Entry[]> {
  // the end-of-central-directory record: within the last 64 KiB + 22 bytes
  const tailAt = Math.max(0, zip.size - 65_557);
  const tail = await zip.read(tailAt, zip.size - tailAt);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ZipError('not a zip file (no end of central directory)');
  const count = tail.readUInt16LE(eocd + 10);
  const length = tail.readUInt32LE(eocd + 12);
  const start = tail.readUInt32LE(eocd + 16);
  if (count === 0xffff || start === 0xffffffff) throw new ZipError('zip64 archives are not supported');
  if (start + length > tailAt + eocd) throw new ZipError('a damaged central directory');
  const dir = await zip.read(start, length);
  const entries: Entry[] = [];
  for (let i = 0, at = 0; i < count; i++) {
    if (at + 46 > dir.length || dir.readUInt32LE(at) !== 0x02014b50) throw new ZipError('a damaged central directory');
    const nameLength = dir.readUInt16LE(at + 28);
    const extra = dir.readUInt16LE(at + 30);
    const comment = dir.readUInt16LE(at + 32);
    entries.push({
      method: dir.readUInt16LE(at + 10),
      compressed: dir.readUInt32LE(at + 20),
      size: dir.readUInt32LE(at + 24),
      offset: dir.readUInt32LE(at + 42),
      name: dir.toString('utf8', at + 46, at + 46 + nameLength),
    });
    at += 46 + nameLength + extra + comment;
  }
  return entries;
}

/** hex sha256 of an entry's uncompressed bytes, which must be exactly as many as the directory says */
async function contentHash(zip: Body, e: Entry): Promise<string> {
  const header = await zip.read(e.offset, 30);
  if (header.length < 30 || header.readUInt32LE(0) !== 0x04034b50) throw new ZipError(`${e.name}: a damaged local header`);
  const start = e.offset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
  if (start + e.compressed > zip.size) throw new ZipError(`${e.name}: truncated`);
  if (e.method !== 0 && e.method !== 8) throw new ZipError(`${e.name}: compression method ${e.method} is not allowed`);
  const hash = createHash('sha256');
  let size = 0;
  if (zip.buffer) {
    // in memory: one call per entry (a module has many small files)
    const raw = zip.buffer.subarray(start, start + e.compressed);
    let data = raw;
    if (e.method === 8) {
      try {
        data = inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
      } catch {
        throw new ZipError(`${e.name}: does not inflate to its ${e.size} bytes`);
      }
    }
    size = data.length;
    hash.update(data);
  } else {
    // in a file: streamed, never more than a chunk of it in memory, and never past its stated size
    const raw = e.compressed ? zip.stream(start, start + e.compressed - 1) : Readable.from([]);
    const count = async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) {
        size += chunk.length;
        if (size > e.size) throw new ZipError(`${e.name}: more than the ${e.size} bytes the directory says`);
        hash.update(chunk);
      }
    };
    try {
      await (e.method === 8 ? pipeline(raw, createInflateRaw(), count) : pipeline(raw, count));
    } catch (err) {
      if (err instanceof ZipError) throw err;
      throw new ZipError(`${e.name}: does not inflate to its ${e.size} bytes`);
    }
  }
  if (size !== e.size) throw new ZipError(`${e.name}: ${size} bytes where the directory says ${e.size}`);
  return hash.digest('hex');
}
