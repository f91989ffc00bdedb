// Who may see the dashboard: the holder of the token, and the browser that traded it for a
// session cookie (HttpOnly: no script can read it; SameSite=Strict: no other site's page sends
// it). A token is accepted only where it cannot leak into history, logs or a Referer: a sign-in
// request's body, or an Authorization header (scripts), never a query string. A wrong token is
// answered as a missing one, and every wrong one feeds the same guessing brake as the proxy
// listeners' passwords.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { hold, REFUSE, type AuthThrottle } from '../access/auth-throttle.js';
import type { Logger } from '../log/logger.js';

const COOKIE = 'proxyd_ui';
/** sessions kept at once; signing in once more forgets the oldest */
const MAX_SESSIONS = 32;

const digest = (text: string) => createHash('sha256').update(text).digest();

export class UiSessions {
  readonly #token: Buffer;
  readonly #throttle: AuthThrottle;
  readonly #log: Logger;
  /** session ids, oldest first */
  readonly #sessions = new Set<string>();

  constructor(token: string, throttle: AuthThrottle, log: Logger) {
    this.#token = digest(token);
    this.#throttle = throttle;
    this.#log = log;
  }

  /** Trades a token for a session: its Set-Cookie value, or undefined (a wrong token, or a client the brake refuses). */
  async signIn(offered: unknown, req: IncomingMessage): Promise<string | undefined> {
    if (!(await this.#check(offered, req))) return undefined;
    const id = randomBytes(32).toString('base64url');
    if (this.#sessions.size >= MAX_SESSIONS) this.#sessions.delete(this.#sessions.values().next().value!);
    this.#sessions.add(id);
    return `${COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/`;
  }

  /** a session's cookie, or the token as `Authorization: Bearer TOKEN` */
  async admits(req: IncomingMessage): Promise<boolean> {
    const id = cookieOf(req.headers.cookie);
    if (id !== undefined && this.#sessions.has(id)) return true;
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    return bearer !== undefined && this.#check(bearer, req);
  }

  /** a token offered: right, or counted by the brake */
  async #check(offered: unknown, req: IncomingMessage): Promise<boolean> {
    const client = req.socket.remoteAddress ?? '';
    const wait = this.#throttle.turn(client);
    if (wait !== REFUSE) {
      await hold(wait);
      if (typeof offered === 'string' && timingSafeEqual(digest(offered), this.#token)) return true;
    }
    this.#throttle.failed(client, 'ui');
    this.#log.info({ inbound: 'ui', client: `${client}:${req.socket.remotePort}`, error: 'auth' },
      `dashboard sign-in failed: ${wait === REFUSE ? 'too many attempts from this client: refused unchecked' : 'wrong token'}`);
    return false;
  }
}

function cookieOf(header: string | undefined): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const [name, value] = part.trim().split('=', 2);
    if (name === COOKIE && value) return value;
  }
  return undefined;
}
