// The checksum database's transparency log (golang.org/x/mod/sumdb/tlog, RFC 6962 hashing): a
// record is proved to be in a signed tree by recomputing the tree's root hash from the record's
// own hash and the stored hashes of the subtrees beside its path, read from the database's tiles.
// A tile is trusted only through that root: only the hashes that fed it are kept for later proofs.
//
//   record hash  sha256(0x00 ‖ record)        node hash  sha256(0x01 ‖ left ‖ right)
//   tile         tile/8/<L>/<N>[.p/<W>]: W hashes of level 8·L, from index N·256 on
import { createHash } from 'node:crypto';

/** the tile height of sum.golang.org, which the go command assumes too */
export const TILE_HEIGHT = 8;
const HASH = 32;
const TREE_HEADER = 'go.sum database tree\n';

export interface Tree {
  size: number;
  root: Buffer;
}

/** reads the tile at `path` (tile/8/0/x001/234.p/5) */
type TileReader = (path: string) => Promise<Buffer>;

/** A tree head's text (`go.sum database tree\n<size>\n<base64 root>\n`); throws when it is not one. */
export function parseTree(text: string): Tree {
  if (!text.startsWith(TREE_HEADER)) throw new Error('the signed note is not a go.sum database tree');
  const [size, root] = text.slice(TREE_HEADER.length).split('\n');
  const hash = Buffer.from(root ?? '', 'base64');
  if (!/^[1-9][0-9]{0,15}$/.test(size ?? '') || !Number.isSafeInteger(Number(size)) || hash.length !== HASH) throw new Error('a malformed tree head');
  return { size: Number(size), root: hash };
}

export function recordHash(record: Buffer | string): Buffer {
  return createHash('sha256').update(Buffer.from([0])).update(record).digest();
}

function nodeHash(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256').update(Buffer.from([1])).update(left).update(right).digest();
}

/** tlog's Tile.Path: N in groups of three digits, all but the last prefixed with x */
export function tilePath(level: number, n: number, width: number): string {
  let digits = String(n % 1000).padStart(3, '0');
  for (let rest = Math.floor(n / 1000); rest > 0; rest = Math.floor(rest / 1000)) digits = `x${String(rest % 1000).padStart(3, '0')}/${digits}`;
  return `tile/${TILE_HEIGHT}/${level}/${digits}${width === 1 << TILE_HEIGHT ? '' : `.p/${width}`}`;
}

/** the stored hash of a complete subtree (`level/index`) that an earlier proof showed to be the tree's */
type KnownHashes = ReadonlyMap<string, Buffer>;

export interface Proof {
  /** the stored hashes the proof used, by `level/index`: shown to be the tree's own (a complete subtree's hash never changes as the tree grows) */
  used: Map<string, Buffer>;
  /** the tiles it read, by path (only the hashes it used are proved; the others may be anything) */
  tiles: Map<string, Buffer>;
}

/**
 * Throws unless the record with this id and hash is in `tree`, by the tiles `read` returns (or
 * the hashes earlier proofs showed); when it is, says what it used.
 */
export async function proveRecord(tree: Tree, id: number, hash: Buffer, read: TileReader, known: KnownHashes = new Map()): Promise<Proof> {
  if (!Number.isSafeInteger(id) || id < 0 || id >= tree.size) throw new Error(`record ${id} is not in a tree of ${tree.size} records`);
  const tiles = new Map<string, Promise<Buffer>>();
  const used = new Map<string, Buffer>();
  /** the hash of the complete subtree at `level` number `index` (leaves index·2^level …) */
  const stored = async (level: number, index: number): Promise<Buffer> => {
    const id = `${level}/${index}`;
    const hash = known.get(id) ?? (await fromTile(level, index));
    used.set(id, hash);
    return hash;
  };
  const fromTile = async (level: number, index: number): Promise<Buffer> => {
    const tileLevel = Math.floor(level / TILE_HEIGHT);
    const span = 2 ** (level - tileLevel * TILE_HEIGHT); // hashes of the tile's level under this subtree
    const first = index * span;
    const n = Math.floor(first / 2 ** TILE_HEIGHT);
    const width = Math.min(2 ** TILE_HEIGHT, Math.floor(tree.size / 2 ** (tileLevel * TILE_HEIGHT)) - n * 2 ** TILE_HEIGHT);
    const path = tilePath(tileLevel, n, width);
    if (!tiles.has(path)) tiles.set(path, read(path));
    const tile = await tiles.get(path)!;
    if (tile.length !== width * HASH) throw new Error(`tile ${path} has ${tile.length} bytes, not ${width * HASH}`);
    let hashes: Buffer[] = [];
    for (let i = first - n * 2 ** TILE_HEIGHT; hashes.length < span; i++) hashes.push(tile.subarray(i * HASH, (i + 1) * HASH));
    while (hashes.length > 1) hashes = hashes.filter((_, i) => i % 2 === 0).map((h, i) => nodeHash(h, hashes[2 * i + 1]!));
    return hashes[0]!;
  };
  /** RFC 6962's tree hash of leaves lo…hi-1, with the record's own hash at `id` */
  const subtree = async (lo: number, hi: number): Promise<Buffer> => {
    const n = hi - lo;
    if (n === 1) return lo === id ? hash : stored(0, lo);
    const level = Math.log2(n);
    if (Number.isInteger(level) && (id < lo || id >= hi)) return stored(level, lo / n);
    const k = 2 ** Math.floor(Math.log2(n - 1)); // the largest power of two below n
    const [left, right] = await Promise.all([subtree(lo, lo + k), subtree(lo + k, hi)]);
    return nodeHash(left, right);
  };
  const root = await subtree(0, tree.size);
  if (!root.equals(tree.root)) throw new Error(`record ${id} is not in the signed tree of ${tree.size} records (the root hashes differ)`);
  const proved = new Map<string, Buffer>();
  for (const [path, tile] of tiles) proved.set(path, await tile);
  return { used, tiles: proved };
}
