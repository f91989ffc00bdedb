// The daemon's dashboard (`ui:`): bound at start, moved or turned on or off by a reload like the
// listeners (bound first, in use only once the reload commits, closed again when it fails), and
// closed by stop. Its token file is written when it comes on and removed when it goes off; a
// move keeps the token and the signed-in pages' sessions.
import type { AuthThrottle } from '../access/auth-throttle.js';
import { formatTarget, type Target } from '../address/index.js';
import { CONTROL_GROUP, isSystemPath } from '../control/paths.js';
import { groupId } from '../control/server.js';
import { removeUiToken, uiTokenPath, writeUiToken } from '../control/ui-token.js';
import type { UiServer, UiSources } from '../ui/server.js';
import type { UiSessions } from '../ui/sessions.js';
import type { Rebinding } from './listeners.js';

interface DashboardOptions extends UiSources {
  throttle: AuthThrottle;
}

/** where the dashboard is bound and who may open it */
interface Serving {
  server: UiServer;
  sessions: UiSessions;
  token: { path: string; value: string };
}

export class Dashboard {
  readonly #options: DashboardOptions;
  #serving: Serving | undefined;
  /** the control socket the token file goes beside (set once the control socket is open) */
  controlPath: string | undefined;

  constructor(options: DashboardOptions) {
    this.#options = options;
  }

  /** the address pages open (http://127.0.0.1:9090/), when it is on */
  get url(): string | undefined {
    return this.#serving?.server.url;
  }

  /** pages streaming live updates now */
  get listening(): number {
    return this.#serving?.server.listening ?? 0;
  }

  async start(address: Target | null): Promise<void> {
    (await this.rebind(null, address)).commit();
  }

  /** Binds the new address when `ui:` changes; nothing changes until commit, and undo closes what it bound. */
  async rebind(from: Target | null, to: Target | null): Promise<Rebinding> {
    const text = (t: Target | null) => (t ? formatTarget(t) : 'off');
    if (text(from) === text(to)) return { commit: () => undefined, undo: () => undefined };
    if (!to) return { commit: () => void this.close(), undo: () => undefined };
    const { log } = this.#options;
    // the dashboard's code is loaded when it is first turned on: a daemon without one never loads it
    const [{ UiServer }, { UiSessions }] = await Promise.all([import('../ui/server.js'), import('../ui/sessions.js')]);
    const fresh = this.#serving ? { sessions: this.#serving.sessions, token: this.#serving.token } : this.#newToken(UiSessions);
    let server: UiServer;
    try {
      server = await UiServer.start(to, fresh.sessions, this.#options);
    } catch (err) {
      if (!this.#serving) removeUiToken(fresh.token.path, fresh.token.value);
      throw err;
    }
    const commit = () => {
      const old = this.#serving;
      this.#serving = { server, ...fresh };
      void old?.server.close();
      log.info({ ui: server.url, token: fresh.token.path }, `dashboard on ${server.url} (ui; proxyctl ui opens it)`);
    };
    const undo = () => {
      void server.close();
      if (!this.#serving) removeUiToken(fresh.token.path, fresh.token.value);
    };
    return { commit, undo };
  }

  async close(): Promise<void> {
    const serving = this.#serving;
    this.#serving = undefined;
    if (!serving) return;
    removeUiToken(serving.token.path, serving.token.value);
    await serving.server.close();
  }

  #newToken(Sessions: typeof UiSessions): Pick<Serving, 'sessions' | 'token'> {
    if (!this.controlPath) throw new Error('ui: the dashboard needs the control socket (control: off)');
    const path = uiTokenPath(this.controlPath);
    const value = writeUiToken(path, isSystemPath(this.controlPath) ? groupId(CONTROL_GROUP) : undefined);
    return { sessions: new Sessions(value, this.#options.throttle, this.#options.log), token: { path, value } };
  }
}
