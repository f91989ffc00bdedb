// The built daemon on a real terminal (a pseudo-TTY from util-linux `script`): one line per
// connection, route first, in colour.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startHttpOrigin, type Origin } from '../fixtures/origin.js';
import { descendants, running, type Proc } from '../fixtures/proc-tree.js';
import { curl } from '../fixtures/run.js';

const PROXYD = join(import.meta.dirname, '../../dist/proxyd.js');
const dir = mkdtempSync(join(tmpdir(), 'proxyd-tty-'));
// .ci/run installs util-linux: under CI the test runs (and fails without `script`), elsewhere it needs `script`
const haveScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
const ANSI = /\x1b\[[0-9;]*m/g;
const TIME = String.raw`\d\d:\d\d:\d\d\.\d{3}`;
const MS = String.raw`(\d+ms|\d+\.\ds)`;
const BYTES = String.raw`↑\d+ B ↓\d+ B`;
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

let origin: Origin;
let script: ChildProcess | undefined;
let tree: Proc[] = [];

beforeAll(async () => {
  if (!existsSync(PROXYD)) throw new Error('dist/proxyd.js is missing: run `npm run build` (npm test does it first)');
  origin = await startHttpOrigin();
});
afterAll(async () => {
  // a failed test must not leave its daemon behind (script's child outlives a killed script)
  for (const p of [...tree, ...(script?.pid ? descendants(script.pid) : [])]) if (running(p)) process.kill(p.pid, 'SIGKILL');
  if (script?.exitCode === null) script.kill('SIGKILL');
  await origin.close();
});

test.skipIf(!haveScript && process.env.CI !== 'true')('on a TTY each connection is one line, route and duration first, in colour', async () => {
  const file = join(dir, 'tty.yaml');
  writeFileSync(file, 'listen: { socks: 127.0.0.1:0, http: 127.0.0.1:0 }\ncontrol: off\nrules:\n  - DOMAIN,blocked.example,REJECT\n  - MATCH,DIRECT\n');
  const env = { ...process.env };
  delete env.NO_COLOR;
  // -q: no banner; -f: flush each write; the shell `exec`s node, so the daemon is script's child
  script = spawn('script', ['-qfc', `exec node ${sh(PROXYD)} --config ${sh(file)}`, '/dev/null'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let raw = '';
  script.stdout!.on('data', (c: Buffer) => (raw += c));
  script.stderr!.on('data', (c: Buffer) => (raw += c));
  const lines = () => raw.replace(ANSI, '').split(/\r?\n/).filter(Boolean);
  const exited = once(script, 'exit');

  const listening = (name: string) => lines().find((l) => l.includes(`listener=${name} address=127.0.0.1:`));
  await expect.poll(() => [listening('socks'), listening('http')].every(Boolean), { timeout: 10_000 }).toBe(true);
  const http = Number(/listener=http address=127\.0\.0\.1:(\d+)/.exec(listening('http')!)![1]);
  tree = descendants(script.pid!);
  const daemon = tree.filter((p) => p.cmdline.includes('dist/proxyd.js'));
  expect(daemon).toHaveLength(1);

  // one tunnel that succeeds, one request a rule rejects
  const ok = await curl(['-p', '-x', `http://127.0.0.1:${http}`, `http://127.0.0.1:${origin.port}/hello`]);
  expect(ok.stdout).toBe('hello from origin');
  await expect.poll(() => lines().some((l) => l.includes(`CONNECT 127.0.0.1:${origin.port}`)), { timeout: 5000 }).toBe(true);
  const rejected = await curl(['-x', `http://127.0.0.1:${http}`, '-o', '/dev/null', '-w', '%{http_code}', 'http://blocked.example/']);
  expect(rejected.stdout).toBe('403');
  await expect.poll(() => lines().some((l) => l.includes('FORWARD blocked.example:80')), { timeout: 5000 }).toBe(true);

  process.kill(daemon[0]!.pid, 'SIGTERM');
  const timer = setTimeout(() => script!.kill('SIGKILL'), 10_000);
  const [code] = await exited;
  clearTimeout(timer);
  expect(code).toBe(0);

  // everything the daemon printed on the terminal: every line is an event of its own (time, level, …)
  const all = lines();
  expect(all.filter((l) => !new RegExp(`^${TIME} (INFO |WARN |ERROR|DEBUG|TRACE|FATAL) \\S`).test(l))).toEqual([]);
  // and each connection is exactly one of them, route and duration first
  expect(all.filter((l) => l.includes(`127.0.0.1:${origin.port}`))).toEqual([
    expect.stringMatching(new RegExp(`^${TIME} INFO  DIRECT  ${MS}  CONNECT 127\\.0\\.0\\.1:${origin.port}  ${BYTES}  rule MATCH,DIRECT  #\\d+ http 127\\.0\\.0\\.1:\\d+$`)),
  ]);
  expect(all.filter((l) => l.includes('blocked.example'))).toEqual([
    expect.stringMatching(new RegExp(`^${TIME} INFO  REJECT  ${MS}  FORWARD blocked\\.example:80  ${BYTES}  rule DOMAIN,blocked\\.example,REJECT  #\\d+ http 127\\.0\\.0\\.1:\\d+  ${esc('✗ rejected at proxyd: blocked.example:80 is rejected by rule')}$`)),
  ]);
  expect(all.filter((l) => / signal=SIGTERM\b/.test(l))).toHaveLength(1); // the stop, on its line too
  // in colour on a terminal: the level green, the route bold cyan
  expect(raw).toContain(`\x1b[32mINFO \x1b[0m \x1b[1;36mDIRECT\x1b[0m  `);
  for (const p of tree) expect(running(p)).toBe(false);
});
