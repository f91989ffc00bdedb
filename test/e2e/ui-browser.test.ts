// The dashboard in a real browser: Debian's chromium, driven headless by playwright-core (no
// browser download), against a daemon with two real microsocks upstreams in a group, and real
// curl traffic through both listeners. Takes the README's screenshots of the main views (into
// docs/ui/ when PROXYD_SCREENSHOTS=1, as `npm run screenshots` sets it; else into a scratch
// directory). In CI (CI=true) a missing chromium, microsocks or curl fails; elsewhere it skips.
//
//   curl ─► proxyd (socks, http) ─► group out: [a, b] (microsocks) ─► origin     chromium ─► dashboard
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openFileLimit } from '../../src/access/file-limit.js';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { startHttpOrigin, type Origin } from '../fixtures/origin.js';
import { proxyctl } from '../fixtures/proxyctl.js';
import { curl, run } from '../fixtures/run.js';
import { findBinary, startMicrosocks, stopAllUpstreams, type Upstream } from '../fixtures/upstreams.js';

const CHROMIUM = '/usr/bin/chromium';
/** what the machine notes say a headless Chromium here needs: no sandbox as root, and no background traffic of its own */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP rebind.test 127.0.0.1'];
const CI = process.env.CI === 'true';
const ROOT = join(import.meta.dirname, '../..');
const SHOTS = process.env.PROXYD_SCREENSHOTS === '1' ? join(ROOT, 'docs', 'ui') : mkdtempSync(join(tmpdir(), 'proxyd-ui-shots-'));

const missing = [existsSync(CHROMIUM) ? undefined : 'chromium', findBinary('microsocks') ? undefined : 'microsocks', findBinary('curl') ? undefined : 'curl'].filter(Boolean);
if (missing.length && CI) throw new Error(`CI must have ${missing.join(', ')} (.ci/run installs them)`);

let origin: Origin;
/** endless slow answers (1 KiB every 100 ms, for at most a minute): a transfer to close from the page; and /wait?ms=N, an answer after N ms */
let trickle: Server;
/** a page of another site on this machine that tries the dashboard's actions (CSRF) */
let evil: Server;
let a: Upstream;
let b: Upstream;
let d: TestDaemon;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let ui: string;
/** every URL the browser asked for, and the console errors of every page */
const requests: string[] = [];
const consoleErrors: string[] = [];

const portOf = (s: Server) => (s.address() as AddressInfo).port;
const listening = (s: Server) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r));

/** a screenshot of one section, or (no selector) of the whole page from its top */
async function shot(name: string, selector?: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  const path = join(SHOTS, `${name}.png`);
  if (selector) await page.locator(selector).screenshot({ path, animations: 'disabled' });
  else {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path, fullPage: true, animations: 'disabled' });
  }
  expect(statSync(path).size).toBeGreaterThan(5_000);
}

/** a cell of a route's row in the routes table, by column (0 = CONN) */
const routeCell = (route: string, column: number) =>
  page.locator(`#routes tr[data-name="${route}"] td`).nth(column).innerText();

describe.skipIf(missing.length > 0)(`the dashboard in chromium${missing.length ? ` (skipped: not installed: ${missing.join(', ')})` : ''}`, () => {
  beforeAll(async () => {
    origin = await startHttpOrigin();
    trickle = createServer((req, res) => {
      const wait = /^\/wait\?ms=(\d+)$/.exec(req.url ?? '');
      if (wait) return void setTimeout(() => res.end('waited'), Number(wait[1]));
      let left = 600;
      const timer = setInterval(() => (--left > 0 ? res.write(Buffer.alloc(1024, 'x')) : res.end()), 100);
      res.on('close', () => clearInterval(timer));
    });
    evil = createServer((_req, res) => res.end(EVIL_PAGE));
    await Promise.all([listening(trickle), listening(evil)]);
    [a, b] = await Promise.all([startMicrosocks(), startMicrosocks()]);
    d = await startTestDaemon(`ui: 127.0.0.1:0
hosts: { origin.test: 127.0.0.1 }
limits: { max-connections-per-client: 2000 }
proxies:
  - { name: a, type: socks5, server: ${a.server} }
  - { name: b, type: socks5, server: ${b.server} }
groups:
  - { name: out, type: fallback, members: [a, b], check: { interval: 1s, timeout: 1s, failures: 1 } }
rules:
  - DOMAIN,origin.test,out
  - MATCH,DIRECT
`);
    ui = d.uiUrl!;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.on('request', (r) => void requests.push(r.url()));
    context.on('page', (p) => {
      p.on('console', (m) => void (m.type() === 'error' && consoleErrors.push(`${p.url()}: ${m.text()}`)));
      p.on('pageerror', (e) => void consoleErrors.push(`${p.url()}: ${e.message}`));
    });
    page = await context.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await d?.stop({ now: true });
    await stopAllUpstreams();
    trickle?.closeAllConnections();
    trickle?.close();
    evil?.close();
    await origin?.close();
  });

  test('the link proxyctl ui prints signs in: the token leaves the address bar for an HttpOnly cookie; no console error, no request off loopback', async () => {
    const r = await proxyctl(d.controlPath, ['ui', '--url']);
    const link = r.stdout.trim();
    const token = link.split('#token=')[1]!;
    expect(link).toBe(`${ui}sign-in#token=${token}`);
    await page.goto(link);
    await page.waitForURL(ui);
    await page.waitForSelector('#live.on');
    expect(page.url()).toBe(ui);
    expect(await page.evaluate(() => [location.hash, document.cookie])).toEqual(['', '']);
    const cookies = await context.cookies();
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([['proxyd_ui', true, 'Strict']]);
    expect(JSON.stringify(cookies)).not.toContain(token);
    expect(consoleErrors).toEqual([]);
    expect(requests.length).toBeGreaterThan(5);
    expect(requests.filter((u) => new URL(u).hostname !== '127.0.0.1')).toEqual([]);
    expect(requests.filter((u) => u.includes(token))).toEqual([]);
  });

  test('after curl through both listeners, the routes show with their latency; new traffic moves the figures within 2 s', async () => {
    const viaHttp = (url: string) => curl(['-x', `http://127.0.0.1:${d.httpPort}`, url]);
    const viaSocks = (url: string) => curl(['--socks5-hostname', `127.0.0.1:${d.socksPort}`, url]);
    for (let i = 0; i < 3; i++) {
      for (const r of await Promise.all([viaHttp(`http://origin.test:${origin.port}/hello`), viaSocks(`http://origin.test:${origin.port}/hello`),
        viaHttp(`http://127.0.0.1:${origin.port}/hello`), viaSocks(`http://127.0.0.1:${origin.port}/hello`)])) expect(r.stdout).toBe('hello from origin');
    }
    // CONN, ACTIVE, ERRORS, CONNECT p50, p99, TTFB p50 …: both routes with a first-byte p50 (an HTTP answer timed)
    await page.waitForFunction(() => ['out', 'DIRECT'].every((n) => {
      const cells = document.querySelectorAll(`#routes tr[data-name="${n}"] td`);
      return cells.length > 5 && cells[0]!.textContent === '6' && cells[5]!.textContent !== '-';
    }), undefined, { timeout: 5_000 });
    for (const route of ['out', 'DIRECT']) {
      expect(Number(await routeCell(route, 5))).toBeGreaterThan(0);
      expect(await page.locator(`#routes figure[data-name="${route}"] svg.chart path.p50`).first().getAttribute('d')).toMatch(/^M/);
    }
    expect(await page.locator('#upstreams tr[data-name="a"] td').first().innerText()).toBe('6');
    expect(await page.locator('#rules').innerText()).toContain('DOMAIN,origin.test,out');
    const before = await routeCell('DIRECT', 0);
    expect((await viaSocks(`http://127.0.0.1:${origin.port}/hello`)).stdout).toBe('hello from origin');
    const sent = Date.now();
    await page.waitForFunction((was) => document.querySelector('#routes tr[data-name="DIRECT"] td')?.textContent !== was, before, { timeout: 2_000 });
    expect(Date.now() - sent).toBeLessThan(2_000);
    expect(await routeCell('DIRECT', 0)).toBe(String(Number(before) + 1));
    // answers that take from 10 to 400 ms, one after another, until the charts draw lines (two 5-second slots, at most
    // 100 rounds of 100 ms on average); longer for the README's screenshots
    const waits = [10, 40, 120, 25, 400, 60, 15, 200, 80, 30];
    const drawn = () => page.evaluate(() => !!document.querySelectorAll('#routes figure[data-name="out"] path.p99')[1]?.getAttribute('d')?.includes('L'));
    for (let i = 0; i < 100 && (i < (SHOTS.startsWith(ROOT) ? 80 : 10) || !(await drawn())); i++) {
      const ms = waits[i % waits.length]!;
      const [viaOut, direct] = await Promise.all([viaHttp(`http://origin.test:${portOf(trickle)}/wait?ms=${ms}`), viaSocks(`http://127.0.0.1:${portOf(trickle)}/wait?ms=${Math.round(ms / 2)}`)]);
      expect([viaOut.stdout, direct.stdout]).toEqual(['waited', 'waited']);
    }
    expect(await drawn()).toBe(true);
    await shot('routes', '#s-routes');
    await shot('overview');
  });

  test("killing a group's member shows the switch: the member down, the group on the next one, and why", async () => {
    const group = page.locator('#groups [data-group="out"]');
    expect(await group.locator('.using').innerText()).toBe('a');
    await a.kill();
    // traffic through the group notices at once (the connection is carried by b all the same)
    expect((await curl(['-x', `http://127.0.0.1:${d.httpPort}`, `http://origin.test:${origin.port}/hello`])).stdout).toBe('hello from origin');
    await page.waitForFunction(() => document.querySelector('#groups [data-group="out"] .using')?.textContent === 'b', undefined, { timeout: 5_000 });
    expect(await group.locator('tr', { hasText: /^a/ }).locator('.status').innerText()).toBe('down');
    expect(await group.locator('.why').innerText()).not.toBe('');
    await shot('groups', '#s-groups');
  });

  test("closing a connection from the page ends that client's transfer", async () => {
    const port = portOf(trickle);
    const started = Date.now();
    const transfer = run('curl', ['-sS', '--max-time', '60', '--socks5-hostname', `127.0.0.1:${d.socksPort}`, `http://127.0.0.1:${port}/trickle`], { timeoutMs: 70_000 });
    await page.fill('#connection-filter input[name=filter]', `:${port}`);
    await page.click('#connection-filter button[type=submit]');
    const row = page.locator('#connections tr[data-id]', { hasText: `127.0.0.1:${port}` });
    await row.waitFor({ timeout: 5_000 });
    await page.waitForFunction(() => !document.querySelector('#connections tr[data-id] td:nth-child(9)')?.textContent?.startsWith('0 B'), undefined, { timeout: 5_000 });
    expect(new URL(page.url()).searchParams.get('filter')).toBe(`:${port}`);
    await shot('connections', '#s-connections');
    const id = await row.getAttribute('data-id');
    await row.locator('button[data-close]').click();
    const ended = await transfer;
    expect(ended.code).not.toBe(0); // cut short: curl says the transfer did not finish
    expect(Date.now() - started).toBeLessThan(30_000);
    await page.locator('#toast', { hasText: `closed connection #${id}` }).waitFor({ timeout: 2_000 });
    await row.waitFor({ state: 'detached', timeout: 3_000 });
  });

  test('1,000 open connections: the list pages (50 a page) and the page keeps up', async (ctx) => {
    const limit = openFileLimit();
    if (limit !== undefined && limit < 8_192) {
      if (CI) throw new Error(`the open-file limit is ${limit}: 1,000 tunnels need 8192`);
      ctx.skip(`the open-file limit is ${limit}: 1,000 tunnels need 8192`);
    }
    const held: Socket[] = [];
    try {
      for (let batch = 0; batch < 10; batch++) {
        held.push(...await Promise.all(Array.from({ length: 100 }, () => tunnel(d.httpPort, origin.port))));
      }
      await page.goto(ui);
      await page.locator('#connections .count', { hasText: /^100\d open$/ }).waitFor({ timeout: 10_000 });
      expect(await page.locator('#connections tr[data-id]').count()).toBe(50);
      await page.locator('#connections nav.pager a', { hasText: 'older →' }).first().click();
      await page.locator('#connections nav.pager', { hasText: /page 2 of 2\d/ }).first().waitFor({ timeout: 3_000 });
      expect(await page.locator('#connections tr[data-id]').count()).toBe(50);
      // still live: a new connection moves the count within 2 s
      const count = await page.locator('#connections .count').innerText();
      held.push(await tunnel(d.httpPort, origin.port));
      await page.waitForFunction((was) => document.querySelector('#connections .count')?.textContent !== was, count, { timeout: 2_000 });
    } finally {
      for (const s of held) s.destroy();
    }
    await page.goto(ui);
  });

  test('without the token, with a token in the address, a foreign Host or another origin: refused, in the browser too', async () => {
    const stranger = await browser.newContext();
    try {
      const p = await stranger.newPage();
      const answer = await p.goto(ui);
      expect(answer!.status()).toBe(401);
      expect(await p.locator('body').innerText()).not.toMatch(/origin\.test|DIRECT|microsocks/);
      const token = readFileSync(join(d.controlPath!, '..', 'control.ui-token'), 'utf8').trim();
      expect((await p.goto(`${ui}?token=${token}`))!.status()).toBe(401);
      expect(await stranger.cookies()).toEqual([]);
    } finally {
      await stranger.close();
    }
    // DNS rebinding: a name of another site that resolves to 127.0.0.1
    const rebound = await page.goto(`http://rebind.test:${new URL(ui).port}/`);
    expect(rebound!.status()).toBe(403);
    // CSRF: a page of another site on this machine (same site as far as the cookie goes: it is sent) tries the actions
    const held = await tunnel(d.httpPort, origin.port);
    try {
      const id = (await (await fetch(`${ui}api/connections`, { headers: { authorization: `Bearer ${readFileSync(join(d.controlPath!, '..', 'control.ui-token'), 'utf8').trim()}` } })).json() as { connections: Array<{ id: number }> }).connections.at(-1)!.id;
      const reloadsBefore = d.logs.filter((l) => String(l.msg).startsWith('config reloaded')).length;
      // its script tries a DELETE (stopped at the preflight) and a no-cors POST (sent, with the cookie: refused for its Origin),
      // then submits a form to a check: the classic CSRF, a top-level POST that carries the cookie
      const formAnswer = page.waitForResponse(`${ui}api/check/out`);
      await page.goto(`http://127.0.0.1:${portOf(evil)}/?ui=${encodeURIComponent(ui)}&id=${id}`);
      const answer = await formAnswer;
      expect(answer.status()).toBe(403);
      expect(await answer.text()).toBe(`proxyd's dashboard takes POST only from its own page (Origin http://127.0.0.1:${portOf(evil)})\n`);
      expect(requests).toContain(`${ui}api/reload`);
      expect(d.logs.filter((l) => String(l.msg).startsWith('config reloaded')).length).toBe(reloadsBefore);
      expect(held.destroyed).toBe(false);
    } finally {
      held.destroy();
    }
    await page.goto(ui);
    await page.waitForSelector('#live.on');
  });

  test('reload from the page with its dry run first; the page keeps working through it, and says when proxyd is gone', async () => {
    consoleErrors.length = 0; // the refusals above were logged by the browser, as they should be
    const file = d.config.file;
    writeFileSync(file, readFileSync(file, 'utf8').replace('  - MATCH,DIRECT\n', '  - DOMAIN-SUFFIX,ads.example,REJECT\n  - MATCH,DIRECT\n'));
    await page.click('#reload-dry-run');
    const result = page.locator('#reload-result');
    await result.locator('p', { hasText: 'valid; a reload would change:' }).waitFor({ timeout: 5_000 });
    expect(await result.locator('pre').innerText()).toContain('+ DOMAIN-SUFFIX,ads.example,REJECT');
    await shot('reload', '#s-reload');
    await page.click('#reload-apply');
    await result.locator('p', { hasText: /^reloaded / }).waitFor({ timeout: 5_000 });
    await page.locator('#summary', { hasText: '(3 rules)' }).waitFor({ timeout: 2_000 });
    expect(await page.locator('#live').getAttribute('class')).toBe('live on');
    await d.stop({ now: true });
    await page.locator('#live', { hasText: 'proxyd is not answering' }).waitFor({ timeout: 5_000 });
    // the browser's notes of the stream cut and the daemon refusing, nothing else (no script error)
    expect(consoleErrors.filter((e) => !/Failed to load resource: net::ERR_CONNECTION_(REFUSED|RESET)$/.test(e))).toEqual([]);
  });
});

/** A CONNECT tunnel through the HTTP listener to the origin, held open. */
function tunnel(proxyPort: number, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(proxyPort, '127.0.0.1', () => s.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`));
    s.once('data', (chunk: Buffer) => (chunk.toString().startsWith('HTTP/1.1 200') ? resolve(s) : reject(new Error(chunk.toString()))));
    s.once('error', reject);
  });
}

const EVIL_PAGE = `<!doctype html><title>evil</title><script>
const q = new URLSearchParams(location.search);
const ui = q.get('ui');
Promise.allSettled([
  fetch(ui + 'api/connections/' + q.get('id'), { method: 'DELETE', credentials: 'include' }),
  fetch(ui + 'api/reload', { method: 'POST', mode: 'no-cors', credentials: 'include' }),
]).then(() => {
  const form = document.createElement('form');
  form.method = 'POST';
  form.action = ui + 'api/check/out';
  document.body.append(form);
  form.submit();
});
</script>`;
