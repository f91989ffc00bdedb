// git over smart HTTP through proxyd: a real `git clone` / `git fetch` / `git push` against `git http-backend`,
// with git's own http.proxy pointing at each listener (and at the "wrong" one: each listener
// accepts both protocols). The daemon's log lines prove the bytes really went through it.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { git, gitAvailable, gitEnv, seedRepo, startGitServer, type GitServer, type SeededRepo } from '../fixtures/git-server.js';

const CI = process.env.CI === 'true';
const HAVE_GIT = gitAvailable();
const BIG = 4 * 1024 * 1024;
const EXTRA = 1024 * 1024;
const PUSHED = 2 * 1024 * 1024;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

type LogLine = Record<string, unknown>;

// In CI a missing git is a failure (beforeAll throws), never a skip.
describe.skipIf(!HAVE_GIT && !CI)('git smart HTTP through proxyd', () => {
  let d: TestDaemon;
  let repo: SeededRepo;
  let server: GitServer;
  let clients: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    if (!HAVE_GIT) throw new Error('git (with git-http-backend) is not installed; CI must install the "git" Debian package');
    repo = await seedRepo('project', BIG);
    server = await startGitServer(repo.root);
    d = await startTestDaemon('limits: { drain-timeout: 2s }\nrules:\n  - MATCH,DIRECT\n');
    clients = mkdtempSync(join(tmpdir(), 'proxyd-git-clients-'));
    env = gitEnv(join(repo.dir, 'home'));
    // the environment really is clean: no proxy variable git or curl could prefer or bypass with
    expect(Object.keys(env).filter((k) => /_proxy$/i.test(k))).toEqual([]);
  });

  afterAll(async () => {
    await d?.stop();
    await server?.close();
    repo?.cleanup();
    if (clients) rmSync(clients, { recursive: true, force: true });
  });

  /** The daemon's log lines since `mark` for connections/requests to the git server. */
  const gitLines = (mark: number): LogLine[] =>
    d.logs.slice(mark).filter((l) => l.route === 'DIRECT' && l.target === `127.0.0.1:${server.port}`);

  /** Tunnels are logged when they close, which can be just after git exits: wait (bounded) for a condition. */
  async function waitForLines(mark: number, ok: (lines: LogLine[]) => boolean): Promise<LogLine[]> {
    const deadline = Date.now() + 5_000;
    while (!ok(gitLines(mark)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return gitLines(mark);
  }

  const downBytes = (lines: LogLine[]) => lines.reduce((n, l) => n + Number(l.down ?? 0), 0);
  const upBytes = (lines: LogLine[]) => lines.reduce((n, l) => n + Number(l.up ?? 0), 0);

  const cases = [
    { name: 'HTTP proxy on the HTTP listener', scheme: 'http', port: () => d.httpPort, inbound: 'http', mode: 'forward' },
    { name: 'SOCKS5 (socks5h) on the SOCKS listener', scheme: 'socks5h', port: () => d.socksPort, inbound: 'socks5', mode: 'tunnel' },
    { name: 'SOCKS5 (socks5h) on the HTTP listener', scheme: 'socks5h', port: () => d.httpPort, inbound: 'socks5', mode: 'tunnel' },
    { name: 'HTTP proxy on the SOCKS listener', scheme: 'http', port: () => d.socksPort, inbound: 'http', mode: 'forward' },
  ] as const;

  test.each(cases)('clone, fetch and push via $name', async ({ scheme, port, inbound, mode }) => {
    const proxy = `${scheme}://127.0.0.1:${port()}`;
    const viaProxy = ['-c', `http.proxy=${proxy}`];
    const url = `http://127.0.0.1:${server.port}/project.git`;
    const dest = join(clients, `${scheme}-${port()}`);

    // --- clone ---
    const head = await repo.head();
    let logMark = d.logs.length;
    let reqMark = server.requests.length;
    await git([...viaProxy, 'clone', '-q', url, dest], { env });

    expect((await git(['rev-parse', 'HEAD'], { cwd: dest, env })).stdout.trim()).toBe(head);
    expect((await git(['rev-parse', '--abbrev-ref', 'HEAD'], { cwd: dest, env })).stdout.trim()).toBe('main');
    expect(sha(readFileSync(join(dest, 'big.bin')))).toBe(sha(repo.big));
    expect(readFileSync(join(dest, 'README.md'), 'utf8')).toBe(readFileSync(join(repo.work, 'README.md'), 'utf8'));
    expect((await git(['rev-list', '--count', 'HEAD'], { cwd: dest, env })).stdout.trim()).toBe((await git(['rev-list', '--count', 'HEAD'], { cwd: repo.work, env })).stdout.trim());

    // the clone went through proxyd: its log lines for the git server carry at least the whole pack
    // (a forwarded request is logged when its response is done, a tunnel when it closes: possibly just after git exits)
    const allLogged = (ls: LogLine[]) => mode !== 'forward' || ls.length >= server.requests.length - reqMark;
    let lines = await waitForLines(logMark, (ls) => downBytes(ls) > BIG && allLogged(ls));
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatchObject({ inbound, mode, route: 'DIRECT', target: `127.0.0.1:${server.port}` });
    expect(lines.filter((l) => l.error)).toEqual([]);
    expect(downBytes(lines)).toBeGreaterThan(BIG);
    const served = server.requests.slice(reqMark);
    expect(served.map((r) => r.url)).toEqual(expect.arrayContaining([expect.stringContaining('/project.git/info/refs?service=git-upload-pack'), '/project.git/git-upload-pack']));
    expect(served.map((r) => r.status)).toEqual(served.map(() => 200));
    // forwarded: one log line per request, and every request the server saw carries proxyd's Via;
    // tunnelled: one line per tunnel, and no Via (proxyd never sees inside a tunnel)
    expect(mode === 'forward' ? lines.length === served.length : lines.length <= served.length).toBe(true);
    expect(served.map((r) => /proxyd-/.test(String(r.headers.via)))).toEqual(served.map(() => mode === 'forward'));

    // --- a new commit lands on the server (pushed there directly, not through the proxy); fetch it ---
    const extra = randomBytes(EXTRA); // incompressible: the fetched pack is at least this big
    const newHead = await repo.commit({ [`new-${scheme}-${port()}.txt`]: extra }, `commit for ${proxy}`);
    expect(newHead).not.toBe(head);
    logMark = d.logs.length;
    reqMark = server.requests.length;
    await git([...viaProxy, 'fetch', '-q', 'origin'], { cwd: dest, env });

    expect((await git(['rev-parse', 'origin/main'], { cwd: dest, env })).stdout.trim()).toBe(newHead);
    expect((await git(['rev-parse', 'origin/main^'], { cwd: dest, env })).stdout.trim()).toBe(head);
    await git(['merge', '-q', '--ff-only', 'origin/main'], { cwd: dest, env });
    expect(sha(readFileSync(join(dest, `new-${scheme}-${port()}.txt`)))).toBe(sha(extra));

    lines = await waitForLines(logMark, (ls) => downBytes(ls) > EXTRA && allLogged(ls));
    expect(downBytes(lines)).toBeGreaterThan(EXTRA);
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatchObject({ inbound, mode, route: 'DIRECT', target: `127.0.0.1:${server.port}` });
    expect(lines.filter((l) => l.error)).toEqual([]);
    expect(server.requests.slice(reqMark).some((r) => r.url === '/project.git/git-upload-pack')).toBe(true);
    // forwarded: one line per request; tunnelled: one per tunnel, each carrying one request or more
    expect(mode === 'forward' ? lines.length === server.requests.length - reqMark : lines.length <= server.requests.length - reqMark).toBe(true);

    // --- push a local commit back through the proxy (a streamed request body) to its own branch ---
    const pushed = `pushed-${scheme}-${port()}.bin`;
    writeFileSync(join(dest, pushed), randomBytes(PUSHED));
    await git(['add', pushed], { cwd: dest, env });
    await git(['commit', '-q', '-m', `push via ${proxy}`], { cwd: dest, env });
    const local = (await git(['rev-parse', 'HEAD'], { cwd: dest, env })).stdout.trim();
    const blob = (await git(['hash-object', pushed], { cwd: dest, env })).stdout.trim();
    const branch = `pushed/${scheme}-${port()}`;
    logMark = d.logs.length;
    reqMark = server.requests.length;
    await git([...viaProxy, 'push', '-q', 'origin', `HEAD:refs/heads/${branch}`], { cwd: dest, env });

    // the server now has that exact commit and file content on the branch
    expect((await git(['rev-parse', branch], { cwd: repo.bare, env })).stdout.trim()).toBe(local);
    expect((await git(['rev-parse', `${branch}:${pushed}`], { cwd: repo.bare, env })).stdout.trim()).toBe(blob);
    // "up" carries the whole pack, whether tunnelled or forwarded (a forwarded request's bytes are
    // counted on the client connection when its exchange ends, request head and body included)
    lines = await waitForLines(logMark, (ls) => upBytes(ls) > PUSHED && allLogged(ls));
    expect(upBytes(lines)).toBeGreaterThan(PUSHED);
    // forwarded: one line per request; tunnelled: one per tunnel, each carrying one request or more
    expect(mode === 'forward' ? lines.length === server.requests.length - reqMark : lines.length <= server.requests.length - reqMark).toBe(true);
    for (const l of lines) expect(l).toMatchObject({ inbound, mode, route: 'DIRECT', target: `127.0.0.1:${server.port}` });
    expect(lines.filter((l) => l.error)).toEqual([]);
    const receivePacks = server.requests.slice(reqMark).filter((r) => r.url === '/project.git/git-receive-pack');
    expect(receivePacks.length).toBeGreaterThan(0);
    expect(receivePacks.map((r) => r.status)).toEqual(receivePacks.map(() => 200));
  });
});
