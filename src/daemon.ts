// The daemon as a library: config in, listeners and control socket up; tests start as many as they like in one process.
//
//   Config ─► EngineState (router, outbounds, resolver, limits, credentials, allow) ─► Engine
//          ─► HttpInbound + SOCKS5 handler ─► Listeners          reload(config): a new state, swapped
//          ─► control server (reports from engine, stats, state)
import type { AddressInfo, Socket } from 'node:net';
import { formatTarget, type Target } from './address/index.js';
import { AuthThrottle } from './access/auth-throttle.js';
import type { FileBudget } from './access/connection-count.js';
import { fileBudget, openFileLimit } from './access/file-limit.js';
import { describeChanges } from './config/diff.js';
import { ConfigError, formatProblem, LISTENER_NAMES, loadConfig, type Config, type ListenerName, type Problem } from './config/index.js';
import type { Reload } from './control/api.js';
import { controlPathOf } from './control/paths.js';
import { controlHandlers } from './control/reports.js';
import { startControlServer, type ControlServer } from './control/server.js';
import { Engine } from './engine/engine.js';
import { buildState } from './engine/state.js';
import { HttpInbound } from './inbound/http.js';
import { Listener, type ProtocolHandlers } from './inbound/listen.js';
import { handleSocks5 } from './inbound/socks5.js';
import { createLogger, type Logger } from './log/logger.js';
import { LoopGuard } from './loop-guard.js';
import type { ArtifactCache } from './mirror/cache.js';
import { autoCacheDir } from './mirror/cache-dir.js';
import { loadOutboundKinds, type OutboundDeps } from './outbound/index.js';
import { Stats } from './stats/stats.js';
import { VERSION } from './version.js';

export interface DaemonOptions {
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
  /**
   * Applies a new config to new connections: rules, outbounds, hosts, limits, credentials, allow
   * list, log level; a listener whose address changed is bound anew (its open connections go on).
   * Open connections finish on the state they started with. Rejects, changing nothing, when a
   * new listener address cannot be bound.
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
  const startedAt = new Date();
  const fileLimit = options.fileLimit ?? openFileLimit();
  const files = fileBudget(fileLimit);
  const checkFiles = (c: Config) => warnFileLimit(c, fileLimit, files, log);
  checkFiles(initial);
  let config = initial;
  const guard = new LoopGuard();
  // health checks resolve names with the current state's resolver (`engine` exists by the time they run)
  let opened: { key: string; cache: Promise<ArtifactCache> } | undefined;
  /** the mirrors' cache, opened at first use (a config without mirrors touches no directory); reopened when `cache.dir` changes (max-size takes a restart) */
  const artifactCache = (): Promise<ArtifactCache> => {
    // one cache per directory: a second one on the same files would clear the first's writes
    const dir = config.cache.dir === 'auto' ? autoCacheDir() : config.cache.dir;
    if (opened?.key !== dir) opened = { key: dir, cache: openArtifactCache({ dir, maxBytes: config.cache.maxBytes, log }) };
    return opened.cache;
  };
  await loadOutboundKinds(config.outbounds);
  const stats = new Stats(options.stats ?? true);
  const deps: OutboundDeps = { isSelf: guard.isSelf, resolver: () => engine.state.resolver, log, artifactCache, stats, files };
  const engine: Engine = new Engine(buildState(config, deps).state, stats, log);
  const throttle = new AuthThrottle(log);
  const http = new HttpInbound(engine, throttle);
  engine.serveHttp = (socket, session, responder, https) => http.serveTunnel(socket, session, responder, https);
  const handlers: ProtocolHandlers = { socks5: (s: Socket, first: Buffer) => handleSocks5(s, first, engine, throttle), http: (s: Socket) => http.handle(s) };
  const listeners = new Map<ListenerName, Listener>();
  /** listeners a reload replaced: no longer accepting, their open connections going on */
  const retiredListeners = new Set<Listener>();
  /** bound addresses by listener name, from the listeners themselves */
  const addresses = (): Partial<Record<ListenerName, AddressInfo>> => Object.fromEntries([...listeners].map(([name, l]) => [name, l.address!]));

  const bind = async (name: ListenerName, address: Target): Promise<Listener> => {
    const listener = new Listener({ name, address, settings: () => engine.state, handlers, log, files });
    const bound = await listener.listen().catch((err: NodeJS.ErrnoException) => {
      throw new Error(`cannot listen on ${formatTarget(address)} (listen.${name}): ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`);
    });
    guard.add(bound.address, bound.port);
    log.info({ listener: name, address: bound }, `listening on ${formatTarget({ host: bound.address, port: bound.port })} (listen.${name}; SOCKS5 and HTTP both accepted)`);
    return listener;
  };
  const allListeners = () => [...listeners.values(), ...retiredListeners];

  let control: ControlServer | undefined;
  try {
    for (const name of LISTENER_NAMES) {
      const address = config.listen[name];
      if (!address) continue;
      const listener = await bind(name, address);
      listeners.set(name, listener);
    }
  } catch (err) {
    for (const l of listeners.values()) l.stopAccepting();
    await engine.close();
    throw err;
  }

  const reload = async (next: Config): Promise<{ changes: string[] }> => {
    await loadOutboundKinds(next.outbounds);
    const changes = describeChanges(config, next);
    // bind the new addresses first: if one fails, nothing has changed
    const text = (t: Target | null) => (t ? formatTarget(t) : 'off');
    const moved = LISTENER_NAMES.filter((name) => text(config.listen[name]) !== text(next.listen[name]));
    const rebound = new Map<ListenerName, Listener>();
    try {
      for (const name of moved) {
        const address = next.listen[name];
        if (address) rebound.set(name, await bind(name, address));
      }
    } catch (err) {
      for (const l of rebound.values()) l.stopAccepting();
      throw err;
    }
    checkFiles(next);
    const { state, retired } = buildState(next, deps, engine.state);
    engine.swap(state, retired);
    for (const name of moved) {
      const old = listeners.get(name);
      if (old) retire(old);
      listeners.delete(name);
      const fresh = rebound.get(name);
      if (fresh) listeners.set(name, fresh);
    }
    log.level = next.log.level;
    // the control socket stays where it was opened until a restart: a reload that moves it says so each time, and one back is no change
    config = { ...next, control: config.control };
    log.info({ file: next.file, rules: next.rules.length, changes }, changes.length ? `config reloaded: ${changes.length} change(s)` : 'config reloaded: nothing changed');
    return { changes };
  };
  const retire = (old: Listener) => {
    old.stopAccepting();
    if (old.address) guard.remove(old.address.address, old.address.port);
    retiredListeners.add(old);
    old.whenEmpty().then(() => retiredListeners.delete(old), () => undefined);
  };

  const reloadFile = async ({ dryRun = false } = {}): Promise<Reload> => {
    const file = config.file;
    let next: Config;
    try {
      next = loadConfig(file === '(embedded default)' ? undefined : file);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      const errors = err.problems.map(problem);
      if (!dryRun) {
        for (const p of errors) log.error({ file: p.file, line: p.line, col: p.col }, p.text);
        log.error({ errors: errors.length }, 'reload refused: the config has errors; the running config stays');
      }
      return { ok: false, dryRun, file, errors, changes: [] };
    }
    if (dryRun) return { ok: true, dryRun, file, errors: [], changes: describeChanges(config, next) };
    try {
      const { changes } = await reload(next);
      return { ok: true, dryRun, file, errors: [], changes };
    } catch (err) {
      const message = (err as Error).message;
      log.error({ reason: message }, 'reload refused; the running config stays');
      return { ok: false, dryRun, file, errors: [{ file, line: 1, col: 1, message, text: formatProblem({ file, line: 1, col: 1, message }) }], changes: [] };
    }
  };

  const controlPath = controlPathOf(config.control);
  if (controlPath) {
    const sources = {
      engine,
      config: () => config,
      startedAt,
      controlPath,
      listeners: () => [...listeners].map(([name, l]) => ({ name, address: formatTarget({ host: l.address!.address, port: l.address!.port }), connections: l.connections })),
      reload: (dryRun: boolean) => reloadFile({ dryRun }),
    };
    try {
      control = await startControlServer(controlPath, controlHandlers(sources), log);
    } catch (err) {
      for (const l of listeners.values()) l.stopAccepting();
      await engine.close();
      throw new Error(`cannot open the control socket ${controlPath}: ${(err as Error).message}`);
    }
  }
  log.info({
    version: VERSION, pid: process.pid, config: config.file, rules: config.rules.length,
    listeners: Object.fromEntries(Object.entries(addresses()).map(([n, a]) => [n, formatTarget({ host: a.address, port: a.port })])),
    control: controlPath ?? 'off',
  }, `proxyd ${VERSION} started: ${config.rules.length} rules from ${config.file}; control socket ${controlPath ?? 'off'}`);

  let stopping: Promise<void> | undefined;
  let hurry: () => void = () => undefined;
  const hurried = new Promise<void>((resolve) => (hurry = resolve));
  const stop = ({ now = false } = {}): Promise<void> => {
    if (now) hurry();
    stopping ??= (async () => {
      http.drain();
      for (const l of allListeners()) l.stopAccepting();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, config.limits.drainTimeoutMs)));
      await Promise.race([Promise.all(allListeners().map((l) => l.whenEmpty())), timeout, hurried]);
      clearTimeout(timer);
      const left = allListeners().reduce((n, l) => n + l.sockets.size, 0);
      if (left) log.info({ connections: left }, `closing ${left} connection(s) still open`);
      for (const l of allListeners()) for (const s of l.sockets) s.destroy();
      http.close();
      await control?.close();
      await engine.close();
    })();
    return stopping;
  };
  return {
    get config() {
      return config;
    },
    engine,
    get addresses() {
      return addresses();
    },
    controlPath,
    reload,
    reloadFile,
    connections: () => Object.fromEntries([...listeners].map(([name, l]) => [name, l.connections])),
    stop,
  };
}

/** the cache code is loaded with the first mirror that asks for it */
async function openArtifactCache(options: Parameters<typeof ArtifactCache.open>[0]): Promise<ArtifactCache> {
  const { ArtifactCache }: typeof import('./mirror/cache.js') = await import('./mirror/cache.js');
  return ArtifactCache.open(options);
}

function problem(p: Problem): Reload['errors'][number] {
  return { file: p.file, line: p.line, col: p.col, message: p.message, text: formatProblem(p) };
}

/** says so when the listeners' max-connections together exceed what the open-file limit allows */
function warnFileLimit(c: Config, fileLimit: number | undefined, files: FileBudget, log: Logger): void {
  const asked = LISTENER_NAMES.filter((n) => c.listen[n]).length * c.limits.maxConnections;
  if (asked <= files.max) return;
  log.warn({ fileLimit, maxConnections: c.limits.maxConnections, budget: files.max },
    `max-connections ${c.limits.maxConnections} per listener is more than the open-file limit ${fileLimit} allows: ` +
    `at most ${files.max} connections in all (raise the limit: ulimit -n, or LimitNOFILE= in the systemd unit)`);
}
