// The daemon's local CA: opened when a mirror intercepts its origins (a config without one touches
// no directory and loads no certificate code), told of every reload.
import type { Config } from '../config/index.js';
import type { CaReport } from '../control/api.js';
import type { Logger } from '../log/logger.js';
import type { Authority } from './authority.js';
import { autoCaDir } from './dir.js';

/** the host names of the origins of mirrors with `intercept: true` */
function interceptedNames(config: Config): string[] {
  const names = config.outbounds.flatMap((d) => {
    const mirror = d as { intercept?: boolean; origins?: string[] };
    return mirror.intercept === true && mirror.origins ? mirror.origins.map((o) => new URL(o).hostname) : [];
  });
  return [...new Set(names)];
}

const NONE = 'no local CA: no mirror has intercept: true';

export class LocalCa {
  readonly #log: Logger;
  #dir: string | undefined;
  #authority: Authority | undefined;
  /** why there is no authority, for GET /ca */
  #problem = NONE;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** the authority that signs leaves for intercepted origins; undefined while none could be opened */
  get authority(): Authority | undefined {
    return this.#authority;
  }

  /** At start and on every reload. A CA that cannot be opened is logged, and CONNECTs go through the fallback. */
  async apply(config: Config): Promise<void> {
    const names = interceptedNames(config);
    const dir = config.ca.dir === 'auto' ? autoCaDir() : config.ca.dir;
    try {
      if (this.#authority && this.#dir === dir) {
        await this.#authority.update(names);
      } else if (names.length) {
        const { openAuthority }: typeof import('./authority.js') = await import('./authority.js');
        this.#authority = await openAuthority({ dir, names, log: this.#log });
        this.#dir = dir;
      } else {
        this.#authority = undefined;
        this.#problem = NONE;
      }
    } catch (err) {
      this.#authority = undefined;
      this.#problem = `the local CA in ${dir} cannot be used: ${(err as Error).message}`;
      this.#log.error({ dir, err: (err as Error).message }, `${this.#problem}; CONNECTs to intercepted origins go through their fallback`);
    }
  }

  report(): CaReport | { error: string } {
    return this.#authority?.report() ?? { error: this.#problem };
  }
}
