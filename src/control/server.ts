// The control server: HTTP + JSON on a Unix socket only its owner can use (or, for the system
// service, its owner and the `proxyd` group, with a read-only socket beside it for every local
// user's reports), or a Windows named pipe. No TCP port.
//
//   GET  /status  /stats  /connections  /upstreams  /mirrors  /metrics  /route?target=HOST:PORT
//   POST /reload[?dry-run=1]  /check/NAME        DELETE /connections/ID
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../log/logger.js';
import type { Connections, Health, HealthGroup, Reload, RouteExplanation, Stats, Status } from './api.js';
import { CONTROL_GROUP, isPipe, isReport, isSystemPath, readOnlySocket } from './paths.js';

/** What the control server asks of the daemon. */
export interface ControlHandlers {
  status(): Status;
  stats(): Stats;
  /** throws RangeError for a target that is not HOST[:PORT] */
  route(target: string): Promise<RouteExplanation>;
  reload(dryRun: boolean): Promise<Reload>;
  connections(): Connections;
  /** false when no open connection has that id */
  closeConnection(id: number): boolean;
  upstreams(): Health;
  mirrors(): Health;
  /** undefined when no group or mirror has that name */
  check(name: string): Promise<HealthGroup | undefined>;
  metrics(): string;
}

export interface ControlServer {
  path: string;
  close(): Promise<void>;
}

export async function startControlServer(path: string, handlers: ControlHandlers, log: Logger): Promise<ControlServer> {
  const control = serverFor(handlers, log, false);
  if (isPipe(path)) await listen(control, path);
  else await listenOnSocket(control, path, log);
  const servers = [control];
  // the system service also answers every local user's reports (status, stats, route, health,
  // metrics) on a read-only socket beside it; reload, checks and connections stay with the group
  if (isSystemPath(path)) {
    const reports = serverFor(handlers, log, true);
    await listenReadOnly(reports, readOnlySocket(path));
    servers.push(reports);
  }
  return {
    path,
    close: () => Promise.all(servers.map((server) => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }))).then(() => undefined),
  };
}

function serverFor(handlers: ControlHandlers, log: Logger, readOnly: boolean): Server {
  const server = createServer((req, res) => {
    serve(req, res, handlers, readOnly).catch((err: Error) => {
      log.error({ err: err.message, stack: err.stack, url: req.url }, 'control request failed inside proxyd');
      if (!res.headersSent) json(res, 500, { error: `internal error: ${err.message}` });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 1000;
  return server;
}

async function serve(req: IncomingMessage, res: ServerResponse, h: ControlHandlers, readOnly: boolean): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://proxyd');
  const route = `${req.method} ${url.pathname}`;
  const param = (name: string) => url.searchParams.get(name) ?? undefined;
  if (readOnly && !isReport(req.method ?? '', url.pathname)) {
    return json(res, 403, { error: `${route} is not served on the read-only socket: join the group "${CONTROL_GROUP}" to use the control socket` });
  }
  if (route === 'GET /status') return json(res, 200, h.status());
  if (route === 'GET /stats') return json(res, 200, h.stats());
  if (route === 'GET /connections') return json(res, 200, h.connections());
  if (route === 'GET /upstreams') return json(res, 200, h.upstreams());
  if (route === 'GET /mirrors') return json(res, 200, h.mirrors());
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

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
}

/**
 * A Unix socket in a directory only its owner may enter (0700; the system service's 0755 with a
 * 0660 socket for group proxyd).
 * A socket left by a daemon that died is replaced; one that answers means proxyd already runs.
 */
async function listenOnSocket(server: Server, path: string, log: Logger): Promise<void> {
  const system = isSystemPath(path);
  const dir = dirname(path);
  // a directory proxyd makes is its owner's alone; one that exists is left as it is (it may be
  // shared, like /tmp): the socket's own mode 0600 then guards it
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  else if (!system && (statSync(dir).mode & 0o077) !== 0) log.warn({ dir }, `control socket directory ${dir} is open to other users; the socket itself is 0600`);
  if (existsSync(path)) {
    if (await answers(path)) throw new Error(`another proxyd is running: its control socket ${path} answers (stop it first, or set control: to another path)`);
    unlinkSync(path);
  }
  // created with the process's umask (022: no one else may write, so no one else may connect), then narrowed
  await listen(server, path);
  chmodSync(path, system ? 0o660 : 0o600);
  if (system) {
    chmodSync(dir, 0o755); // others may enter: the read-only socket is there; the control socket is 0660
    const gid = groupId(CONTROL_GROUP);
    if (gid !== undefined) chownSync(path, -1, gid);
  }
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The read-only socket: mode 0666. */
async function listenReadOnly(server: Server, path: string): Promise<void> {
  if (existsSync(path)) unlinkSync(path); // the control socket beside it was free: this one is stale
  await listen(server, path);
  chmodSync(path, 0o666);
}

/** the id of a group, from /etc/group; undefined when there is no such group */
function groupId(name: string): number | undefined {
  try {
    const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
    return line ? Number(line.split(':')[2]) : undefined;
  } catch {
    return undefined;
  }
}
