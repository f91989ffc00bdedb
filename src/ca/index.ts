// The local certificate authority for intercepted mirror origins: a CA whose certificate can only
// ever sign the mirrored host names (critical name constraints), kept in its own directory, and
// short-lived leaves per SNI name.
export { openAuthority, type Authority } from './authority.js';
export { autoCaDir } from './dir.js';
