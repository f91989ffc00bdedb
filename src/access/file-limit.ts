// Connections must fit in the process's open-file limit: a client and its upstream are two
// descriptors each, and running out (EMFILE) fails everyone, the attacker's victims and proxyd's
// own files alike. max-connections is lowered to fit when the limit is smaller than the config asks.
import { readFileSync } from 'node:fs';
import type { Limits } from '../config/index.js';

/** descriptors kept for proxyd itself: listeners, logs, config, DNS, the event loop */
const RESERVED_FILES = 64;

/** The soft limit on open files of this process (Linux: /proc/self/limits), or undefined where unknown. */
export function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    return soft && /^\d+$/.test(soft) ? Number(soft) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The limits with max-connections lowered, when needed, so that every listener at its maximum
 * still leaves RESERVED_FILES descriptors free; `lowered` says whether it was.
 */
export function fitToFileLimit(limits: Limits, listeners: number, fileLimit: number | undefined): { limits: Limits; lowered: boolean } {
  if (fileLimit === undefined || listeners === 0) return { limits, lowered: false };
  const fits = Math.max(16, Math.floor((fileLimit - RESERVED_FILES) / listeners));
  if (limits.maxConnections <= fits) return { limits, lowered: false };
  return { limits: { ...limits, maxConnections: fits }, lowered: true };
}
