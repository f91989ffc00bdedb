// The daemon as a library: config in, listeners up; tests start as many as they like in one process.
//
//   Config ─► EngineState (router, outbounds, resolver, limits, credentials, allow) ─► Engine
//          ─► HttpInbound + SOCKS5 handler ─► Listeners          reload(config): a new state, swapped
import type { AddressInfo, Socket } from 'node:net';
import { formatTarget } from './address/index.js';
import { AuthThrottle } from './access/auth-throttle.js';
import { fileBudget, openFileLimit } from './access/file-limit.js';
import { LISTENER_NAMES, type Config, type ListenerName } from './config/index.js';
import { Engine } from './engine/engine.js';
import { buildState } from './engine/state.js';
import { HttpInbound } from './inbound/http.js';
import { Listener } from './inbound/listen.js';
import { handleSocks5 } from './inbound/socks5.js';
import { createLogger, type Logger } from './log/logger.js';
import { LoopGuard } from './loop-guard.js';
import type { OutboundDeps } from './outbound/index.js';
import { Stats } from './stats/route-stats.js';

export interface DaemonOptions {
  /** a logger to use instead of one made from config.log (tests pass a silent or capturing one) */
  log?: Logger;
  /** the open-file limit that bounds all connections together (default: this process's own) */
  fileLimit?: number;
}

export interface ReloadResult {
  /** settings that changed but only take effect after a restart (listen addresses, log level) */
  needsRestart: string[];
}

export interface Daemon {
  /** the config in force (reload replaces it) */
  readonly config: Config;
  engine: Engine;
  /** bound addresses by listener name (port 0 in the config becomes the real port here) */
  addresses: Partial<Record<ListenerName, AddressInfo>>;
  /**
   * Applies a new config to new connections: rules, outbounds, hosts, limits, credentials, allow
   * list. Open connections finish on the state they started with.
   */
  reload(config: Config): ReloadResult;
  /** connections open per listener: its clients plus the upstream connections made for them */
  connections(): Partial<Record<ListenerName, number>>;
  /** SIGTERM semantics: stop accepting, let open connections finish (up to drain-timeout), then close them */
  stop(): Promise<void>;
}

export async function startDaemon(initial: Config, options: DaemonOptions = {}): Promise<Daemon> {
  const log = options.log ?? createLogger(initial.log.level);
  const fileLimit = options.fileLimit ?? openFileLimit();
  const files = fileBudget(fileLimit);
  /** says so when the listeners' max-connections together exceed what the open-file limit allows */
  const checkFiles = (c: Config) => {
    const asked = LISTENER_NAMES.filter((n) => c.listen[n]).length * c.limits.maxConnections;
    if (asked <= files.max) return;
    log.warn({ fileLimit, maxConnections: c.limits.maxConnections, budget: files.max },
      `max-connections ${c.limits.maxConnections} per listener is more than the open-file limit ${fileLimit} allows: ` +
      `at most ${files.max} connections in all (raise the limit: ulimit -n, or LimitNOFILE= in the systemd unit)`);
  };
  checkFiles(initial);
  let config = initial;
  const guard = new LoopGuard();
  // health checks resolve names with the current state's resolver (`engine` exists by the time they run)
  const deps: OutboundDeps = { isSelf: guard.isSelf, resolver: () => engine.state.resolver, log };
  const engine: Engine = new Engine(buildState(config, deps).state, new Stats(), log);
  const throttle = new AuthThrottle(log);
  const http = new HttpInbound(engine, throttle);
  engine.serveHttp = (socket, session, responder) => http.serveTunnel(socket, session, responder);
  const handlers = { socks5: (s: Socket, first: Buffer) => handleSocks5(s, first, engine, throttle), http: (s: Socket) => http.handle(s) };
  const listeners = new Map<ListenerName, Listener>();
  const addresses: Daemon['addresses'] = {};
  try {
    for (const name of LISTENER_NAMES) {
      const address = config.listen[name];
      if (!address) continue;
      const listener = new Listener({ name, address, settings: () => engine.state, handlers, log, files });
      addresses[name] = await listener.listen().catch((err: NodeJS.ErrnoException) => {
        throw new Error(`cannot listen on ${formatTarget(address)} (listen.${name}): ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`);
      });
      guard.add(addresses[name]!.address, addresses[name]!.port);
      listeners.set(name, listener);
      log.info({ listener: name, address: addresses[name] }, `listening (${name === 'socks' ? 'SOCKS5' : 'HTTP'}; both protocols accepted)`);
    }
  } catch (err) {
    for (const l of listeners.values()) l.stopAccepting();
    await engine.close();
    throw err;
  }

  const reload = (next: Config): ReloadResult => {
    checkFiles(next);
    const { state, retired } = buildState(next, deps, engine.state);
    engine.swap(state, retired);
    const needsRestart: string[] = [];
    for (const name of LISTENER_NAMES) {
      const [a, b] = [config.listen[name], next.listen[name]];
      if ((a && formatTarget(a)) !== (b && formatTarget(b))) needsRestart.push(`listen.${name}`);
    }
    if (next.log.level !== config.log.level) needsRestart.push('log.level');
    config = next;
    log.info({ file: next.file, rules: next.rules.length, retired: retired.map((o) => o.name), needsRestart }, 'config reloaded');
    return { needsRestart };
  };

  const stop = async () => {
    http.drain();
    for (const l of listeners.values()) l.stopAccepting();
    const open = () => [...listeners.values()].reduce((n, l) => n + l.sockets.size, 0);
    const deadline = Date.now() + config.limits.drainTimeoutMs;
    while (open() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const l of listeners.values()) for (const s of l.sockets) s.destroy();
    http.close();
    await engine.close();
  };
  return {
    get config() {
      return config;
    },
    engine,
    addresses,
    reload,
    connections: () => Object.fromEntries([...listeners].map(([name, l]) => [name, l.connections])),
    stop,
  };
}
