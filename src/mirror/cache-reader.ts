// Reading a cached artifact. It was verified (its hash against its checksum database, index page
// or packument) before it was stored, so a read does not hash it again: the file is opened, and
// its size, inode and mtime must be the ones the cache recorded (a file replaced, rewritten or cut
// since fails before a byte is sent, and the entry is quarantined); then it streams with large
// reads. A file that shrinks while it is read ends the stream with an error, never short.
// What such a check cannot see (bits changed in place by the disk) `proxyctl cache verify` finds,
// by hashing every entry (hashFile).
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { sameTime } from './cache-index.js';

/** bytes per read of an artifact */
const READ_CHUNK = 1024 * 1024;

/** what the cache recorded of the file when it stored it */
interface Stamp {
  size: number;
  ino: number;
  mtimeMs: number;
}

interface ReaderIo {
  open(): Promise<FileHandle>;
  /** the file is not the one recorded */
  mismatch(fields: Record<string, unknown>): void;
}

export class StampedReader extends Readable {
  /** settles once the file is open and found to be the one stored: before a byte is read */
  readonly opened: Promise<boolean>;
  readonly #stamp: Stamp;
  readonly #io: ReaderIo;
  #fh: FileHandle | undefined;
  #pos = 0;
  #size = 0;
  #settle: (ok: boolean) => void = () => {};

  constructor(stamp: Stamp, io: ReaderIo) {
    super({ highWaterMark: READ_CHUNK });
    this.#stamp = stamp;
    this.#io = io;
    this.opened = new Promise((resolve) => (this.#settle = resolve));
  }

  override _construct(callback: (error?: Error | null) => void): void {
    this.#open().then(() => {
      this.#settle(true);
      callback();
    }, (err: Error) => {
      this.#settle(false);
      callback(err);
    });
  }

  override _read(): void {
    this.#next().catch((err: Error) => this.destroy(err));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const fh = this.#fh;
    this.#fh = undefined;
    if (!fh) return callback(error);
    fh.close().then(() => callback(error), () => callback(error));
  }

  async #open(): Promise<void> {
    const fh = await this.#io.open();
    const st = await fh.stat().catch(async (err: Error) => {
      await fh.close();
      throw err;
    });
    const problem = stampProblem(st, this.#stamp);
    if (problem) {
      await fh.close();
      this.#io.mismatch({ problem, size: st.size, stored: this.#stamp.size });
      throw Object.assign(new Error(`cached artifact is corrupt (${problem})`), { code: 'ECORRUPT' });
    }
    this.#fh = fh;
    this.#size = this.#stamp.size;
  }

  async #next(): Promise<void> {
    const fh = this.#fh;
    if (!fh || this.destroyed) return;
    const want = Math.min(READ_CHUNK, this.#size - this.#pos);
    if (want === 0) return void this.push(null);
    const buf = Buffer.allocUnsafe(want);
    const { bytesRead } = await fh.read(buf, 0, want, this.#pos);
    if (this.destroyed) return;
    if (bytesRead === 0) {
      this.#io.mismatch({ problem: 'shorter than stored', size: this.#size, read: this.#pos });
      throw Object.assign(new Error('cached artifact is corrupt (shorter than stored)'), { code: 'ECORRUPT' });
    }
    this.#pos += bytesRead;
    this.push(bytesRead === want ? buf : buf.subarray(0, bytesRead));
  }
}

/** why a file is not the one stamped, or undefined */
export function stampProblem(st: { size: number; ino: number; mtimeMs: number }, stamp: Stamp): string | undefined {
  if (st.size !== stamp.size) return 'another size than stored';
  if (st.ino !== stamp.ino) return 'another file than stored (inode)';
  return sameTime(st.mtimeMs, stamp.mtimeMs) ? undefined : 'changed since it was stored (mtime)';
}

/** hex sha256 and size of a file, read through */
export async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const fh = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    let size = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, READ_CHUNK, size);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      size += bytesRead;
    }
    return { sha256: hash.digest('hex'), size };
  } finally {
    await fh.close();
  }
}
