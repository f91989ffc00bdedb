// The daemon as a library: config in, listeners and control socket up; tests start as many as they like in one process.
//
//   Config ─► EngineState (router, outbounds, resolver, limits, credentials, allow) ─► Engine
//          ─► HttpInbound + SOCKS5 handler ─► Listeners (daemon/listeners.ts)
//          ─► control server (reports from engine, stats, state)
//   reload(config): a new state built, moved listeners bound, then both swapped (daemon/reload.ts)
import type { AddressInfo, Socket } from 'node:net';
import { formatTarget } from './address/index.js';
import { AuthThrottle } from './access/auth-throttle.js';
import type { FileBudget } from './access/connection-count.js';
import { fileBudget, openFileLimit } from './access/file-limit.js';
import { LocalCa } from './ca/keeper.js';
import { LISTENER_NAMES, type Config, type ListenerName } from './config/index.js';
import type { Reload } from './control/api.js';
import { controlPathOf } from './control/paths.js';
import { controlHandlers } from './control/reports.js';
import { startControlServer, type ControlHandlers, type ControlServer } from './control/server.js';
import { artifactCacheOf } from './daemon/artifact-cache.js';
import { Dashboard } from './daemon/dashboard.js';
import { Listeners } from './daemon/listeners.js';
import { applyConfig, reloadFile, type ReloadParts } from './daemon/reload.js';
import { Engine } from './engine/engine.js';
import { buildState } from './engine/state.js';
import { HttpInbound } from './inbound/http.js';
import { handleSocks5 } from './inbound/socks5.js';
import { createLogger, type Logger } from './log/logger.js';
import { LoopGuard } from './loop-guard.js';
import { loadOutboundKinds, type OutboundDeps } from './outbound/index.js';
import { Stats } from './stats/stats.js';
import { VERSION } from './version.js';

interface DaemonOptions {
  /** a logger to use instead of one made from config.log (tests pass a silent or capturing one) */
  log?: Logger;
  /** the open-file limit that bounds all connections together (default: this process's own) */
  fileLimit?: number;
  /** false: take no statistics (the benchmark's statistics-off runs) */
  stats?: boolean;
}

export interface Daemon {
  /** the config in force (reload replaces it) */
  readonly config: Config;
  engine: Engine;
  /** bound addresses by listener name (port 0 in the config becomes the real port here) */
  readonly addresses: Partial<Record<ListenerName, AddressInfo>>;
  /** the control socket's path, when it is on */
  readonly controlPath: string | undefined;
  /** the dashboard's address (http://127.0.0.1:9090/), when it is on (`ui:`) */
  readonly uiUrl: string | undefined;
  /**
   * Applies a new config to new connections: rules, outbounds, hosts, limits, credentials, allow
   * list, log level; a listener whose address changed is bound anew (its open connections go on).
   * Open connections finish on the state they started with. Rejects, changing nothing, when a
   * new listener address cannot be bound or anything else fails. Reloads run one at a time.
   */
  reload(config: Config): Promise<{ changes: string[] }>;
  /** Re-reads the config file; a config with errors is refused with them and the running one stays. */
  reloadFile(options?: { dryRun?: boolean }): Promise<Reload>;
  /** connections open per listener: its clients plus the upstream connections made for them */
  connections(): Partial<Record<ListenerName, number>>;
  /**
   * SIGTERM semantics: stop accepting, let open connections finish for up to drain-timeout, then
   * close them. `now`: close them at once (a second signal; also cuts a drain in progress short).
   */
  stop(options?: { now?: boolean }): Promise<void>;
}

export async function startDaemon(initial: Config, options: DaemonOptions = {}): Promise<Daemon> {
  const log = options.log ?? createLogger(initial.log.level);
  const fileLimit = options.fileLimit ?? openFileLimit();
  const files = fileBudget(fileLimit);
  const warn = (c: Config) => warnFileLimit(c, fileLimit, files, log);
  warn(initial);
  await loadOutboundKinds(initial.outbounds);
  const guard = new LoopGuard();
  const stats = new Stats(options.stats ?? true);
  let daemon: ProxyDaemon | undefined; // its config is the one in force once it is up
  const deps: OutboundDeps = {
    isSelf: guard.isSelf,
    // health checks resolve names with the current state's resolver (`engine` exists by the time they run)
    resolver: () => engine.state.resolver,
    log,
    artifactCache: artifactCacheOf(() => (daemon?.config ?? initial).cache, log),
    stats,
    files,
  };
  const engine: Engine = new Engine(buildState(initial, deps).state, stats, log);
  const localCa = new LocalCa(log);
  await localCa.apply(initial);
  engine.leafIssuer = () => localCa.authority;
  const throttle = new AuthThrottle(log);
  const http = new HttpInbound(engine, throttle);
  engine.serveHttp = (socket, session, responder, https) => http.serveTunnel(socket, session, responder, https);
  const handlers = { socks5: (s: Socket, first: Buffer) => handleSocks5(s, first, engine, throttle), http: (s: Socket) => http.handle(s) };
  const listeners = new Listeners({ handlers, settings: () => engine.state, log, files, guard });
  try {
    await listeners.start(initial.listen);
  } catch (err) {
    await engine.close();
    throw err;
  }
  const controlPath = controlPathOf(initial.control);
  // the control socket's reports and actions; the dashboard answers with the same ones
  const reports = controlHandlers({
    engine,
    config: () => daemon!.config,
    startedAt: new Date(),
    controlPath: controlPath ?? 'off',
    listeners: () => listeners.report(),
    reload: (dryRun: boolean) => daemon!.reloadFile({ dryRun }),
    ca: () => localCa.report(),
    ui: () => dashboard.url,
    artifactCache: deps.artifactCache,
  });
  const dashboard = new Dashboard({ handlers: reports, stats, configFile: () => daemon!.config.file, log, throttle });
  daemon = new ProxyDaemon(initial, { engine, deps, listeners, log, warnFileLimit: warn, localCa, dashboard }, http);
  if (controlPath) {
    try {
      await daemon.openControl(controlPath, reports);
    } catch (err) {
      await daemon.stop({ now: true });
      throw new Error(`cannot open the control socket ${controlPath}: ${(err as Error).message}`);
    }
    dashboard.controlPath = controlPath;
  }
  try {
    await dashboard.start(initial.ui);
  } catch (err) {
    await daemon.stop({ now: true });
    throw err;
  }
  const listening = Object.entries(daemon.addresses).map(([n, a]) => [n, formatTarget({ host: a.address, port: a.port })]);
  log.info({ version: VERSION, pid: process.pid, config: initial.file, rules: initial.rules.length, listeners: Object.fromEntries(listening), control: controlPath ?? 'off' },
    `proxyd ${VERSION} started: ${initial.rules.length} rules from ${initial.file}; control socket ${controlPath ?? 'off'}`);
  return daemon;
}

/** A started daemon: its config in force, reloads one at a time, the control socket, stop. */
class ProxyDaemon implements Daemon {
  readonly engine: Engine;
  readonly #parts: ReloadParts;
  readonly #http: HttpInbound;
  #config: Config;
  #controlPath: string | undefined;
  #control: ControlServer | undefined;
  /** the reload in progress (reloads wait for each other) */
  #reloading: Promise<unknown> = Promise.resolve();
  #stopping: Promise<void> | undefined;
  /** cuts a drain in progress short */
  #hurry: () => void = () => undefined;
  readonly #hurried = new Promise<void>((resolve) => (this.#hurry = resolve));

  constructor(config: Config, parts: ReloadParts, http: HttpInbound) {
    this.#config = config;
    this.#parts = parts;
    this.#http = http;
    this.engine = parts.engine;
  }

  get config(): Config {
    return this.#config;
  }

  get addresses(): Partial<Record<ListenerName, AddressInfo>> {
    return this.#parts.listeners.addresses();
  }

  get controlPath(): string | undefined {
    return this.#controlPath;
  }

  get uiUrl(): string | undefined {
    return this.#parts.dashboard.url;
  }

  async openControl(path: string, handlers: ControlHandlers): Promise<void> {
    this.#control = await startControlServer(path, handlers, this.#parts.log);
    this.#controlPath = path;
  }

  reload(next: Config): Promise<{ changes: string[] }> {
    const done = this.#reloading.then(async () => {
      if (this.#stopping) throw new Error('proxyd is stopping');
      const changes = await applyConfig(this.#config, next, this.#parts);
      // the control socket stays where it was opened until a restart: a reload that moves it says so each time, and one back is no change
      this.#config = { ...next, control: this.#config.control };
      return { changes };
    });
    this.#reloading = done.catch(() => undefined);
    return done;
  }

  reloadFile({ dryRun = false } = {}): Promise<Reload> {
    return reloadFile(this.#config, dryRun, async (next) => (await this.reload(next)).changes, this.#parts.log);
  }

  connections(): Partial<Record<ListenerName, number>> {
    return this.#parts.listeners.connections();
  }

  stop({ now = false } = {}): Promise<void> {
    if (now) this.#hurry();
    this.#stopping ??= this.#drainAndClose();
    return this.#stopping;
  }

  async #drainAndClose(): Promise<void> {
    const { listeners, log } = this.#parts;
    this.#http.drain();
    listeners.stopAccepting();
    await this.#parts.dashboard.close(); // its pages say that proxyd is gone
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#config.limits.drainTimeoutMs)));
    await Promise.race([listeners.whenEmpty(), timeout, this.#hurried]);
    clearTimeout(timer);
    const left = listeners.open;
    if (left) log.info({ connections: left }, `closing ${left} connection(s) still open`);
    listeners.destroyAll();
    this.#http.close();
    await this.#control?.close();
    await this.engine.close();
  }
}

/** says so when the listeners' max-connections together exceed what the open-file limit allows */
function warnFileLimit(c: Config, fileLimit: number | undefined, files: FileBudget, log: Logger): void {
  const asked = LISTENER_NAMES.filter((n) => c.listen[n]).length * c.limits.maxConnections;
  if (asked <= files.max) return;
  log.warn({ fileLimit, maxConnections: c.limits.maxConnections, budget: files.max },
    `max-connections ${c.limits.maxConnections} per listener is more than the open-file limit ${fileLimit} allows: ` +
    `at most ${files.max} connections in all (raise the limit: ulimit -n, or LimitNOFILE= in the systemd unit)`);
}
