// Small artifacts kept in memory once they have been checked (fetched and verified, or read
// whole from the disk cache through its hash check): a cached .mod or .info is then answered
// without a file open, read and hash per request. Least recently used beyond the byte budget.

/** artifacts larger than this are always streamed from disk */
export const HOT_MAX_ITEM = 1024 * 1024;
const HOT_MAX_BYTES = 64 * 1024 * 1024;

interface HotArtifact {
  body: Buffer;
  type: string;
}

export class HotArtifacts {
  readonly #items = new Map<string, HotArtifact>();
  #bytes = 0;

  get(key: string): HotArtifact | undefined {
    const item = this.#items.get(key);
    if (!item) return undefined;
    this.#items.delete(key); // re-inserted: the map's order is least recently used first
    this.#items.set(key, item);
    return item;
  }

  set(key: string, item: HotArtifact): void {
    if (item.body.length > HOT_MAX_ITEM) return;
    const old = this.#items.get(key);
    if (old) this.#bytes -= old.body.length;
    this.#items.delete(key);
    this.#items.set(key, item);
    this.#bytes += item.body.length;
    for (const [k, v] of this.#items) {
      if (this.#bytes <= HOT_MAX_BYTES) break;
      this.#items.delete(k);
      this.#bytes -= v.body.length;
    }
  }
}
