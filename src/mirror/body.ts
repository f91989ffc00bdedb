// Bodies the mirrors fetch. One is kept in memory while it is small and all the bodies in memory
// together fit the daemon's budget; past either, it goes to a file as it arrives (under the
// artifact cache's tmp/, or a private temporary directory). So no number of fetches, however
// large or endless their bodies, holds more memory than the budget, and the memory of a burst is
// returned when it ends. A verified body in a file enters the cache by a rename.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { tempName } from './cache-index.js';

/** every body being fetched into memory, together */
const MEMORY_BUDGET = 128 * 1024 * 1024;

export class Body {
  readonly size: number;
  /** hex sha256 of the bytes, when the writer hashed them (artifacts: their check and cache entry need it) */
  #sha256: string | undefined;
  readonly #buffer: Buffer | undefined;
  #file: string | undefined;
  /** streams reading the file, and whether it goes once they are done */
  #readers = 0;
  #discarded = false;

  constructor(size: number, sha256: string | undefined, where: { buffer: Buffer } | { file: string }) {
    this.size = size;
    this.#sha256 = sha256;
    this.#buffer = 'buffer' in where ? where.buffer : undefined;
    this.#file = 'file' in where ? where.file : undefined;
  }

  static of(buffer: Buffer): Body {
    return new Body(buffer.length, undefined, { buffer });
  }

  /** hex sha256 of the bytes: hashed as they were written, or now from memory */
  get sha256(): string {
    if (this.#sha256 === undefined && this.#buffer) this.#sha256 = createHash('sha256').update(this.#buffer).digest('hex');
    if (this.#sha256 === undefined) throw new Error('a body in a file that was written without its hash');
    return this.#sha256;
  }

  /** the bytes, when they are in memory */
  get buffer(): Buffer | undefined {
    return this.#buffer;
  }

  /** the file holding the bytes, when they are not in memory */
  get file(): string | undefined {
    return this.#file;
  }

  /** the whole body in memory (a document: its kind's limit keeps it small) */
  bytes(): Promise<Buffer> {
    return this.#buffer ? Promise.resolve(this.#buffer) : readFile(this.#file!);
  }

  /** `length` bytes from `position` (the zip check reads the central directory and then each entry) */
  async read(position: number, length: number): Promise<Buffer> {
    if (this.#buffer) return this.#buffer.subarray(position, position + length);
    const fh = await open(this.#file!, 'r');
    try {
      const out = Buffer.alloc(Math.max(0, Math.min(length, this.size - position)));
      const { bytesRead } = await fh.read(out, 0, out.length, position);
      return out.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  /** the bytes from `start` to `end` (inclusive), as a stream */
  stream(start = 0, end = this.size - 1): Readable {
    if (this.#buffer) return Readable.from([this.#buffer.subarray(start, end + 1)], { objectMode: false });
    this.#readers++;
    const s = createReadStream(this.#file!, { start, end, highWaterMark: 256 * 1024 });
    s.once('close', () => {
      this.#readers--;
      void this.#removeIfDone();
    });
    return s;
  }

  async digest(algorithm: string): Promise<Buffer> {
    if (algorithm === 'sha256') return Buffer.from(this.sha256, 'hex');
    const hash = createHash(algorithm);
    for await (const chunk of this.stream()) hash.update(chunk as Buffer);
    return hash.digest();
  }

  /** The file now belongs to someone else (the cache moved it into place). */
  adopted(): void {
    this.#file = undefined;
  }

  /**
   * The file is not needed once the streams reading it are done. Called a turn of the event loop
   * later than the fetch settles, so that everyone who awaited it has opened their stream first.
   */
  discard(): void {
    if (!this.#file) return;
    setImmediate(() => {
      this.#discarded = true;
      void this.#removeIfDone();
    });
  }

  async #removeIfDone(): Promise<void> {
    if (!this.#discarded || this.#readers > 0 || !this.#file) return;
    const file = this.#file;
    this.#file = undefined;
    await rm(file, { force: true }).catch(() => {});
  }
}

/** Where the mirrors' fetches put their bodies, and the memory they may use together. */
export class Spool {
  readonly #dir: () => Promise<string>;
  readonly #budget: number;
  #inMemory = 0;

  /** `dir`: where bodies past the budget go (the cache's tmp/); undefined: a private temporary directory */
  constructor(dir: string | undefined, budget = MEMORY_BUDGET) {
    let made: Promise<string> | undefined;
    this.#dir = () => (dir ? Promise.resolve(dir) : (made ??= mkdtemp(join(tmpdir(), 'proxyd-spool-'))));
    this.#budget = budget;
  }

  /** bytes of bodies being fetched into memory now */
  get inMemory(): number {
    return this.#inMemory;
  }

  /**
   * A body being written; it stays in memory up to `memoryLimit` bytes while the budget allows.
   * `hash`: its sha256 taken as it comes (an artifact's; a document or a passed-on answer needs none).
   */
  writer(memoryLimit: number, hash: boolean): BodyWriter {
    return new BodyWriter(this, memoryLimit, hash);
  }

  /** takes `bytes` of the memory budget, or false when they do not fit */
  take(bytes: number): boolean {
    if (this.#inMemory + bytes > this.#budget) return false;
    this.#inMemory += bytes;
    return true;
  }

  give(bytes: number): void {
    this.#inMemory -= bytes;
  }

  async file(): Promise<{ path: string; fh: FileHandle }> {
    const path = join(await this.#dir(), tempName('fetch'));
    return { path, fh: await open(path, 'wx', 0o600) };
  }
}

class BodyWriter {
  readonly #spool: Spool;
  readonly #memoryLimit: number;
  readonly #hash: Hash | undefined;
  #chunks: Buffer[] = [];
  #held = 0;
  #size = 0;
  #file: { path: string; fh: FileHandle } | undefined;
  #done = false;

  constructor(spool: Spool, memoryLimit: number, hash: boolean) {
    this.#spool = spool;
    this.#memoryLimit = memoryLimit;
    this.#hash = hash ? createHash('sha256') : undefined;
  }

  get size(): number {
    return this.#size;
  }

  async write(chunk: Buffer): Promise<void> {
    this.#size += chunk.length;
    this.#hash?.update(chunk);
    if (!this.#file && this.#size <= this.#memoryLimit && this.#spool.take(chunk.length)) {
      this.#held += chunk.length;
      this.#chunks.push(chunk);
      return;
    }
    if (!this.#file) {
      this.#file = await this.#spool.file();
      const held = this.#chunks;
      this.#chunks = [];
      this.#release();
      for (const c of held) await this.#file.fh.write(c);
    }
    await this.#file.fh.write(chunk);
  }

  /** the whole body: in memory, or in its file (synced, so that the cache may take it by a rename) */
  async finish(): Promise<Body> {
    this.#done = true;
    const sha256 = this.#hash?.digest('hex');
    if (!this.#file) {
      const buffer = Buffer.concat(this.#chunks, this.#size);
      this.#chunks = [];
      this.#release();
      return new Body(this.#size, sha256, { buffer });
    }
    const { path, fh } = this.#file;
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    return new Body(this.#size, sha256, { file: path });
  }

  /** gives back the memory and removes the file of a body that will not be finished */
  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    this.#chunks = [];
    this.#release();
    if (!this.#file) return;
    const { path, fh } = this.#file;
    await fh.close().catch(() => {});
    await rm(path, { force: true }).catch(() => {});
  }

  #release(): void {
    this.#spool.give(this.#held);
    this.#held = 0;
  }
}
