// Client credentials, shared by both inbounds (SOCKS5 RFC 1929 and HTTP Proxy-Authorization: Basic).
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface User {
  username: string;
  password: string;
}

export class Credentials {
  readonly #users: Map<string, Buffer>;
  /** keys the hashes of unknown user names in logs, so they cannot be looked up in a dictionary offline */
  readonly #logKey = randomBytes(16);

  constructor(users: readonly User[]) {
    this.#users = new Map(users.map((u) => [u.username, digest(u.password)]));
  }

  get required(): boolean {
    return this.#users.size > 0;
  }

  /** Constant-time password check (digests first, so lengths leak nothing either). */
  verify(username: string, password: string): boolean {
    const want = this.#users.get(username);
    return want !== undefined && timingSafeEqual(want, digest(password));
  }

  /** `Basic base64(user:pass)` → the user name it claims (undefined when not Basic) and whether it is valid. */
  checkBasic(header: string | undefined): { user: string | undefined; ok: boolean } {
    const m = header?.match(/^\s*basic\s+([A-Za-z0-9+/=]+)\s*$/i);
    if (!m) return { user: undefined, ok: false };
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { user: decoded, ok: false };
    const user = decoded.slice(0, colon);
    return { user, ok: this.verify(user, decoded.slice(colon + 1)) };
  }

  /**
   * A user name as a log line may show it: as written when it is a configured user, otherwise a
   * short keyed hash (the same name gives the same hash while this config is loaded), so a password
   * typed into the user field never lands in a log, not even as something to guess against.
   */
  loggable(username: string | undefined): string | undefined {
    if (username === undefined) return undefined;
    if (this.#users.has(username)) return username;
    return `unknown:${createHmac('sha256', this.#logKey).update(username).digest('hex').slice(0, 8)}`;
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
