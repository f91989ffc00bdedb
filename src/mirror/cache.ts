// The on-disk cache of immutable mirror artifacts: Go module .info/.mod/.zip of a version, npm
// tarballs, wheels and sdists. Their bytes never change upstream, so an entry is never refreshed:
// it is stored once, then evicted (least recently used, beyond maxBytes) or quarantined (its bytes
// no longer match what was stored).
//
// Layout under `dir` (created mode 0700; one daemon per directory):
//   objects/<h>             the artifact's bytes; h = hex sha256 of the key (keys never become paths).
//                           Its mtime is when it was stored (part of its stamp); its atime, which
//                           proxyd sets, when it was last used: the LRU order across restarts.
//   objects/<h>.json        the sidecar { key, size, sha256, meta, storedAt, ino, mtimeMs }
//   tmp/                    files being written, and bodies being fetched (body.ts); whatever is
//                           there at open is a crash's leftover, removed
//   quarantine/<h>-<ms>[.json]  entries found corrupt, moved aside for a look; not counted in
//                           maxBytes, safe to delete at any time
//
// Guarantees:
// - Nothing partial: both files are written under tmp/, fsynced and renamed into objects/, artifact
//   first and sidecar last, so an entry exists exactly when its sidecar does. At open, an artifact
//   without a sidecar (a crash between the renames) is removed, and a sidecar that does not match
//   its artifact (missing, another size, inode or mtime, unreadable) is quarantined.
// - Stamped reads: an artifact is verified before it is stored, and a read checks that the file
//   is still the one stored (size, inode, mtime) instead of hashing it again (cache-reader.ts); a
//   mismatch errors (ECORRUPT) before the first byte and quarantines the entry. verify() hashes
//   every entry (`proxyctl cache verify`) for what the stamp cannot see.
// - Restart-safe: open() rebuilds the index from the sidecars, the order from the artifacts' atimes.
// - Trusted or unused: a directory that another user owns or may write to is not read at all
//   (cache-trust.ts); entries there could be planted.
// - Never in the way: a directory that cannot be created or written gives a cache that stores
//   nothing, a write that fails makes put() resolve false; each cause is logged once, not per request.
import { mkdir, open as openFile, rename, rm, stat, unlink, utimes } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from '../log/logger.js';
import { Spool, type Body } from './body.js';
import { hashFile, StampedReader, stampProblem } from './cache-reader.js';
import { distrust } from './cache-trust.js';
import {
  OBJECTS, QUARANTINE, SIDECAR, TMP, clearTemp, errCode, nameOf, quarantine, scan, syncDir, tempName, writeDurably,
  type Sidecar,
} from './cache-index.js';

export interface CacheOptions {
  /** directory; created (mode 0700) if missing */
  dir: string;
  /** total bytes of artifacts kept; least recently used evicted beyond it */
  maxBytes: number;
  log: Logger;
}

export interface CachedArtifact {
  key: string;
  size: number;
  /** hex sha256 of the bytes, recorded when stored */
  sha256: string;
  /** what the storer recorded (content type, upstream, etc.) */
  meta: Record<string, string>;
  /**
   * The bytes as a stream, from a file that is still the one stored (size, inode, mtime), else a
   * stream that errors (error.code 'ECORRUPT') before its first byte, and the entry is
   * quarantined; a file cut short while read errors too, so a consumer that pipes it into an HTTP
   * response with Content-Length never sends a complete wrong body. An entry evicted before
   * open() is called gives a stream that errors with ENOENT. `opened` says, before any byte is
   * read, whether the file could be opened and is the one stored.
   */
  open(): Readable & { opened: Promise<boolean> };
}

interface CacheStats {
  entries: number;
  bytes: number;
  maxBytes: number;
  hits: number;
  misses: number;
  writable: boolean;
  dir: string;
}

interface Entry extends Sidecar {
  name: string;
  /** the artifact file's stamp: what a read checks */
  ino: number;
  mtimeMs: number;
  /** last use, ms on the cache's clock; the recency order itself is the index's insertion order */
  used: number;
  /** the `used` last written to the artifact's atime */
  usedOnDisk: number;
  touching: boolean;
  /** streams opening this entry's file: its removal waits for them */
  opening: Set<Promise<unknown>>;
}

export class ArtifactCache {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #log: Logger;
  /** key → entry, least recently used first */
  readonly #index = new Map<string, Entry>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;
  /** false when the directory could not be set up: nothing is ever written */
  #enabled = true;
  /** outcome of the last write */
  #lastWriteOk = true;
  /** ms; strictly increasing, so recency survives a restart even for uses within one millisecond */
  #clock = 0;
  readonly #logged = new Set<string>();
  readonly #flights = new Map<string, Promise<unknown>>();
  /** per key, the tail of its chain of disk changes (store, removal, quarantine) */
  readonly #locks = new Map<string, Promise<void>>();
  readonly #background = new Set<Promise<void>>();
  /** where the mirrors' fetches keep their bodies: tmp/ here, so that a verified one is stored by a rename */
  spool = new Spool(undefined);

  private constructor(options: CacheOptions) {
    this.#dir = resolve(options.dir);
    this.#maxBytes = Math.max(0, options.maxBytes);
    this.#log = options.log;
  }

  /** Never throws: a directory that cannot be created or written gives a cache that stores nothing (and says so once in the log). */
  static async open(options: CacheOptions): Promise<ArtifactCache> {
    const cache = new ArtifactCache(options);
    await cache.#load();
    return cache;
  }

  /** the entry for key, or undefined; marks it recently used */
  get(key: string): CachedArtifact | undefined {
    const e = this.#index.get(key);
    if (!e) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    this.#use(e);
    return { key: e.key, size: e.size, sha256: e.sha256, meta: { ...e.meta }, open: () => this.#read(e) };
  }

  /** whether key is held; neither marks it used nor counts as a hit or miss */
  has(key: string): boolean {
    return this.#index.has(key);
  }

  /**
   * Stores a complete, already-verified body atomically (temp file in the cache dir + fsync +
   * rename, sidecar likewise; a body already in a file under tmp/ is taken by a rename), then
   * evicts least recently used entries beyond maxBytes (never the one just stored unless it alone exceeds maxBytes, in which case it is not stored). Resolves
   * false when it could not be stored (disk full, read-only: logged once per cause, not per
   * request); never rejects.
   */
  async put(key: string, body: Body, meta: Record<string, string>): Promise<boolean> {
    if (!this.#enabled || body.size > this.#maxBytes) return false;
    try {
      await this.#serial(key, () => this.#store(key, body, { ...meta }));
      this.#lastWriteOk = true;
      return true;
    } catch (err) {
      this.#lastWriteOk = false;
      this.#logOnce(errCode(err), { dir: this.#dir, key, err: (err as Error).message }, 'cannot store in the artifact cache; serving without caching');
      return false;
    }
  }

  /** Single flight: concurrent calls with the same key share one run of `work` (its result or its rejection); a call after it settled starts a new one. */
  once<T>(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.#flights.get(key);
    if (running) return running as Promise<T>;
    let settled = false;
    const flight = (async () => {
      try {
        return await work();
      } finally {
        settled = true;
        this.#flights.delete(key); // before the callers resume, so that any call after settling starts anew
      }
    })();
    if (!settled) this.#flights.set(key, flight); // settled already: `work` threw synchronously
    return flight;
  }

  /** bytes and entries held, hits and misses since open, whether it is writable — for the control socket */
  stats(): CacheStats {
    return {
      entries: this.#index.size, bytes: this.#bytes, maxBytes: this.#maxBytes, hits: this.#hits, misses: this.#misses,
      writable: this.#enabled && this.#lastWriteOk, dir: this.#dir,
    };
  }

  /**
   * Hashes every entry's file (one at a time, each under its key's lock): an entry whose bytes are
   * not the ones stored is quarantined, as a read would have done had it hashed.
   */
  async verify(): Promise<{ checked: number; bytes: number; bad: Array<{ key: string; problem: string }> }> {
    const report = { checked: 0, bytes: 0, bad: [] as Array<{ key: string; problem: string }> };
    for (const e of [...this.#index.values()]) {
      await this.#serial(e.key, async () => {
        if (this.#index.get(e.key) !== e) return; // evicted or replaced meanwhile
        const got = await hashFile(this.#object(e.name)).catch((err: unknown) => ({ error: errCode(err) }));
        report.checked++;
        const problem = 'error' in got ? `unreadable (${got.error})` : got.size !== e.size ? 'another size than stored' : got.sha256 !== e.sha256 ? 'sha256 mismatch' : undefined;
        if ('size' in got) report.bytes += got.size;
        if (!problem) return;
        report.bad.push({ key: e.key, problem });
        this.#forget(e);
        const file = this.#enabled ? await quarantine(this.#dir, e.name) : 'left in place';
        this.#log.warn({ dir: this.#dir, key: e.key, problem, file }, 'cached artifact does not match what was stored: dropped');
      });
    }
    return report;
  }

  /** Resolves when the disk work started in the background (recency marks, evictions, quarantines) has finished. */
  async idle(): Promise<void> {
    while (this.#background.size > 0) await Promise.all(this.#background);
  }

  async #load(): Promise<void> {
    const untrusted = await distrust(this.#dir, [OBJECTS, TMP, QUARANTINE]);
    if (untrusted) {
      this.#enabled = false;
      this.#log.error({ dir: this.#dir, problem: untrusted },
        `the artifact cache directory is not used, nothing is cached or served from it: ${untrusted} (make it the daemon user's own, mode 0700, or set cache.dir to such a directory)`);
      return;
    }
    try {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
      for (const sub of [OBJECTS, TMP, QUARANTINE]) await mkdir(join(this.#dir, sub), { recursive: true, mode: 0o700 });
      await clearTemp(this.#dir);
      // an existing directory may still refuse writes (read-only mount, permissions): find out now
      const probe = join(this.#dir, TMP, tempName('probe'));
      await writeDurably(probe, Buffer.alloc(0));
      await unlink(probe);
      this.spool = new Spool(join(this.#dir, TMP));
    } catch (err) {
      this.#enabled = false;
      this.#logOnce(errCode(err), { dir: this.#dir, err: (err as Error).message }, 'the artifact cache directory cannot be written: nothing will be cached');
    }
    // a directory that can be read but not written still serves what it holds
    const found = await scan(this.#dir).catch(() => undefined);
    if (!found) return;
    for (const f of found.entries) {
      this.#index.set(f.key, { ...f, usedOnDisk: f.used, touching: false, opening: new Set() });
      this.#bytes += f.size;
      this.#clock = Math.max(this.#clock, f.used);
    }
    if (!this.#enabled) return;
    const quarantined = [];
    for (const name of found.bad) quarantined.push(await quarantine(this.#dir, name));
    for (const name of found.strays) await rm(join(this.#dir, OBJECTS, name), { recursive: true, force: true }).catch(() => {});
    if (found.bad.length > 0 || found.strays.length > 0) {
      this.#log.warn({ dir: this.#dir, corrupt: found.bad.length, quarantined, unfinished: found.strays.length },
        `artifact cache: ${found.bad.length} corrupt entr${found.bad.length === 1 ? 'y' : 'ies'} quarantined, ${found.strays.length} unfinished file(s) removed`);
    }
    this.#evict(undefined); // maxBytes may have shrunk since the last run
  }

  #tick(): number {
    this.#clock = Math.max(Date.now(), this.#clock + 1);
    return this.#clock;
  }

  #object(name: string): string {
    return join(this.#dir, OBJECTS, name);
  }

  /** Moves e to the most recently used end, and its artifact's atime after it (in the background; the mtime stays the stamp). */
  #use(e: Entry): void {
    this.#index.delete(e.key);
    this.#index.set(e.key, e);
    e.used = this.#tick();
    if (e.touching || !this.#enabled) return;
    e.touching = true;
    this.#spawn((async () => {
      try {
        // a loop rather than one call per use: utimes calls could otherwise land out of order
        while (e.usedOnDisk < e.used && this.#index.get(e.key) === e) {
          const t = e.used;
          // utimes sets the mtime too: put back the stamp only on the file that still has it
          const st = await stat(this.#object(e.name)).catch(() => undefined);
          const problem = st ? stampProblem(st, e) : 'file missing';
          if (problem) return this.#condemn(e, { problem });
          await utimes(this.#object(e.name), t / 1000, e.mtimeMs / 1000).catch(() => {});
          e.usedOnDisk = t;
        }
      } finally {
        e.touching = false;
      }
    })());
  }

  async #store(key: string, body: Body, meta: Record<string, string>): Promise<void> {
    const { sha256, size } = body;
    const old = this.#index.get(key);
    if (old && old.sha256 === sha256 && old.size === size) return this.#use(old);

    const name = nameOf(key);
    const used = this.#tick();
    const side: Sidecar = { key, size, sha256, meta, storedAt: Date.now() };
    const tmpBody = body.file ?? join(this.#dir, TMP, tempName(name));
    const tmpSide = join(this.#dir, TMP, tempName(name)) + SIDECAR;
    let replacing = false;
    let stamp: { ino: number; mtimeMs: number };
    try {
      if (body.buffer) await writeDurably(tmpBody, body.buffer, used);
      else await utimes(tmpBody, used / 1000, used / 1000);
      const st = await stat(tmpBody); // a rename keeps both
      stamp = { ino: st.ino, mtimeMs: st.mtimeMs };
      Object.assign(side, stamp);
      await writeDurably(tmpSide, Buffer.from(JSON.stringify(side)));
      if (old) this.#forget(old);
      replacing = true;
      await rm(this.#object(name) + SIDECAR, { force: true }); // no entry until the new sidecar is in place
      await rename(tmpBody, this.#object(name));
      body.adopted();
      await rename(tmpSide, this.#object(name) + SIDECAR);
      await syncDir(join(this.#dir, OBJECTS));
    } catch (err) {
      // a body in a file is its owner's to remove until the cache took it
      await Promise.all([body.buffer ? tmpBody : undefined, tmpSide].map((p) => p && rm(p, { force: true }).catch(() => {})));
      if (replacing) await rm(this.#object(name), { force: true }).catch(() => {});
      throw err;
    }
    const entry: Entry = { ...side, ...stamp, name, used, usedOnDisk: used, touching: false, opening: new Set() };
    this.#index.set(key, entry);
    this.#bytes += entry.size;
    this.#evict(entry);
  }

  /** Drops least recently used entries (but `keep`) until the total fits in maxBytes; their files go in the background. */
  #evict(keep: Entry | undefined): void {
    for (const e of this.#index.values()) {
      if (this.#bytes <= this.#maxBytes) break;
      if (e === keep) continue;
      this.#forget(e);
      this.#spawn(this.#serial(e.key, async () => {
        await Promise.allSettled(e.opening); // a reader opening the file gets its descriptor first
        if (this.#index.has(e.key)) return; // a fresh copy was stored in its place meanwhile
        for (const path of [this.#object(e.name) + SIDECAR, this.#object(e.name)]) {
          await rm(path, { force: true }).catch((err: unknown) => {
            this.#logOnce(`evict:${errCode(err)}`, { dir: this.#dir, err: (err as Error).message }, 'cannot remove evicted files from the artifact cache');
          });
        }
      }));
    }
  }

  /** Out of the index, so the next get() misses. */
  #forget(e: Entry): void {
    if (this.#index.get(e.key) !== e) return;
    this.#index.delete(e.key);
    this.#bytes -= e.size;
  }

  /** e's files are not what was stored: forget it, move them aside, say so in one line. */
  #condemn(e: Entry, fields: Record<string, unknown>): void {
    if (this.#index.get(e.key) !== e) return; // already evicted, replaced or condemned
    this.#forget(e);
    this.#spawn(this.#serial(e.key, async () => {
      // when a fresh copy was stored meanwhile the bad files are already gone
      const outcome = this.#index.has(e.key) || !this.#enabled ? 'left in place' : await quarantine(this.#dir, e.name);
      this.#log.warn({ dir: this.#dir, key: e.key, ...fields, file: outcome }, 'cached artifact does not match what was stored: dropped');
    }));
  }

  #read(e: Entry): StampedReader {
    return new StampedReader({ size: e.size, ino: e.ino, mtimeMs: e.mtimeMs }, {
      open: () => {
        const opening = openFile(this.#object(e.name), 'r');
        const settled = opening.then(() => {}, () => {});
        e.opening.add(settled);
        void settled.then(() => e.opening.delete(settled));
        return opening.catch((err: unknown) => {
          if (errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR') this.#condemn(e, { problem: 'file missing' });
          throw err;
        });
      },
      mismatch: (fields) => this.#condemn(e, fields),
    });
  }

  /** Runs task after the disk changes already queued for key. */
  #serial(key: string, task: () => Promise<void>): Promise<void> {
    const run = (this.#locks.get(key) ?? Promise.resolve()).then(task);
    const tail = run.catch(() => {});
    this.#locks.set(key, tail);
    void tail.then(() => {
      if (this.#locks.get(key) === tail) this.#locks.delete(key);
    });
    return run;
  }

  #spawn(work: Promise<void>): void {
    const tracked = work.catch((err: unknown) => this.#log.error({ dir: this.#dir, err: (err as Error).message }, 'artifact cache: background disk work failed'));
    this.#background.add(tracked);
    void tracked.then(() => this.#background.delete(tracked));
  }

  #logOnce(cause: string, fields: Record<string, unknown>, message: string): void {
    if (this.#logged.has(cause)) return;
    this.#logged.add(cause);
    this.#log.warn({ ...fields, code: cause }, message);
  }
}
