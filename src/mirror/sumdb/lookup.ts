// A checksum-database lookup (`/lookup/<module>@<version>`), checked as the go command checks it:
//
//   <record id>\n<go.sum lines of module@version>\n<signed tree head>
//
// the tree head must carry the database's signature, and the record must be in that tree (proved
// from tiles read from the same upstream). The subtree hashes a proof used are kept, so that the
// levels every proof shares are read once.
import { openNote, type VerifierKey } from './note.js';
import { parseTree, proveRecord, recordHash } from './tlog.js';

/** a lookup is a record of two lines and a note */
export const MAX_LOOKUP = 64 * 1024;
/** proved subtree hashes kept (32 bytes each; a proof uses a few dozen) */
const KEPT_HASHES = 4096;

export class SumdbVerifier {
  readonly key: VerifierKey;
  readonly #proved = new Map<string, Buffer>();

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
    const used = await proveRecord(tree, Number(id), recordHash(record), readTile, this.#proved);
    for (const [at, hash] of used) {
      this.#proved.delete(at); // re-inserted: the map's order is least recently used first
      this.#proved.set(at, hash);
    }
    while (this.#proved.size > KEPT_HASHES) this.#proved.delete(this.#proved.keys().next().value!);
    return record;
  }
}
