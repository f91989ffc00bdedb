// Client credentials, shared by both inbounds (SOCKS5 RFC 1929 and HTTP Proxy-Authorization: Basic).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { User } from '../config/index.js';

export class Credentials {
  readonly #users: Map<string, Buffer>;

  constructor(users: User[]) {
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

  /** `Basic base64(user:pass)` → the user name when valid, else undefined. */
  verifyBasic(header: string | undefined): string | undefined {
    const m = header?.match(/^\s*basic\s+([A-Za-z0-9+/=]+)\s*$/i);
    if (!m) return undefined;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const user = decoded.slice(0, colon);
    return this.verify(user, decoded.slice(colon + 1)) ? user : undefined;
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
