// The checksum-database checks a goproxy mirror makes before it stores a module: signed notes
// (against a real tree head signed by sum.golang.org) and record proofs from tiles (against a
// test database built from RFC 6962's definitions, sizes past two tile levels). Each run prints
// its seed; SUMDB_SEED=<seed> replays it.
import fc from 'fast-check';
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { SumdbVerifier } from '../../src/mirror/sumdb/lookup.js';
import { GO_SUMDB_KEY, openNote, parseVerifierKey } from '../../src/mirror/sumdb/note.js';
import { parseTree, tilePath } from '../../src/mirror/sumdb/tlog.js';
import { startSumdb, verifierKey, type Sumdb } from '../fixtures/sumdb.js';

const seed = Number(process.env.SUMDB_SEED ?? Date.now() % 2 ** 31);
console.info(`sumdb: seed ${seed} (replay with SUMDB_SEED=${seed})`);

/** a tree head sum.golang.org signed (fetched 2026-09-28; public data) */
const GO_NOTE = Buffer.from(
  'Z28uc3VtIGRhdGFiYXNlIHRyZWUKNjU2NjQyNTgKV1ZWTlZEMnF4K2ZUcTMxemtqNlVBcXhUNVg2SHZHcGhHTStvOFRobmJzZz0KCuKAlCBzdW0uZ29sYW5nLm9yZyBBejNncmxpZ0ptZ1g3S0d5R1BLeWJ5a05UaDNWZ3NiTHZVdXZPd3JNNXpMVmx1bG1GcDJ3ZHZieE93NzQvZ2NOeFVSU2hYRXBiN1JYY3MzK0JZZmxZTit3MGdRPQo=',
  'base64',
);

describe('signed notes and verifier keys', () => {
  test('a tree head signed by sum.golang.org opens with the key the go command has built in', () => {
    const text = openNote(GO_NOTE, parseVerifierKey(GO_SUMDB_KEY));
    expect(parseTree(text)).toEqual({ size: 65664258, root: Buffer.from('WVVNVD2qx+fTq31zkj6UAqxT5X6HvGphGM+o8Thnbsg=', 'base64') });
  });

  test('a changed size, a changed root or another key under the same name does not open', () => {
    const key = parseVerifierKey(GO_SUMDB_KEY);
    expect(() => openNote(Buffer.from(GO_NOTE.toString().replace('65664258', '65664259')), key)).toThrow(/signature by sum.golang.org does not verify/);
    expect(() => openNote(Buffer.from(GO_NOTE.toString().replace('WVVN', 'WVVM')), key)).toThrow(/does not verify/);
    const other = verifierKey('sum.golang.org', generateKeyPairSync('ed25519').publicKey).text;
    expect(() => openNote(GO_NOTE, parseVerifierKey(other))).toThrow(/not signed by sum.golang.org's key/);
    expect(() => openNote(Buffer.from(GO_NOTE.toString().replace('\u2014', '-')), key)).toThrow(/malformed signature line/);
  });

  test('verifier keys: the hash must be the hash of the name and key, the key an Ed25519 one', () => {
    expect(parseVerifierKey(GO_SUMDB_KEY).name).toBe('sum.golang.org');
    expect(() => parseVerifierKey(GO_SUMDB_KEY.replace('033de0ae', '033de0af'))).toThrow(/033de0af is not the hash of this name and key \(expected 033de0ae\)/);
    expect(() => parseVerifierKey('sum.golang.org+033de0ae+AAAA')).toThrow(/not an Ed25519 key/);
    expect(() => parseVerifierKey('sum.golang.org')).toThrow(/not a checksum database key/);
  });

  test('tile paths are tlog\'s: N in groups of three digits, partial tiles with their width', () => {
    expect(tilePath(0, 5, 256)).toBe('tile/8/0/005');
    expect(tilePath(1, 1234067, 17)).toBe('tile/8/1/x001/x234/067.p/17');
    expect(tilePath(2, 1000, 256)).toBe('tile/8/2/x001/000');
  });
});

describe('record proofs from tiles', () => {
  const lookups = (db: Sumdb) => new SumdbVerifier(parseVerifierKey(db.key));
  const read = (db: Sumdb, seen?: string[]) => async (path: string) => {
    seen?.push(path);
    const tile = db.tile(path);
    if (!tile) throw new Error(`no tile ${path}`);
    return tile;
  };
  const fill = (db: Sumdb, n: number) => {
    for (let i = db.size(); i < n; i++) db.add(`example.com/m${i} v1.0.0 h1:${i}=\nexample.com/m${i} v1.0.0/go.mod h1:${i}=\n`);
  };

  test('every record of trees of random sizes is proved; a flipped bit in any tile it reads, or another record, is not', async () => {
    const db = startSumdb();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 70_000 }), fc.integer({ min: 0, max: 2 ** 31 }), async (size, pick) => {
        fill(db, Math.max(size, db.size()));
        const id = pick % db.size();
        const seen: string[] = [];
        const record = (await lookups(db).verify(Buffer.from(db.lookup(id)), read(db, seen))).split('\n')[0];
        expect(record).toBe(`example.com/m${id} v1.0.0 h1:${id}=`);
        expect(seen.length).toBeGreaterThan(0);
        const bent = seen[pick % seen.length]!;
        // one bit of every hash in one of the tiles the proof read
        const tamper = async (path: string) => {
          const tile = Buffer.from(db.tile(path)!);
          if (path === bent) for (let i = (pick >> 3) % 32; i < tile.length; i += 32) tile[i]! ^= 1 << (pick & 7);
          return tile;
        };
        await expect(lookups(db).verify(Buffer.from(db.lookup(id)), tamper)).rejects.toThrow(/root hashes differ/);
        const forged = db.lookup(id).replace(`h1:${id}=`, 'h1:forged=');
        await expect(lookups(db).verify(Buffer.from(forged), read(db))).rejects.toThrow(/root hashes differ/);
      }),
      { seed, numRuns: 25 },
    );
    expect(db.size()).toBeGreaterThan(0);
  }, 120_000);

  test('a proof over more than 65,536 records reads tiles of three levels; the next one in the same tile reads none', async () => {
    const db = startSumdb();
    fill(db, 70_001);
    const verifier = lookups(db);
    const seen: string[] = [];
    await verifier.verify(Buffer.from(db.lookup(70_000)), read(db, seen));
    expect(new Set(seen.map((p) => p.split('/')[2]))).toEqual(new Set(['0', '1', '2']));
    const again: string[] = [];
    await verifier.verify(Buffer.from(db.lookup(69_999)), read(db, again));
    expect(again).toEqual([]);
  });

  test('a kept tile whose one unproved hash was junk costs a second read, not a refused lookup', async () => {
    const db = startSumdb();
    fill(db, 300);
    const verifier = lookups(db);
    // a proof hashes every entry of the tiles it reads but the record's own (it has the record): slot 200 for record 200
    const tile0 = 'tile/8/0/000';
    const junk = async (path: string) => {
      const tile = Buffer.from(db.tile(path)!);
      if (path === tile0) tile.fill(0xee, 200 * 32, 201 * 32);
      return tile;
    };
    await verifier.verify(Buffer.from(db.lookup(200)), junk);
    const seen: string[] = [];
    expect((await verifier.verify(Buffer.from(db.lookup(201)), read(db, seen))).split('\n')[0]).toBe('example.com/m201 v1.0.0 h1:201=');
    expect(seen).toEqual([tile0]); // read again after the kept copy failed the proof
  });

  test('a lookup that is not one, an id outside the tree, or a note by another key is refused', async () => {
    const db = startSumdb();
    fill(db, 3);
    const v = lookups(db);
    await expect(v.verify(Buffer.from('<html>please log in</html>'), read(db))).rejects.toThrow(/not a checksum database lookup/);
    await expect(v.verify(Buffer.from(db.lookup(1).replace(/^1\n/, '7\n')), read(db))).rejects.toThrow(/record 7 is not in a tree of 3 records/);
    const impostor = startSumdb();
    fill(impostor, 3);
    await expect(v.verify(Buffer.from(impostor.lookup(1)), read(impostor))).rejects.toThrow(/not signed by sum.golang.org's key/);
  });
});
