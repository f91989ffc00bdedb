// The control socket's directory must be proxyd's user's alone. Another user who may write there,
// or rename it away from a directory above it, could put a link where the socket is about to be
// and have proxyd's own steps (its mode, its group) act on a file of their choosing, or block the
// path so that proxyd cannot start. Such a directory is refused, with what to do instead.
import { closeSync, constants, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, realpathSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';

const STICKY = 0o1000;

/**
 * Makes the socket's directory (`mode`) when it is missing, checks it, every directory above it
 * and every link on the way to it, and returns its real path (links resolved), where the socket
 * is then placed. `mode` is also set on a directory that exists when `exact` (the system
 * service's: others must enter it).
 */
export function socketDirectory(socketPath: string, mode: number, exact: boolean): string {
  const dir = dirname(socketPath);
  mkdirSync(dir, { recursive: true, mode });
  const uid = process.geteuid!();
  for (let step = dir; dirname(step) !== step; step = dirname(step)) {
    const info = lstatSync(step);
    if (info.isSymbolicLink() && !trusted(info, uid)) refuse(dir, `${step} on the way to it is a link of uid ${info.uid}: that user could point it elsewhere`);
  }
  const real = realpathSync(dir);
  for (let above = dirname(real); ; above = dirname(above)) {
    const info = lstatSync(above);
    if (!trusted(info, uid)) refuse(dir, `it is inside ${above}, which belongs to uid ${info.uid}: that user could replace the directory`);
    // a sticky directory (/tmp) lets no one rename what is not theirs; group write is let pass:
    // system directories have it (macOS's /var/run is root:daemon 0775)
    if ((info.mode & 0o002) && !(info.mode & STICKY)) refuse(dir, `it is inside ${above}, which anyone may write to: anyone could replace the directory`);
    if (dirname(above) === above) break;
  }
  // checked and changed through one descriptor: the name cannot be swapped in between
  const fd = openSync(real, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    const info = fstatSync(fd);
    if (info.uid !== uid) refuse(dir, `it belongs to uid ${info.uid}, not to proxyd's user (uid ${uid}): that user could replace the socket`);
    if (info.mode & 0o022) refuse(dir, `other users may write to it (mode ${(info.mode & 0o7777).toString(8).padStart(4, '0')}): they could replace the socket`);
    if (exact && (info.mode & 0o7777) !== mode) fchmodSync(fd, mode);
  } finally {
    closeSync(fd);
  }
  return real;
}

/** root's or proxyd's user's */
function trusted(info: Stats, uid: number): boolean {
  return info.uid === 0 || info.uid === uid;
}

function refuse(dir: string, why: string): never {
  throw new Error(`refusing the control socket directory ${dir}: ${why}. Set control: to a path in a directory only proxyd's user may write to ` +
    '(control: auto, or a new directory under its home: proxyd creates it, mode 0700)');
}
