// The config as the daemon uses it, and its safe defaults.
import type { Cidr, Target } from '../address/index.js';
import type { User } from '../access/credentials.js';
import type { OutboundDef } from '../outbound/index.js';
import type { Router } from '../router/index.js';

export type { User } from '../access/credentials.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/**
 * A listener, by its key under `listen:` (named for the protocol it is meant for; each accepts
 * both). The protocol a client actually spoke is the session's `inbound` (socks5 | http).
 */
export type ListenerName = 'socks' | 'http';
export const LISTENER_NAMES: readonly ListenerName[] = ['socks', 'http'];

export interface Limits {
  /** time a client has to finish its SOCKS5 handshake or its request head */
  handshakeTimeoutMs: number;
  /** largest HTTP request head accepted (431 beyond) */
  headerMaxBytes: number;
  /** an open tunnel or keep-alive connection with no bytes either way for this long is closed */
  idleTimeoutMs: number;
  /** outbound connect attempt limit */
  connectTimeoutMs: number;
  /** connections at once per listener: its clients plus the upstream connections made for them; more clients are closed at once */
  maxConnections: number;
  /** client connections at once from one client address, per listener */
  maxConnectionsPerClient: number;
  /** how long SIGTERM waits for open connections before closing them */
  drainTimeoutMs: number;
}

export const DEFAULT_LIMITS: Limits = {
  handshakeTimeoutMs: 10_000,
  headerMaxBytes: 64 * 1024,
  idleTimeoutMs: 10 * 60_000,
  connectTimeoutMs: 10_000,
  maxConnections: 4096,
  maxConnectionsPerClient: 256,
  drainTimeoutMs: 10_000,
};

/** the mirrors' artifact cache */
export interface CacheSettings {
  /** `auto` (the user's cache directory, see mirror/cache-dir.ts) or an absolute path */
  dir: string;
  maxBytes: number;
}

export const DEFAULT_CACHE: CacheSettings = { dir: 'auto', maxBytes: 10 * 1024 ** 3 };

/** the local CA for intercepted mirror origins */
interface CaSettings {
  /** `auto` (the state directory, see ca/dir.ts) or an absolute path */
  dir: string;
}

export const DEFAULT_CA: CaSettings = { dir: 'auto' };

export interface Config {
  /** the file it came from, or `(embedded default)` */
  file: string;
  listen: Record<ListenerName, Target | null>;
  /** control socket: `auto` (the place per OS), `off`, an absolute socket path or a Windows pipe name */
  control: string;
  /** the dashboard's loopback address (null: off, the default) */
  ui: Target | null;
  /** local name → address overrides, consulted before system DNS for every route */
  hosts: Map<string, string>;
  /** when non-empty, both listeners require these credentials */
  users: User[];
  /** client addresses allowed to connect; empty means any (loopback binds only) */
  allow: Cidr[];
  /** route targets the config defines (upstream proxies, groups, mirrors), after the built-in DIRECT and REJECT */
  outbounds: OutboundDef[];
  rules: string[];
  router: Router;
  /** rule-set name → a digest of its entries (a reload reports a changed file) */
  ruleSetDigests: Record<string, string>;
  log: { level: LogLevel };
  limits: Limits;
  cache: CacheSettings;
  ca: CaSettings;
}
