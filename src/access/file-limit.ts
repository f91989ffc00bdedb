// Connections must fit in the process's open-file limit: a client and its upstream are two
// descriptors each, and running out (EMFILE) fails everyone, the attacker's victims and proxyd's
// own files alike. All listeners share one budget of descriptors for connections; proxyd's own
// files and the control sockets' connections are kept out of it, so that neither a flood of
// clients nor one of control connections can take the descriptors the other relies on.
import { readFileSync } from 'node:fs';
import { FileBudget } from './connection-count.js';

/** descriptors kept for proxyd itself: listeners, logs, config, DNS, the event loop */
const RESERVED_FILES = 64;
/** connections each control socket (control.sock, the system service's status.sock) holds at most */
export const CONTROL_SOCKET_CONNECTIONS = 32;
/** connections the dashboard (ui:) holds at most: a browser opens up to 6 per host, each open page streams on one */
export const UI_CONNECTIONS = 16;
const CONTROL_FILES = 2 * CONTROL_SOCKET_CONNECTIONS + UI_CONNECTIONS;

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

/** The connections all listeners together may hold under this open-file limit (unbounded when unknown). */
export function fileBudget(fileLimit: number | undefined): FileBudget {
  return new FileBudget(fileLimit === undefined ? Infinity : Math.max(16, fileLimit - RESERVED_FILES - CONTROL_FILES));
}
