// The control server: HTTP + JSON on a Unix socket only its owner can use (or, for the system
// service, its owner and the `proxyd` group, with a read-only socket beside it for every local
// user's reports), or a Windows named pipe. No TCP port.
//
//   GET  /status  /stats  /connections  /errors  /upstreams  /mirrors  /metrics  /ca  /clients  /route?target=HOST:PORT
//   POST /reload[?dry-run=1]  /check/NAME  /doctor[?target=HOST:PORT…&timeout=MS&deadline=MS]
//   DELETE /connections/ID
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { basename, join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { onAcceptError } from '../log/out-of-files.js';
import type { CacheVerify, CaReport, ClientSettings, Connections, DoctorReport, Health, HealthGroup, RecentErrors, Reload, RouteExplanation, Stats, Status } from './api.js';
import { boundedServer, CONTROL_BOUNDS, type ControlBounds } from './bounds.js';
import { CONTROL_GROUP, isPipe, isReport, isSystemPath, readOnlySocket } from './paths.js';
import { socketDirectory } from './socket-dir.js';
import { listen, placeSocket, type Placement } from './socket-file.js';

/** What the control server asks of the daemon. */
export interface ControlHandlers {
  status(): Status;
  stats(): Stats;
  /** throws RangeError for a target that is not HOST[:PORT] */
  route(target: string): Promise<RouteExplanation>;
  reload(dryRun: boolean): Promise<Reload>;
  connections(): Connections;
  /** the last failed connections and requests; absent in tests' fake daemons */
  errors?(): RecentErrors;
  /** false when no open connection has that id */
  closeConnection(id: number): boolean;
  upstreams(): Health;
  mirrors(): Health;
  /** undefined when no group or mirror has that name */
  check(name: string): Promise<HealthGroup | undefined>;
  metrics(): string;
  /** the local CA's report, or why there is none; absent where a daemon has no local CA (tests' fake daemons) */
  ca?(): CaReport | { error: string };
  /** what proxyctl env and setup tell tools; absent in tests' fake daemons */
  clients?(): ClientSettings;
  /**
   * Probes targets (none: the defaults) over every route; throws RangeError for a bad target or
   * limit. An action that dials out: not served on the read-only socket. Absent in tests' fake daemons.
   */
  doctor?(targets: string[], timeoutMs: number | undefined, deadlineMs: number | undefined): Promise<DoctorReport>;
  /** hashes every cached artifact again, quarantining what changed; absent in tests' fake daemons */
  cacheVerify?(): Promise<CacheVerify>;
}

export interface ControlServer {
  path: string;
  close(): Promise<void>;
}

/** `bounds`: what each socket's clients may hold (tests give smaller ones) */
export async function startControlServer(path: string, handlers: ControlHandlers, log: Logger, bounds = CONTROL_BOUNDS): Promise<ControlServer> {
  const open: Array<() => Promise<void>> = [];
  const start = async (at: string, readOnly: boolean, placement?: Placement) => {
    const server = serverFor(at, handlers, log, readOnly, bounds);
    let remove: () => void = () => undefined;
    if (placement) remove = await placeSocket(server, at, placement);
    else await listen(server, at);
    server.on('error', onAcceptError(log, `control socket ${at}`));
    open.push(() => closeServer(server, remove));
  };
  const close = () => Promise.all(open.map((c) => c())).then(() => undefined);
  try {
    if (isPipe(path)) await start(path, false);
    else if (!isSystemPath(path)) await start(join(socketDirectory(path, 0o700, false), basename(path)), false, { mode: 0o600 });
    else {
      // others may enter the directory for the read-only socket; the control socket is the group's
      const control = join(socketDirectory(path, 0o755, true), basename(path));
      await start(control, false, { mode: 0o660, gid: groupId(CONTROL_GROUP) });
      // every local user's reports (status, stats, route, health, metrics) on a read-only socket
      // beside it; reload, checks and connections stay with the group
      await start(readOnlySocket(control), true, { mode: 0o666 });
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { path, close };
}

function serverFor(name: string, handlers: ControlHandlers, log: Logger, readOnly: boolean, bounds: ControlBounds): Server {
  return boundedServer(name, bounds, log, (req, res) => {
    serve(req, res, handlers, readOnly).catch((err: Error) => {
      log.error({ err: err.message, stack: err.stack, url: req.url }, 'control request failed inside proxyd');
      if (!res.headersSent) json(res, 500, { error: `internal error: ${err.message}` });
      else res.destroy();
    });
  });
}

/** removes the socket first: then no client can reach a server that is closing */
function closeServer(server: Server, remove: () => void): Promise<void> {
  remove();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Answers one control request (the dashboard's API answers through it too, so the two cannot disagree). */
export async function serve(req: IncomingMessage, res: ServerResponse, h: ControlHandlers, readOnly: boolean): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://proxyd');
  const route = `${req.method} ${url.pathname}`;
  const param = (name: string) => url.searchParams.get(name) ?? undefined;
  if (readOnly && !isReport(req.method ?? '', url.pathname)) {
    return json(res, 403, { error: `${route} is not served on the read-only socket: join the group "${CONTROL_GROUP}" to use the control socket` });
  }
  if (route === 'GET /status') return json(res, 200, h.status());
  if (route === 'GET /stats') return json(res, 200, h.stats());
  if (route === 'GET /connections') return json(res, 200, h.connections());
  if (route === 'GET /errors') return h.errors ? json(res, 200, h.errors()) : json(res, 404, { error: 'no error report in this daemon' });
  if (route === 'GET /upstreams') return json(res, 200, h.upstreams());
  if (route === 'GET /mirrors') return json(res, 200, h.mirrors());
  if (route === 'GET /ca') {
    const ca = h.ca?.() ?? { error: 'no local CA in this daemon' };
    return json(res, 'error' in ca ? 404 : 200, ca);
  }
  if (route === 'GET /clients') return h.clients ? json(res, 200, h.clients()) : json(res, 404, { error: 'no client settings in this daemon' });
  if (route === 'GET /metrics') {
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    return void res.end(h.metrics());
  }
  if (route === 'GET /route') {
    const target = param('target');
    if (!target) return json(res, 400, { error: 'route: give ?target=HOST[:PORT]' });
    try {
      return json(res, 200, await h.route(target));
    } catch (err) {
      if (err instanceof RangeError) return json(res, 400, { error: err.message });
      throw err;
    }
  }
  if (route === 'POST /doctor') {
    if (!h.doctor) return json(res, 404, { error: 'doctor is not served by this daemon' });
    const ms = (name: string) => (param(name) === undefined ? undefined : Number(param(name)));
    try {
      return json(res, 200, await h.doctor(url.searchParams.getAll('target'), ms('timeout'), ms('deadline')));
    } catch (err) {
      if (err instanceof RangeError) return json(res, 400, { error: err.message });
      throw err;
    }
  }
  if (route === 'POST /cache/verify') return h.cacheVerify ? json(res, 200, await h.cacheVerify()) : json(res, 404, { error: 'no artifact cache in this daemon' });
  if (route === 'POST /reload') {
    const report = await h.reload(param('dry-run') === '1');
    return json(res, report.ok ? 200 : 422, report);
  }
  const check = url.pathname.match(/^\/check\/(.+)$/);
  if (req.method === 'POST' && check) {
    let name: string;
    try {
      name = decodeURIComponent(check[1]!);
    } catch {
      return json(res, 400, { error: 'check: the name is not valid percent-encoding' });
    }
    const group = await h.check(name);
    return group ? json(res, 200, group) : json(res, 404, { error: `no group or mirror named "${name}"` });
  }
  const conn = url.pathname.match(/^\/connections\/(\d+)$/);
  if (req.method === 'DELETE' && conn) {
    const id = Number(conn[1]);
    return h.closeConnection(id) ? json(res, 200, { closed: id }) : json(res, 404, { error: `no open connection #${id}` });
  }
  json(res, 404, { error: `no such control endpoint: ${route}` });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** the id of a group, from /etc/group; undefined when there is no such group */
export function groupId(name: string): number | undefined {
  try {
    const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
    return line ? Number(line.split(':')[2]) : undefined;
  } catch {
    return undefined;
  }
}
