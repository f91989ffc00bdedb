// The mirrors' artifact cache, opened at first use (a config without mirrors touches no directory)
// and opened again when `cache.dir` changes (max-size takes a restart). One cache per directory:
// a second one on the same files would clear the first's writes.
import type { CacheSettings } from '../config/index.js';
import type { Logger } from '../log/logger.js';
import type { ArtifactCache } from '../mirror/cache.js';
import { autoCacheDir } from '../mirror/cache-dir.js';

/** The cache of the settings in force (`settings` is read at each call). */
export function artifactCacheOf(settings: () => CacheSettings, log: Logger): () => Promise<ArtifactCache> {
  let opened: { dir: string; cache: Promise<ArtifactCache> } | undefined;
  return () => {
    const { dir: setting, maxBytes } = settings();
    const dir = setting === 'auto' ? autoCacheDir() : setting;
    if (opened?.dir !== dir) opened = { dir, cache: openArtifactCache({ dir, maxBytes, log }) };
    return opened.cache;
  };
}

/** the cache code is loaded with the first mirror that asks for it */
async function openArtifactCache(options: Parameters<typeof ArtifactCache.open>[0]): Promise<ArtifactCache> {
  const { ArtifactCache }: typeof import('../mirror/cache.js') = await import('../mirror/cache.js');
  return ArtifactCache.open(options);
}
