// The dashboard's HTTP listener, on loopback only: the page, its live updates, and a read API
// over the control socket's own reports (answered by the control server's code, so the two cannot
// disagree), with its actions: close a connection, run a check, reload.
//
//   GET  /sign-in                      the page a `proxyctl ui` link opens: trades the token for a cookie
//   POST /session                      {"token": …} → 204 and the session cookie, or 401
//   GET  /                             the dashboard, every section filled in (?page=N&filter=TEXT)
//   GET  /events                       its live sections, once a second (Server-Sent Events)
//   GET  /api/session                  204 while the session is good (the page asks after losing its stream)
//   GET  /api/status … /api/errors     the control socket's reports; POST /api/reload, /api/check/NAME; DELETE /api/connections/ID
//   GET  /assets/dashboard.js, .css    the page's own script and stylesheet (no data: no session needed)
//
// Before any of it: the Host must be loopback, a request that changes something must come from
// the page's own origin, and every answer carries the security headers (guard.ts).
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UI_CONNECTIONS } from '../access/file-limit.js';
import { formatTarget, type Target } from '../address/index.js';
import { boundedServer } from '../control/bounds.js';
import { serve as answerControl, type ControlHandlers } from '../control/server.js';
import type { Logger } from '../log/logger.js';
import { onAcceptError } from '../log/out-of-files.js';
import type { Stats } from '../stats/stats.js';
import { changesState, loopbackHost, sameOrigin, SECURITY_HEADERS } from './guard.js';
import { LiveFeed } from './live.js';
import type { UiSessions } from './sessions.js';
import { dashboardPage, signInPage } from './view/page.js';
import { renderSections, type ConnectionView } from './view/sections.js';

const BOUNDS = { maxConnections: UI_CONNECTIONS, requestTimeoutMs: 5_000, idleTimeoutMs: 30_000 };
/** a sign-in request's body */
const MAX_BODY = 1024;
/** how long a closing dashboard waits for answers in progress (a reload that moved it) */
const CLOSE_GRACE_MS = 2_000;

/** what the page reads: the control socket's reports and the statistics' histograms */
export interface UiSources {
  handlers: ControlHandlers;
  stats: Stats;
  configFile(): string;
  log: Logger;
}

/** the control endpoints the dashboard answers under /api/: reports, and the actions a page offers */
const API = [/^GET \/(status|stats|connections|errors|upstreams|mirrors|metrics)$/, /^POST \/reload$/, /^POST \/check\/[^/]+$/, /^DELETE \/connections\/\d+$/];

/** the page's own files, from dist/ui/page (tsc compiles the script there; the build copies the stylesheet) */
const ASSETS_DIR = new URL('../../dist/ui/page/', import.meta.url);
const ASSETS: Record<string, string> = { 'dashboard.js': 'text/javascript; charset=utf-8', 'dashboard.css': 'text/css; charset=utf-8' };

export class UiServer {
  readonly #server: Server;
  readonly #sessions: UiSessions;
  readonly #sources: UiSources;
  readonly #feed: LiveFeed;
  readonly #assets = new Map<string, Buffer>();

  private constructor(sources: UiSources, sessions: UiSessions) {
    this.#sources = sources;
    this.#sessions = sessions;
    this.#feed = new LiveFeed(sources.handlers, sources.stats);
    for (const name of Object.keys(ASSETS)) {
      try {
        this.#assets.set(name, readFileSync(new URL(name, ASSETS_DIR)));
      } catch (err) {
        throw new Error(`the dashboard's ${name} is missing from ${ASSETS_DIR.pathname} (npm run build makes it): ${(err as Error).message}`);
      }
    }
    this.#server = boundedServer('the dashboard', BOUNDS, sources.log, (req, res) => {
      this.#serve(req, res).catch((err: Error) => {
        sources.log.error({ err: err.message, stack: err.stack, url: req.url }, 'dashboard request failed inside proxyd');
        if (!res.headersSent) text(res, 500, `internal error: ${err.message}`);
        else res.destroy();
      });
    });
  }

  /** Binds `address` (loopback: the config allows nothing else); rejects saying why when it cannot. */
  static async start(address: Target, sessions: UiSessions, sources: UiSources): Promise<UiServer> {
    const ui = new UiServer(sources, sessions);
    await new Promise<void>((resolve, reject) => {
      ui.#server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(`cannot listen on ${formatTarget(address)} (ui): ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`)));
      ui.#server.listen(address.port, address.host, () => resolve());
    });
    ui.#server.on('error', onAcceptError(sources.log, 'the dashboard'));
    return ui;
  }

  get address(): AddressInfo {
    return this.#server.address() as AddressInfo;
  }

  /** http://127.0.0.1:9090/ */
  get url(): string {
    const { address, port } = this.address;
    return `http://${formatTarget({ host: address, port })}/`;
  }

  /** pages streaming live updates now (none: the dashboard does no work) */
  get listening(): number {
    return this.#feed.listening;
  }

  /** Stops accepting and ends the live streams; answers in progress get a moment to finish. */
  close(): Promise<void> {
    this.#feed.close();
    return new Promise((resolve) => {
      const cut = setTimeout(() => this.#server.closeAllConnections(), CLOSE_GRACE_MS).unref();
      this.#server.close(() => {
        clearTimeout(cut);
        resolve();
      });
      this.#server.closeIdleConnections();
    });
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    if (!loopbackHost(req.headers.host)) {
      return text(res, 403, "proxyd's dashboard answers requests for localhost or a loopback address only (this one named another host: DNS rebinding?)");
    }
    if (changesState(req.method) && !sameOrigin(req)) {
      return text(res, 403, `proxyd's dashboard takes ${req.method} only from its own page (Origin ${req.headers.origin ?? 'missing'})`);
    }
    const url = new URL(req.url ?? '/', 'http://ui');
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /assets/dashboard.js' || route === 'GET /assets/dashboard.css') return this.#asset(res, url.pathname.slice('/assets/'.length));
    if (route === 'GET /favicon.ico') return void res.writeHead(204).end();
    if (url.searchParams.has('token')) {
      return this.#unauthorized(req, res, 'a token in the address is not accepted (it would stay in your history and in logs): use the link `proxyctl ui` prints, which holds it after #');
    }
    if (route === 'GET /sign-in') return html(res, 200, signInPage('Signing in…'));
    if (route === 'POST /session') return this.#signIn(req, res);
    if (!(await this.#sessions.admits(req))) return this.#unauthorized(req, res, 'not signed in (or the daemon restarted since): open the link `proxyctl ui` prints');
    if (route === 'GET /api/session') return void res.writeHead(204).end();
    if (route === 'GET /') {
      const view = viewOf(url);
      const data = this.#feed.data();
      return html(res, 200, dashboardPage(renderSections(data, view), view, this.#sources.configFile(), new Date(data.now)));
    }
    if (route === 'GET /events') return this.#events(res, viewOf(url));
    if (url.pathname.startsWith('/api/')) {
      const control = `${req.method} ${url.pathname.slice(4)}`;
      if (!API.some((r) => r.test(control))) return json(res, 404, { error: `no such dashboard endpoint: ${route}` });
      req.url = `${url.pathname.slice(4)}${url.search}`;
      return answerControl(req, res, this.#sources.handlers, false);
    }
    return json(res, 404, { error: `no such dashboard endpoint: ${route}` });
  }

  #asset(res: ServerResponse, name: string): void {
    const body = this.#assets.get(name)!;
    res.writeHead(200, { 'content-type': ASSETS[name]!, 'content-length': body.length });
    res.end(body);
  }

  async #signIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    let token: unknown;
    try {
      token = body === undefined ? undefined : (JSON.parse(body) as { token?: unknown }).token;
    } catch {
      token = undefined;
    }
    const cookie = await this.#sessions.signIn(token, req);
    if (!cookie) return json(res, 401, { error: 'the token is not valid (the daemon restarted since the link was made?): open the link `proxyctl ui` prints' });
    res.writeHead(204, { 'set-cookie': cookie }).end();
  }

  /** the same answer for a missing token and a wrong one: the sign-in page for a page, else JSON; no data either way */
  #unauthorized(req: IncomingMessage, res: ServerResponse, why: string): void {
    const wantsPage = req.method === 'GET' && (req.headers.accept ?? '').includes('text/html');
    if (wantsPage) return html(res, 401, signInPage(why));
    json(res, 401, { error: why });
  }

  #events(res: ServerResponse, view: ConnectionView): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    res.socket?.setNoDelay(true);
    this.#feed.listen(res, view);
  }
}

function viewOf(url: URL): ConnectionView {
  const page = Number(url.searchParams.get('page') ?? '1');
  return { page: Number.isSafeInteger(page) && page > 0 ? page : 1, filter: (url.searchParams.get('filter') ?? '').slice(0, 200) };
}

/** the body as text, or undefined when it is not JSON or too long */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve) => {
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
      req.resume();
      return resolve(undefined);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => resolve(size <= MAX_BODY ? Buffer.concat(chunks).toString() : undefined));
    req.on('error', () => resolve(undefined));
  });
}

function html(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) + 1 });
  res.end(`${body}\n`);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const t = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(t) });
  res.end(t);
}
