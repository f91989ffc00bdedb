// A checksum-database lookup (`/lookup/<module>@<version>`), checked as the go command checks it:
//
//   <record id>\n<go.sum lines of module@version>\n<signed tree head>
//
// the tree head must carry the database's signature, and the record must be in that tree (proved
// from tiles read from the same upstream). The subtree hashes a proof used are kept, and the tiles
// it read, so that what proofs share is read once: a kept tile's other hashes are not proved, so a
// proof that fails with kept tiles is made again from fresh ones before the lookup is refused.
import { openNote, type VerifierKey } from './note.js';
import { parseTree, proveRecord, recordHash } from './tlog.js';

/** a lookup is a record of two lines and a note */
export const MAX_LOOKUP = 64 * 1024;
/** proved subtree hashes kept (32 bytes each; a proof uses a few dozen), and tiles (8 KiB at most) */
const KEPT_HASHES = 4096;
const KEPT_TILES = 64;

export class SumdbVerifier {
  readonly key: VerifierKey;
  readonly #proved = new Map<string, Buffer>();
  readonly #tiles = new Map<string, Buffer>();

  constructor(key: VerifierKey) {
    this.key = key;
  }

  /**
   * The record text of a lookup answer (its go.sum lines) when it is proved to be in the signed
   * tree; throws an Error saying why not. `readTile(path)` reads a tile from where the lookup came from.
   */
  async verify(body: Buffer, readTile: (path: string) => Promise<Buffer>): Promise<string> {
    if (body.length > MAX_LOOKUP) throw new Error(`a lookup of more than ${MAX_LOOKUP} bytes`);
    const text = body.toString('utf8');
    const idEnd = text.indexOf('\n');
    const recordEnd = text.indexOf('\n\n', idEnd);
    const id = text.slice(0, idEnd);
    if (!/^(0|[1-9][0-9]{0,15})$/.test(id) || recordEnd < 0) throw new Error('not a checksum database lookup (record id, go.sum lines, signed tree)');
    const record = text.slice(idEnd + 1, recordEnd + 1);
    const tree = parseTree(openNote(Buffer.from(text.slice(recordEnd + 2), 'utf8'), this.key));
    let kept = false;
    const keptOrRead = async (path: string) => {
      const tile = this.#tiles.get(path);
      kept ||= tile !== undefined;
      return tile ?? readTile(path);
    };
    const prove = (read: (path: string) => Promise<Buffer>) => proveRecord(tree, Number(id), recordHash(record), read, this.#proved);
    const proof = await prove(keptOrRead).catch((err: unknown) => (kept ? prove(readTile) : Promise.reject(err)));
    keep(this.#proved, proof.used, KEPT_HASHES);
    keep(this.#tiles, proof.tiles, KEPT_TILES);
    return record;
  }
}

/** adds `items` to `map` as most recently used, dropping the least recently used beyond `max` */
function keep(map: Map<string, Buffer>, items: Map<string, Buffer>, max: number): void {
  for (const [k, v] of items) {
    map.delete(k); // re-inserted: the map's order is least recently used first
    map.set(k, v);
  }
  while (map.size > max) map.delete(map.keys().next().value!);
}
