// The mirrors' on-disk artifact cache, on real files in a fresh temporary directory per test:
// round trips, restarts, corruption, LRU eviction, unwritable directories, single flight.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { Body } from '../../src/mirror/body.js';
import { ArtifactCache } from '../../src/mirror/cache.js';
import { capturingLogger } from '../fixtures/logger.js';


const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** deterministic bytes, different for each seed */
function bytes(size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** All a stream gives: the chunks before it ended or failed, and its error if it failed. */
async function drain(stream: Readable): Promise<{ data: Buffer; error: NodeJS.ErrnoException | undefined }> {
  const chunks: Buffer[] = [];
  let error: NodeJS.ErrnoException | undefined;
  try {
    for await (const chunk of stream) chunks.push(chunk as Buffer);
  } catch (err) {
    error = err as NodeJS.ErrnoException;
  }
  return { data: Buffer.concat(chunks), error };
}

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'proxyd-cache-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const GO_ZIP = 'go/golang.org/x/mod/@v/v0.1.0.zip';

describe('ArtifactCache: storing and reading', () => {
  test('put then get streams the exact bytes, with size, sha256 and meta as stored', async () => {
    const { log } = capturingLogger();
    const cache = await ArtifactCache.open({ dir: join(root, 'c'), maxBytes: 10_000_000, log });
    const body = bytes(200_000);
    expect(await cache.put(GO_ZIP, Body.of(body), { 'content-type': 'application/zip', upstream: 'proxy.golang.org' })).toBe(true);

    const got = cache.get(GO_ZIP);
    expect(got).toMatchObject({ key: GO_ZIP, size: body.length, sha256: sha256(body), meta: { 'content-type': 'application/zip', upstream: 'proxy.golang.org' } });
    const { data, error } = await drain(got!.open());
    expect(error).toBeUndefined();
    expect(data.equals(body)).toBe(true);
    // twice: each open() is a fresh stream
    expect((await drain(got!.open())).data.equals(body)).toBe(true);
    expect(cache.get('npm/left-pad/-/left-pad-1.3.0.tgz')).toBeUndefined();
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: body.length, hits: 1, misses: 1, writable: true });
  });

  test('an empty artifact round-trips', async () => {
    const { log } = capturingLogger();
    const cache = await ArtifactCache.open({ dir: join(root, 'c'), maxBytes: 1000, log });
    expect(await cache.put('go/example.com/m/@v/v1.0.0.info', Body.of(Buffer.alloc(0)), {})).toBe(true);
    const { data, error } = await drain(cache.get('go/example.com/m/@v/v1.0.0.info')!.open());
    expect(error).toBeUndefined();
    expect(data.length).toBe(0);
  });

  test('the directory is created mode 0700; keys are hashed into file names, never used as paths', async () => {
    const { log } = capturingLogger();
    const dir = join(root, 'deep', 'c');
    const cache = await ArtifactCache.open({ dir, maxBytes: 1000, log });
    const key = '../../../etc/evil';
    expect(await cache.put(key, Body.of(Buffer.from('x')), {})).toBe(true);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await readdir(join(dir, 'objects'))).sort()).toEqual([sha256(key), `${sha256(key)}.json`]);
    expect(JSON.parse(await readFile(join(dir, 'objects', `${sha256(key)}.json`), 'utf8'))).toMatchObject({ key, size: 1, sha256: sha256('x'), meta: {} });
    expect(existsSync(join(root, 'etc'))).toBe(false);
  });

  test('storing a key again with other bytes replaces the entry; stats stay exact', async () => {
    const { log } = capturingLogger();
    const cache = await ArtifactCache.open({ dir: join(root, 'c'), maxBytes: 10_000, log });
    expect(await cache.put('a', Body.of(bytes(100, 1)), {})).toBe(true);
    expect(await cache.put('b', Body.of(bytes(300, 2)), {})).toBe(true);
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: 400 });
    expect(await cache.put('a', Body.of(bytes(250, 3)), { v: '2' })).toBe(true);
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: 550 });
    expect(await cache.put('a', Body.of(bytes(250, 3)), { v: '2' })).toBe(true); // the same bytes again: nothing changes
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: 550 });
    const a = cache.get('a')!;
    expect(a.meta).toEqual({ v: '2' });
    expect((await drain(a.open())).data.equals(bytes(250, 3))).toBe(true);
  });

  test('concurrent puts of one key leave one complete entry', async () => {
    const { log } = capturingLogger();
    const cache = await ArtifactCache.open({ dir: join(root, 'c'), maxBytes: 1_000_000, log });
    const results = await Promise.all([1, 2, 3, 4, 5].map((seed) => cache.put('k', Body.of(bytes(10_000 + seed, seed)), {})));
    expect(results).toEqual([true, true, true, true, true]);
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 10_005 });
    expect((await drain(cache.get('k')!.open())).data.equals(bytes(10_005, 5))).toBe(true);
    expect(await readdir(join(root, 'c', 'tmp'))).toEqual([]);
  });
});

describe('ArtifactCache: restarts', () => {
  test('a new cache on the same directory sees the entries, their meta and their bytes', async () => {
    const dir = join(root, 'c');
    const first = await ArtifactCache.open({ dir, maxBytes: 1_000_000, log: capturingLogger().log });
    expect(await first.put(GO_ZIP, Body.of(bytes(70_000, 1)), { 'content-type': 'application/zip' })).toBe(true);
    expect(await first.put('pypi/requests-2.32.3-py3-none-any.whl', Body.of(bytes(5_000, 2)), { 'content-type': 'application/octet-stream' })).toBe(true);
    await first.idle();

    const { log, lines } = capturingLogger();
    const second = await ArtifactCache.open({ dir, maxBytes: 1_000_000, log });
    expect(second.stats()).toMatchObject({ entries: 2, bytes: 75_000, hits: 0, misses: 0, writable: true });
    const zip = second.get(GO_ZIP)!;
    expect(zip).toMatchObject({ size: 70_000, sha256: sha256(bytes(70_000, 1)), meta: { 'content-type': 'application/zip' } });
    expect((await drain(zip.open())).data.equals(bytes(70_000, 1))).toBe(true);
    expect(second.has('pypi/requests-2.32.3-py3-none-any.whl')).toBe(true);
    expect(lines).toEqual([]);
  });

  test('the recency order survives a restart, including what get() refreshed', async () => {
    const dir = join(root, 'c');
    const first = await ArtifactCache.open({ dir, maxBytes: 300, log: capturingLogger().log });
    for (const key of ['a', 'b', 'c']) expect(await first.put(key, Body.of(bytes(100)), {})).toBe(true);
    first.get('a'); // order now b, c, a
    await first.idle();

    const second = await ArtifactCache.open({ dir, maxBytes: 300, log: capturingLogger().log });
    expect(await second.put('d', Body.of(bytes(100)), {})).toBe(true); // evicts b
    expect(['a', 'b', 'c', 'd'].filter((k) => second.has(k))).toEqual(['a', 'c', 'd']);
    second.get('c'); // order now a, d, c
    await second.idle();

    const third = await ArtifactCache.open({ dir, maxBytes: 300, log: capturingLogger().log });
    expect(await third.put('e', Body.of(bytes(100)), {})).toBe(true); // evicts a
    expect(['a', 'b', 'c', 'd', 'e'].filter((k) => third.has(k))).toEqual(['c', 'd', 'e']);
  });

  test('leftover temporary files and unfinished entries are removed at open; a sidecar without its artifact is quarantined', async () => {
    const dir = join(root, 'c');
    const first = await ArtifactCache.open({ dir, maxBytes: 1_000_000, log: capturingLogger().log });
    expect(await first.put('kept', Body.of(bytes(1000)), {})).toBe(true);
    expect(await first.put('orphaned', Body.of(bytes(1000)), {})).toBe(true);
    await first.idle();
    // what a crash leaves: temp files, an artifact renamed without its sidecar, a sidecar whose artifact vanished
    await writeFile(join(dir, 'tmp', `${sha256('x')}.0123456789ab`), bytes(500));
    await writeFile(join(dir, 'tmp', `${sha256('x')}.0123456789ab.json`), '{"key":');
    await writeFile(join(dir, 'objects', sha256('unfinished')), bytes(700));
    await rm(join(dir, 'objects', sha256('orphaned')));

    const { log, lines } = capturingLogger();
    const second = await ArtifactCache.open({ dir, maxBytes: 1_000_000, log });
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
    expect((await readdir(join(dir, 'objects'))).sort()).toEqual([sha256('kept'), `${sha256('kept')}.json`].sort());
    expect((await readdir(join(dir, 'quarantine'))).map((n) => n.replace(/-\d+/, '-T'))).toEqual([`${sha256('orphaned')}-T.json`]);
    expect(second.stats()).toMatchObject({ entries: 1, bytes: 1000 });
    expect(second.has('orphaned')).toBe(false);
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatchObject({ level: 40, corrupt: 1, unfinished: 1 });
  });

  test('a sidecar that does not match its artifact is quarantined at open', async () => {
    const dir = join(root, 'c');
    const first = await ArtifactCache.open({ dir, maxBytes: 1_000_000, log: capturingLogger().log });
    expect(await first.put('truncated', Body.of(bytes(1000)), {})).toBe(true);
    expect(await first.put('garbled', Body.of(bytes(1000)), {})).toBe(true);
    await first.idle();
    await writeFile(join(dir, 'objects', sha256('truncated')), bytes(999));
    await writeFile(join(dir, 'objects', `${sha256('garbled')}.json`), '{"key": 12');

    const { log, lines } = capturingLogger();
    const second = await ArtifactCache.open({ dir, maxBytes: 1_000_000, log });
    expect(second.stats()).toMatchObject({ entries: 0, bytes: 0 });
    expect(await readdir(join(dir, 'objects'))).toEqual([]);
    expect((await readdir(join(dir, 'quarantine'))).length).toBe(4);
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatchObject({ corrupt: 2, unfinished: 0 });
  });

  test('entries beyond a smaller maxBytes are evicted at open, least recently used first', async () => {
    const dir = join(root, 'c');
    const first = await ArtifactCache.open({ dir, maxBytes: 1000, log: capturingLogger().log });
    for (const key of ['a', 'b', 'c', 'd']) expect(await first.put(key, Body.of(bytes(100)), {})).toBe(true);
    first.get('a');
    await first.idle();
    const second = await ArtifactCache.open({ dir, maxBytes: 200, log: capturingLogger().log });
    expect(['a', 'b', 'c', 'd'].filter((k) => second.has(k))).toEqual(['a', 'd']);
    expect(second.stats()).toMatchObject({ entries: 2, bytes: 200, maxBytes: 200 });
    await second.idle();
    expect((await readdir(join(dir, 'objects'))).length).toBe(4);
  });
});

describe('ArtifactCache: corruption', () => {
  /** resolves once the clock has moved past the millisecond of now (a later write has a later mtime) */
  const laterMillisecond = async () => {
    const now = Date.now();
    await expect.poll(() => Date.now() > now + 1, { interval: 1 }).toBe(true);
  };

  test('a file rewritten since it was stored: the stream errors ECORRUPT before its first byte, the entry is quarantined, one log line', async () => {
    const dir = join(root, 'c');
    const { log, lines } = capturingLogger();
    const cache = await ArtifactCache.open({ dir, maxBytes: 10_000_000, log });
    const body = bytes(3_000_000); // several read chunks (1 MiB each)
    expect(await cache.put(GO_ZIP, Body.of(body), {})).toBe(true);
    const file = join(dir, 'objects', sha256(GO_ZIP));
    const onDisk = await readFile(file);
    onDisk[1_500_000] ^= 0x01;
    await laterMillisecond();
    await writeFile(file, onDisk);

    const { data, error } = await drain(cache.get(GO_ZIP)!.open());
    expect(error?.code).toBe('ECORRUPT');
    expect(data.length).toBe(0);
    expect(cache.has(GO_ZIP)).toBe(false);
    expect(cache.get(GO_ZIP)).toBeUndefined(); // a miss: the caller fetches again
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0 });
    await cache.idle();
    expect(await readdir(join(dir, 'objects'))).toEqual([]);
    const moved = (await readdir(join(dir, 'quarantine'))).map((n) => n.replace(/-\d+/, '-T')).sort();
    expect(moved).toEqual([`${sha256(GO_ZIP)}-T`, `${sha256(GO_ZIP)}-T.json`]);
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatchObject({ level: 40, key: GO_ZIP, problem: 'changed since it was stored (mtime)' });

    // stored afresh, it reads whole again
    expect(await cache.put(GO_ZIP, Body.of(body), {})).toBe(true);
    expect((await drain(cache.get(GO_ZIP)!.open())).data.equals(body)).toBe(true);
    expect(lines.length).toBe(1);
  });

  test('a file replaced by another of the same size (another inode) or grown longer is refused the same way', async () => {
    const dir = join(root, 'c');
    const { log, lines } = capturingLogger();
    const cache = await ArtifactCache.open({ dir, maxBytes: 10_000_000, log });
    expect(await cache.put('replaced', Body.of(bytes(100_000)), {})).toBe(true);
    expect(await cache.put('grown', Body.of(bytes(100_000)), {})).toBe(true);
    const replaced = join(dir, 'objects', sha256('replaced'));
    const stored = await stat(replaced);
    await writeFile(`${replaced}.new`, bytes(100_000, 9));
    await utimes(`${replaced}.new`, stored.atime, stored.mtime); // the same size and times: only the inode tells
    await rename(`${replaced}.new`, replaced);
    await writeFile(join(dir, 'objects', sha256('grown')), Buffer.concat([bytes(100_000), Buffer.from('tail')]));
    for (const key of ['replaced', 'grown']) {
      const { data, error } = await drain(cache.get(key)!.open());
      expect(error?.code, key).toBe('ECORRUPT');
      expect(data.length).toBe(0);
    }
    await cache.idle();
    expect(lines.map((l) => l.problem).sort()).toEqual(['another file than stored (inode)', 'another size than stored']);
  });

  test('two readers of one corrupt entry: both error, one quarantine, one line', async () => {
    const dir = join(root, 'c');
    const { log, lines } = capturingLogger();
    const cache = await ArtifactCache.open({ dir, maxBytes: 10_000_000, log });
    expect(await cache.put('k', Body.of(bytes(200_000)), {})).toBe(true);
    await writeFile(join(dir, 'objects', sha256('k')), bytes(100_000));
    const got = cache.get('k')!;
    const [one, two] = await Promise.all([drain(got.open()), drain(got.open())]);
    expect([one.error?.code, two.error?.code]).toEqual(['ECORRUPT', 'ECORRUPT']);
    await cache.idle();
    expect(lines.length).toBe(1);
    expect((await readdir(join(dir, 'quarantine'))).length).toBe(2);
  });

  test('a file rewritten while no daemon ran is quarantined at open', async () => {
    const dir = join(root, 'c');
    const first = await ArtifactCache.open({ dir, maxBytes: 10_000_000, log: capturingLogger().log });
    expect(await first.put('k', Body.of(bytes(50_000)), {})).toBe(true);
    expect(await first.put('kept', Body.of(bytes(50_000, 2)), {})).toBe(true);
    await first.idle();
    await laterMillisecond();
    await writeFile(join(dir, 'objects', sha256('k')), bytes(50_000, 3));
    const { log, lines } = capturingLogger();
    const second = await ArtifactCache.open({ dir, maxBytes: 10_000_000, log });
    expect(second.has('k')).toBe(false);
    expect((await drain(second.get('kept')!.open())).data.equals(bytes(50_000, 2))).toBe(true);
    expect(lines[0]).toMatchObject({ corrupt: 1 });
  });

  test('bits changed in place with the mtime put back: a read cannot tell, verify() hashes every entry and quarantines it', async () => {
    const dir = join(root, 'c');
    const { log, lines } = capturingLogger();
    const cache = await ArtifactCache.open({ dir, maxBytes: 10_000_000, log });
    expect(await cache.put('rotten', Body.of(bytes(300_000)), {})).toBe(true);
    expect(await cache.put('sound', Body.of(bytes(300_000, 2)), {})).toBe(true);
    const file = join(dir, 'objects', sha256('rotten'));
    const before = await stat(file);
    const handle = await open(file, 'r+');
    await handle.write(Buffer.from([0x55]), 0, 1, 123_456);
    await handle.close();
    await utimes(file, before.atime, before.mtime);
    expect((await drain(cache.get('rotten')!.open())).error).toBeUndefined(); // the stamp still matches
    const report = await cache.verify();
    expect(report).toEqual({ checked: 2, bytes: 600_000, bad: [{ key: 'rotten', problem: 'sha256 mismatch' }] });
    expect(cache.has('rotten')).toBe(false);
    expect(cache.has('sound')).toBe(true);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ key: 'rotten', problem: 'sha256 mismatch' });
  });
});

describe('ArtifactCache: size bound', () => {
  test('least recently used entries are evicted beyond maxBytes; get() refreshes recency', async () => {
    const dir = join(root, 'c');
    const cache = await ArtifactCache.open({ dir, maxBytes: 300, log: capturingLogger().log });
    for (const key of ['a', 'b', 'c']) expect(await cache.put(key, Body.of(bytes(100)), {})).toBe(true);
    expect(cache.stats()).toMatchObject({ entries: 3, bytes: 300 });
    expect(cache.get('a')).toBeDefined(); // order now b, c, a
    expect(await cache.put('d', Body.of(bytes(100)), {})).toBe(true); // evicts b
    expect(['a', 'b', 'c', 'd'].filter((k) => cache.has(k))).toEqual(['a', 'c', 'd']);
    expect(await cache.put('e', Body.of(bytes(150)), {})).toBe(true); // evicts c then a
    expect(['a', 'b', 'c', 'd', 'e'].filter((k) => cache.has(k))).toEqual(['d', 'e']);
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: 250, maxBytes: 300 });
    await cache.idle();
    expect((await readdir(join(dir, 'objects'))).sort()).toEqual([sha256('d'), `${sha256('d')}.json`, sha256('e'), `${sha256('e')}.json`].sort());
  });

  test('an artifact bigger than maxBytes is not stored and evicts nothing; one exactly maxBytes is', async () => {
    const dir = join(root, 'c');
    const { log, lines } = capturingLogger();
    const cache = await ArtifactCache.open({ dir, maxBytes: 1000, log });
    expect(await cache.put('small', Body.of(bytes(10)), {})).toBe(true);
    expect(await cache.put('huge', Body.of(bytes(1001)), {})).toBe(false);
    expect(cache.get('huge')).toBeUndefined();
    expect(cache.has('small')).toBe(true);
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 10, writable: true });
    expect(await cache.put('exact', Body.of(bytes(1000)), {})).toBe(true); // fits alone: evicts small
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 1000 });
    expect(cache.has('small')).toBe(false);
    await cache.idle();
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
    expect(lines).toEqual([]);
  });

  test('a reader that opened an entry before its eviction still gets all of its bytes', async () => {
    const dir = join(root, 'c');
    const cache = await ArtifactCache.open({ dir, maxBytes: 300_000, log: capturingLogger().log });
    expect(await cache.put('old', Body.of(bytes(200_000, 1)), {})).toBe(true);
    const stream = cache.get('old')!.open();
    expect(await cache.put('new', Body.of(bytes(200_000, 2)), {})).toBe(true); // evicts old
    expect(cache.has('old')).toBe(false);
    const { data, error } = await drain(stream);
    expect(error).toBeUndefined();
    expect(data.equals(bytes(200_000, 1))).toBe(true);
    await cache.idle();
    expect(existsSync(join(dir, 'objects', sha256('old')))).toBe(false);
  });
});

describe('ArtifactCache: a directory that cannot be written', () => {
  test('a cache dir under a file (ENOTDIR, even as root): open works, puts resolve false, one log line, gets miss', async () => {
    await writeFile(join(root, 'file'), 'not a directory');
    const { log, lines } = capturingLogger();
    const cache = await ArtifactCache.open({ dir: join(root, 'file', 'cache'), maxBytes: 1_000_000, log });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => cache.put(`k${i}`, Body.of(bytes(100, i)), {})));
    expect(results.every((r) => r === false)).toBe(true);
    expect(cache.get('k0')).toBeUndefined();
    expect(await cache.once('k0', async () => 'fetched')).toBe('fetched');
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0, writable: false, misses: 1 });
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatchObject({ level: 40, code: 'ENOTDIR' });
  });

  test('a cache dir that is a file: the same', async () => {
    await writeFile(join(root, 'c'), 'not a directory');
    const { log, lines } = capturingLogger();
    const cache = await ArtifactCache.open({ dir: join(root, 'c'), maxBytes: 1_000_000, log });
    for (let i = 0; i < 10; i++) expect(await cache.put(`k${i}`, Body.of(bytes(100, i)), {})).toBe(false);
    expect(cache.get('k1')).toBeUndefined();
    expect(cache.stats().writable).toBe(false);
    expect(lines.length).toBe(1);
  });

  test('writes failing after open (objects/ turned into a file): puts resolve false, logged once, later gets miss', async () => {
    const dir = join(root, 'c');
    const { log, lines } = capturingLogger();
    const cache = await ArtifactCache.open({ dir, maxBytes: 1_000_000, log });
    expect(await cache.put('before', Body.of(bytes(100)), {})).toBe(true);
    await rm(join(dir, 'objects'), { recursive: true });
    await writeFile(join(dir, 'objects'), 'not a directory');

    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => cache.put(`k${i}`, Body.of(bytes(100, i)), {})));
    expect(results.every((r) => r === false)).toBe(true);
    for (let i = 0; i < 5; i++) expect(await cache.put(`again${i}`, Body.of(bytes(100, i)), {})).toBe(false);
    expect(cache.get('k3')).toBeUndefined();
    expect(cache.stats()).toMatchObject({ entries: 1, bytes: 100, writable: false });
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatchObject({ level: 40, code: 'ENOTDIR' });
    expect(await readdir(join(dir, 'tmp'))).toEqual([]); // nothing partial left behind

    // the entry whose file vanished: its stream errors, it is dropped (one more line), and gets miss from then on
    const { error } = await drain(cache.get('before')!.open());
    expect(error?.code).toBe('ENOTDIR');
    expect(cache.get('before')).toBeUndefined();
    await cache.idle();
    expect(lines.length).toBe(2);
    expect(lines[1]).toMatchObject({ key: 'before', problem: 'file missing' });

    // writable again once the directory is back
    await rm(join(dir, 'objects'));
    await mkdir(join(dir, 'objects'));
    expect(await cache.put('after', Body.of(bytes(100)), {})).toBe(true);
    expect(cache.stats().writable).toBe(true);
  });
});

describe('ArtifactCache: a directory someone else could write to', () => {
  /** a cache that held `k` before its directory was opened up, then opened again */
  const reopened = async (openUp: (dir: string) => Promise<void>) => {
    const dir = join(root, 'parent', 'c');
    const first = await ArtifactCache.open({ dir, maxBytes: 1_000_000, log: capturingLogger().log });
    expect(await first.put('k', Body.of(bytes(100)), {})).toBe(true);
    await openUp(dir);
    const { log, lines } = capturingLogger();
    const cache = await ArtifactCache.open({ dir, maxBytes: 1_000_000, log });
    return { cache, lines };
  };
  const unused = (cache: ArtifactCache) => async () => {
    expect(cache.get('k')).toBeUndefined(); // what is there may have been planted: not served
    expect(await cache.put('new', Body.of(bytes(10)), {})).toBe(false);
    expect(cache.stats()).toMatchObject({ entries: 0, writable: false });
  };

  test('writable by every user (0777): nothing in it is served, nothing is stored, one error line says why', async () => {
    const { cache, lines } = await reopened((dir) => chmod(dir, 0o777));
    await unused(cache)();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, problem: expect.stringMatching(/c is writable by every user \(mode 777\)$/) });
  });

  test('objects/ writable by its group, or a parent that lets every user rename the directory: the same', async () => {
    for (const openUp of [(dir: string) => chmod(join(dir, 'objects'), 0o770), (dir: string) => chmod(join(dir, '..'), 0o777)]) {
      const { cache, lines } = await reopened(openUp);
      await unused(cache)();
      expect(lines[0]!.problem).toMatch(/objects is writable by its group \(mode 770\)|parent .* lets every user rename it \(mode 777\)/);
      await chmod(join(root, 'parent'), 0o700);
      await chmod(join(root, 'parent', 'c', 'objects'), 0o700);
    }
  });

  test.skipIf(process.getuid?.() !== 0)('owned by another user (as root, the directory given to nobody): the same', async () => {
    const { cache, lines } = await reopened((dir) => chown(dir, 65534, 65534));
    await unused(cache)();
    expect(lines[0]!.problem).toMatch(/c belongs to another user \(uid 65534\)$/);
  });
});

describe('ArtifactCache.once', () => {
  test('50 concurrent calls run the work once and all get its result; a call after it settled runs it again', async () => {
    const cache = await ArtifactCache.open({ dir: join(root, 'c'), maxBytes: 1000, log: capturingLogger().log });
    let runs = 0;
    let release!: (v: string) => void;
    const gate = new Promise<string>((r) => { release = r; });
    const work = async (): Promise<string> => {
      runs++;
      return gate;
    };
    const calls = Array.from({ length: 50 }, () => cache.once(GO_ZIP, work));
    expect(runs).toBe(1);
    release('body');
    expect(await Promise.all(calls)).toEqual(Array(50).fill('body'));
    expect(runs).toBe(1);

    expect(await cache.once(GO_ZIP, async () => { runs++; return 'again'; })).toBe('again');
    expect(runs).toBe(2);
  });

  test('different keys run separately', async () => {
    const cache = await ArtifactCache.open({ dir: join(root, 'c'), maxBytes: 1000, log: capturingLogger().log });
    let runs = 0;
    const results = await Promise.all(['a', 'b', 'a', 'b'].map((k) => cache.once(k, async () => `${k}${++runs}`)));
    expect(runs).toBe(2);
    expect(results).toEqual(['a1', 'b2', 'a1', 'b2']);
  });

  test('a rejection is shared by all waiting callers; the next call retries', async () => {
    const cache = await ArtifactCache.open({ dir: join(root, 'c'), maxBytes: 1000, log: capturingLogger().log });
    let runs = 0;
    const failure = new Error('upstream 502');
    let fail!: () => void;
    const gate = new Promise<void>((_, reject) => { fail = () => reject(failure); });
    const calls = Array.from({ length: 10 }, () => cache.once('k', async () => {
      runs++;
      await gate;
      return 'never';
    }));
    fail();
    const settled = await Promise.allSettled(calls);
    expect(settled.every((s) => s.status === 'rejected' && s.reason === failure)).toBe(true);
    expect(runs).toBe(1);

    expect(await cache.once('k', async () => { runs++; return 'ok'; })).toBe('ok');
    expect(runs).toBe(2);
  });

  test('work that throws synchronously is a rejection, not a throw', async () => {
    const cache = await ArtifactCache.open({ dir: join(root, 'c'), maxBytes: 1000, log: capturingLogger().log });
    const p = cache.once('k', (() => { throw new Error('sync'); }) as () => Promise<string>);
    await expect(p).rejects.toThrow('sync');
    expect(await cache.once('k', async () => 'ok')).toBe('ok');
  });
});
