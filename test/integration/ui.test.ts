// The dashboard over real sockets, without a browser: its token file and proxyctl ui, who gets
// in (the token once, then the cookie; never a token in the address), the Host and Origin rules,
// the security headers on every answer, the live stream, its API answering as the control socket
// does, and reloads that move it, turn it off, or are refused.
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { Connections, RecentErrors, Stats, Status } from '../../src/control/api.js';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { startHttpOrigin, type Origin } from '../fixtures/origin.js';
import { proxyctl, proxyctlJson } from '../fixtures/proxyctl.js';
import { curl } from '../fixtures/run.js';
import { freePort } from '../fixtures/upstreams.js';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** one request to 127.0.0.1:port, Host 127.0.0.1:port unless given */
function request(port: number, o: { method?: string; path?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: o.method ?? 'GET', path: o.path ?? '/', agent: false, headers: { host: `127.0.0.1:${port}`, ...o.headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', reject);
    req.end(o.body);
  });
}

let origin: Origin;
let d: TestDaemon;
let port: number;
let token: string;
let cookie: string;

const tokenFile = (daemon: TestDaemon) => join(dirname(daemon.controlPath!), 'control.ui-token');
const own = () => ({ origin: `http://127.0.0.1:${port}` });
const signedIn = (more: Record<string, string> = {}) => ({ cookie, ...more });

beforeAll(async () => {
  origin = await startHttpOrigin();
  d = await startTestDaemon(`ui: 127.0.0.1:0\nhosts: { origin.test: 127.0.0.1 }\nrules:\n  - DOMAIN,origin.test,DIRECT\n  - MATCH,DIRECT\n`);
  port = Number(new URL(d.uiUrl!).port);
  token = readFileSync(tokenFile(d), 'utf8').trim();
  const r = await request(port, { method: 'POST', path: '/session', headers: { ...own(), 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  expect(r.status).toBe(204);
  cookie = String(r.headers['set-cookie']).split(';')[0]!;
  // traffic whose target and route a page without a session must not see
  expect((await curl(['-x', `http://127.0.0.1:${d.httpPort}`, `http://origin.test:${origin.port}/hello`])).stdout).toBe('hello from origin');
});

afterAll(async () => {
  await d?.stop({ now: true });
  await origin?.close();
});

describe('the token', () => {
  test('is in a file beside the control socket, its owner\'s only; proxyctl ui --url prints the link with it after #', async () => {
    expect(statSync(tokenFile(d)).mode & 0o777).toBe(0o600);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const r = await proxyctl(d.controlPath, ['ui', '--url']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`http://127.0.0.1:${port}/sign-in#token=${token}\n`);
    expect((await proxyctl(d.controlPath, ['status'])).stdout).toContain(`ui       http://127.0.0.1:${port}/ (proxyctl ui opens it)`);
  });

  test('proxyctl ui opens the browser on a page only its user may read: no command line holds the token', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'proxyd-opener-'));
    const args = join(bin, 'args');
    writeFileSync(join(bin, 'xdg-open'), `#!/bin/sh\nprintf '%s\\n' "$@" > ${args}\n`);
    chmodSync(join(bin, 'xdg-open'), 0o755);
    const runtime = mkdtempSync(join(tmpdir(), 'proxyd-runtime-'));
    const r = await proxyctl(d.controlPath, ['ui'], { ...process.env, PATH: `${bin}:${process.env.PATH}`, XDG_RUNTIME_DIR: runtime });
    expect(r.code).toBe(0);
    for (let i = 0; i < 200 && !existsSync(args); i++) await new Promise((ok) => setTimeout(ok, 25)); // the opener runs detached
    const opened = readFileSync(args, 'utf8').trim();
    expect(opened).toBe(`file://${runtime}/proxyd/ui-open.html`);
    expect(opened).not.toContain(token);
    const page = join(runtime, 'proxyd', 'ui-open.html');
    expect(statSync(page).mode & 0o777).toBe(0o600);
    expect(readFileSync(page, 'utf8')).toContain(`<meta http-equiv="refresh" content="0; url=http://127.0.0.1:${port}/sign-in#token=${token}">`);
  });
});

describe('who gets in', () => {
  test('without the token: 401 and no data, for the page, the API, the stream and the actions', async () => {
    const page = await request(port, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(401);
    expect(page.body).toContain('proxyctl ui');
    for (const r of [page, await request(port, { path: '/api/status' }), await request(port, { path: '/api/connections' }), await request(port, { path: '/events' }),
      await request(port, { method: 'DELETE', path: '/api/connections/1', headers: own() }), await request(port, { method: 'POST', path: '/api/reload', headers: own() })]) {
      expect(r.status).toBe(401);
      for (const secret of ['origin.test', String(origin.port), 'DIRECT', 'MATCH']) expect(r.body).not.toContain(secret);
    }
  });

  test('a wrong token is answered exactly as a missing one', async () => {
    const signIn = (body: string) => request(port, { method: 'POST', path: '/session', headers: { ...own(), 'content-type': 'application/json' }, body });
    const missing = await signIn('{}');
    const wrong = await signIn(JSON.stringify({ token: `${token.slice(0, -1)}x` }));
    expect([wrong.status, wrong.body, wrong.headers['set-cookie']]).toEqual([missing.status, missing.body, missing.headers['set-cookie']]);
    expect(wrong.status).toBe(401);
    const noBearer = await request(port, { path: '/api/status' });
    const wrongBearer = await request(port, { path: '/api/status', headers: { authorization: 'Bearer nope' } });
    expect([wrongBearer.status, wrongBearer.body]).toEqual([noBearer.status, noBearer.body]);
  });

  test('the right token once gives an HttpOnly, SameSite=Strict cookie; the API then answers as the control socket does', async () => {
    const r = await request(port, { method: 'POST', path: '/session', headers: { ...own(), 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    expect(r.headers['set-cookie']).toEqual([expect.stringMatching(/^proxyd_ui=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/$/)]);
    const viaUi = Stats.parse(JSON.parse((await request(port, { path: '/api/stats', headers: signedIn() })).body));
    const viaSocket = await proxyctlJson(d.controlPath!, ['stats'], Stats);
    expect(viaUi.routes.map((f) => [f.name, f.connections])).toEqual(viaSocket.routes.map((f) => [f.name, f.connections]));
    expect(Status.parse(JSON.parse((await request(port, { path: '/api/status', headers: signedIn() })).body)).ui).toBe(`http://127.0.0.1:${port}/`);
    const bearer = await request(port, { path: '/api/connections', headers: { authorization: `Bearer ${token}` } });
    expect(Connections.parse(JSON.parse(bearer.body)).connections).toEqual([]);
    // the page itself: every route with its figures, before any script runs
    const page = await request(port, { headers: signedIn({ accept: 'text/html' }) });
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/<tr data-name="DIRECT"><th scope="row">DIRECT<\/th><td class="n">1<\/td>/);
  });

  test("wrong tokens are counted by the proxy's own guessing brake: after 5, this address's next proxy login waits its turn", async () => {
    const guarded = await startTestDaemon('ui: 127.0.0.1:0\nauth:\n  - { username: dev, password: s3cret }\nrules:\n  - MATCH,DIRECT\n');
    try {
      const ui = Number(new URL(guarded.uiUrl!).port);
      for (let i = 0; i < 5; i++) {
        const r = await request(ui, { method: 'POST', path: '/session', headers: { origin: `http://127.0.0.1:${ui}`, 'content-type': 'application/json' }, body: '{"token":"guess"}' });
        expect(r.status).toBe(401);
      }
      const t0 = Date.now();
      const r = await curl(['--socks5-hostname', `127.0.0.1:${guarded.socksPort}`, '--proxy-user', 'dev:s3cret', `http://127.0.0.1:${origin.port}/hello`]);
      expect(r.stdout).toBe('hello from origin');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
      expect(guarded.logs.some((l) => l.inbound === 'ui' && String(l.msg).startsWith('authentication: 5 failures within 10 s'))).toBe(true);
    } finally {
      await guarded.stop({ now: true });
    }
  });

  test('a token in the address is not accepted, not even the right one, not even with a session', async () => {
    for (const path of [`/?token=${token}`, `/api/status?token=${token}`, `/sign-in?token=${token}`, `/events?token=${token}`]) {
      const bare = await request(port, { path });
      const withSession = await request(port, { path, headers: signedIn() });
      expect([bare.status, withSession.status], path).toEqual([401, 401]);
      expect(bare.body).toContain('a token in the address is not accepted');
    }
  });

  test('a foreign Host is refused (DNS rebinding), session or not; loopback names and addresses are served', async () => {
    for (const host of ['evil.example', `evil.example:${port}`, `10.0.0.1:${port}`, `localhost.evil.example:${port}`]) {
      const r = await request(port, { path: '/api/status', headers: signedIn({ host }) });
      expect(r.status, host).toBe(403);
      expect(r.body).toContain('DNS rebinding');
    }
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`]) expect((await request(port, { path: '/api/status', headers: signedIn({ host }) })).status, host).toBe(200);
  });

  test('an action needs the page\'s own Origin (CSRF): a connection stays open until its own page closes it', async () => {
    const held: Socket = connect(d.httpPort, '127.0.0.1');
    held.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
    await once(held, 'data');
    const list = async () => Connections.parse(JSON.parse((await request(port, { path: '/api/connections', headers: signedIn() })).body)).connections;
    const id = (await list()).find((c) => c.target === `127.0.0.1:${origin.port}`)!.id;
    for (const o of [undefined, 'null', 'http://evil.example', `http://127.0.0.1:${port + 1}`, `http://localhost:${port}`]) {
      const r = await request(port, { method: 'DELETE', path: `/api/connections/${id}`, headers: signedIn(o === undefined ? {} : { origin: o }) });
      expect(r.status, String(o)).toBe(403);
    }
    expect((await request(port, { method: 'POST', path: '/api/reload', headers: signedIn({ origin: 'http://evil.example' }) })).status).toBe(403);
    expect((await list()).map((c) => c.id)).toContain(id);
    const closed = once(held, 'close');
    const r = await request(port, { method: 'DELETE', path: `/api/connections/${id}`, headers: signedIn(own()) });
    expect([r.status, JSON.parse(r.body)]).toEqual([200, { closed: id }]);
    await closed;
  });

  test('every answer carries the security headers: a strict CSP, no framing, no sniffing, no Referer, no caching', async () => {
    const answers = [
      await request(port, { headers: signedIn({ accept: 'text/html' }) }),
      await request(port, { path: '/sign-in' }),
      await request(port, { path: '/assets/dashboard.js' }),
      await request(port, { path: '/api/status' }),
      await request(port, { path: '/api/status', headers: { host: 'evil.example' } }),
      await request(port, { path: '/nowhere', headers: signedIn() }),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 401, 403, 404]);
    for (const a of answers) {
      expect(a.headers['content-security-policy']).toBe("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
      expect(a.headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer', 'cache-control': 'no-store' });
    }
    expect(answers[2]!.headers['content-type']).toBe('text/javascript; charset=utf-8');
  });
});

describe('the last errors', () => {
  test('proxyctl errors and the dashboard list the same failures, by class, with what to do', async () => {
    const closed = await freePort();
    expect((await curl(['-x', `http://127.0.0.1:${d.httpPort}`, `http://127.0.0.1:${closed}/`])).stdout).toContain('ECONNREFUSED');
    const text = await proxyctl(d.controlPath, ['errors']);
    expect(text.stdout).toContain(`refused 1, latest 0s ago: DIRECT 127.0.0.1:${closed}: connect to 127.0.0.1:${closed}: ECONNREFUSED`);
    expect(text.stdout).toContain('  what to do: nothing listens there (is the port right, is the service up?)');
    const viaUi = RecentErrors.parse(JSON.parse((await request(port, { path: '/api/errors', headers: signedIn() })).body));
    const viaSocket = await proxyctlJson(d.controlPath!, ['errors'], RecentErrors);
    expect(viaUi).toEqual(viaSocket);
    expect(viaUi.errors[0]).toMatchObject({ class: 'refused', hop: 'origin', route: 'DIRECT', target: `127.0.0.1:${closed}`, rule: 'MATCH,DIRECT' });
    const page = await request(port, { headers: signedIn({ accept: 'text/html' }) });
    expect(page.body).toMatch(/<tr data-class="refused"><th scope="row">refused<\/th><td class="n">1<\/td>/);
  });
});

describe('live updates', () => {
  test('a page gets every section at once, then what changed about once a second', async () => {
    const events: Array<{ at: number; sections: Record<string, string> }> = [];
    const req = httpRequest({ host: '127.0.0.1', port, path: '/events', headers: { host: `127.0.0.1:${port}`, cookie }, agent: false });
    const done = new Promise<void>((resolve, reject) => {
      req.on('response', (res) => {
        expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
        let buffered = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
            const message = buffered.slice(0, end);
            buffered = buffered.slice(end + 2);
            const data = /^data: (.*)$/m.exec(message)?.[1];
            if (data) events.push({ at: Date.now(), sections: JSON.parse(data).sections });
            if (events.length === 3) resolve();
          }
        });
      });
      req.on('error', reject);
      setTimeout(() => reject(new Error(`3 events not in 10 s (${events.length})`)), 10_000).unref();
    });
    req.end();
    await done;
    req.destroy();
    expect(Object.keys(events[0]!.sections)).toEqual(['summary', 'routes', 'upstreams', 'groups', 'mirrors', 'rules', 'errors', 'connections']);
    expect(events[0]!.sections.routes).toContain('data-name="DIRECT"');
    // the uptime moves every second, the rest only when it changes
    expect(Object.keys(events[2]!.sections)).toContain('summary');
    expect(Object.keys(events[2]!.sections)).not.toContain('mirrors');
    expect(events[2]!.at - events[1]!.at).toBeGreaterThan(500);
    expect(events[2]!.at - events[1]!.at).toBeLessThan(2_000);
  });
});

describe('reloads', () => {
  let r: TestDaemon | undefined;
  afterEach(async () => {
    await r?.stop({ now: true });
    r = undefined;
  });

  test('a changed ui: moves the dashboard (the session goes along); a bad one is refused at its FILE:LINE:COL; off closes it and removes the token', async () => {
    r = await startTestDaemon('ui: 127.0.0.1:0\nrules:\n  - MATCH,DIRECT\n');
    const first = Number(new URL(r.uiUrl!).port);
    const file = tokenFile(r);
    const t = readFileSync(file, 'utf8').trim();
    const signIn = await request(first, { method: 'POST', path: '/session', headers: { origin: `http://127.0.0.1:${first}`, 'content-type': 'application/json' }, body: JSON.stringify({ token: t }) });
    const session = String(signIn.headers['set-cookie']).split(';')[0]!;
    const config = (ui: string) => writeFileSync(r!.config.file, `control: ${r!.controlPath}\nlisten: { socks: 127.0.0.1:0, http: 127.0.0.1:0 }\nui: ${ui}\nrules:\n  - MATCH,DIRECT\n`);
    const next = await freePort();
    config(`127.0.0.1:${next}`);
    const moved = await r.reloadFile();
    expect(moved.changes).toContain(`ui: 127.0.0.1:0 → 127.0.0.1:${next}`);
    expect(r.uiUrl).toBe(`http://127.0.0.1:${next}/`);
    expect((await request(next, { path: '/api/status', headers: { cookie: session } })).status).toBe(200);
    await expect(request(first, { path: '/api/status' })).rejects.toThrow(/ECONNREFUSED/);
    expect(readFileSync(file, 'utf8').trim()).toBe(t);

    config('0.0.0.0:9090');
    const refused = await r.reloadFile();
    expect(refused.ok).toBe(false);
    expect(refused.errors.map((e) => e.text)).toEqual([expect.stringMatching(/config\.yaml:3:5 ui: 0\.0\.0\.0 is not a loopback address/)]);
    expect((await request(next, { path: '/api/status', headers: { cookie: session } })).status).toBe(200);

    config('off');
    expect((await r.reloadFile()).changes).toContain(`ui: 127.0.0.1:${next} → off`);
    expect(r.uiUrl).toBeUndefined();
    expect(existsSync(file)).toBe(false);
    await expect(request(next, { path: '/api/status' })).rejects.toThrow(/ECONNREFUSED/);
    const off = await proxyctl(r.controlPath, ['ui', '--url']);
    expect([off.code, off.stderr]).toEqual([1, `proxyctl: the dashboard is off: add "ui: 127.0.0.1:9090" to ${r.config.file}, then proxyctl reload\n`]);
  });

  test('a port in use is refused at start and on reload, and nothing of the reload stays', async () => {
    r = await startTestDaemon('ui: 127.0.0.1:0\nrules:\n  - MATCH,DIRECT\n');
    const taken = Number(new URL(d.uiUrl!).port);
    await expect(startTestDaemon(`ui: 127.0.0.1:${taken}\nrules:\n  - MATCH,DIRECT\n`)).rejects.toThrow(`cannot listen on 127.0.0.1:${taken} (ui): address already in use`);
    writeFileSync(r.config.file, `control: ${r.controlPath}\nlisten: { socks: 127.0.0.1:0, http: 127.0.0.1:0 }\nui: 127.0.0.1:${taken}\nrules:\n  - MATCH,DIRECT\n`);
    const refused = await r.reloadFile();
    expect(refused.ok).toBe(false);
    expect(refused.errors[0]!.message).toBe(`cannot listen on 127.0.0.1:${taken} (ui): address already in use`);
    expect((await request(Number(new URL(r.uiUrl!).port), { path: '/api/status' })).status).toBe(401);
  });
});
