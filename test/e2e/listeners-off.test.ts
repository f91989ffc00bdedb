// A config with both listeners off is refused by `--check` and by the daemon, at the `listen` key.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { run } from '../fixtures/run.js';

const PROXYD = join(import.meta.dirname, '../../dist/proxyd.js');
const dir = mkdtempSync(join(tmpdir(), 'proxyd-listeners-off-'));
const file = join(dir, 'off.yaml');
const MESSAGE = 'listen: both listeners are off, so nothing would be served; give socks or http an ADDRESS:PORT such as 127.0.0.1:1080';

beforeAll(() => {
  if (!existsSync(PROXYD)) throw new Error('dist/proxyd.js is missing: run `npm run build` (npm test does it first)');
  writeFileSync(file, 'log: { level: info }\nlisten:\n  socks: off\n  http: off\nrules:\n  - MATCH,DIRECT\n');
});

test('--check: exit 1, the error at the listen key as FILE:LINE:COL', async () => {
  const r = await run('node', [PROXYD, '--check', '--config', file]);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toBe(`${file}:2:1 ${MESSAGE}\nproxyd: 1 error(s) in config; not valid\n`);
});

test('the daemon refuses to start on it (exit 1, not a silent exit 0)', async () => {
  const r = await run('node', [PROXYD, '--config', file]);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(`${file}:2:1 ${MESSAGE}\nproxyd: 1 error(s) in config; not starting\n`);
});
