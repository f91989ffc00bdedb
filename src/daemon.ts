// The daemon as a library: config in, listeners up; tests start as many as they like in one process.
//
//   Config ─► Resolver, Router, outbounds ─► Engine ─► HttpInbound + SOCKS5 handler ─► Listeners
import type { AddressInfo, Socket } from 'node:net';
import type { Config } from './config/index.js';
import { Engine } from './engine.js';
import { Credentials } from './inbound/auth.js';
import { HttpInbound } from './inbound/http.js';
import { Listener } from './inbound/listen.js';
import { handleSocks5 } from './inbound/socks5.js';
import { createLogger, type Logger } from './log/logger.js';
import { buildOutbounds } from './outbound/index.js';
import { Resolver } from './resolver.js';
import { formatTarget } from './session.js';
import { Stats } from './stats/route-stats.js';

export interface DaemonOptions {
  /** a logger to use instead of one made from config.log (tests pass a silent or capturing one) */
  log?: Logger;
}

export interface Daemon {
  config: Config;
  engine: Engine;
  /** bound addresses by listener name (port 0 in the config becomes the real port here) */
  addresses: Partial<Record<'socks' | 'http', AddressInfo>>;
  /** SIGTERM semantics: stop accepting, let open connections finish (up to drain-timeout), then close them */
  stop(): Promise<void>;
}

export async function startDaemon(config: Config, options: DaemonOptions = {}): Promise<Daemon> {
  const log = options.log ?? createLogger(config.log.level);
  const resolver = new Resolver(config.hosts);
  const engine = new Engine(
    { router: config.router, outbounds: buildOutbounds(config, resolver), resolver, limits: config.limits },
    new Stats(),
    log,
  );
  const credentials = new Credentials(config.users);
  const http = new HttpInbound(engine, credentials);
  const handlers = { socks5: (s: Socket, first: Buffer) => handleSocks5(s, first, engine, credentials), http: (s: Socket) => http.handle(s) };
  const listeners = new Map<'socks' | 'http', Listener>();
  const addresses: Daemon['addresses'] = {};
  try {
    for (const name of ['socks', 'http'] as const) {
      const address = config.listen[name];
      if (!address) continue;
      const listener = new Listener({
        name, address, allow: config.allow, maxConnections: config.limits.maxConnections,
        handshakeTimeoutMs: config.limits.handshakeTimeoutMs, handlers, log,
      });
      addresses[name] = await listener.listen().catch((err: NodeJS.ErrnoException) => {
        throw new Error(`cannot listen on ${formatTarget(address)} (listen.${name}): ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`);
      });
      listeners.set(name, listener);
      log.info({ listener: name, address: addresses[name] }, `listening (${name === 'socks' ? 'SOCKS5' : 'HTTP'}; both protocols accepted)`);
    }
  } catch (err) {
    await Promise.all([...listeners.values()].map((l) => l.stopAccepting()));
    throw err;
  }

  const stop = async () => {
    http.drain();
    await Promise.all([...listeners.values()].map((l) => l.stopAccepting()));
    const open = () => [...listeners.values()].reduce((n, l) => n + l.sockets.size, 0);
    const deadline = Date.now() + config.limits.drainTimeoutMs;
    while (open() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const l of listeners.values()) for (const s of l.sockets) s.destroy();
    http.close();
    await engine.close();
  };
  return { config, engine, addresses, stop };
}
