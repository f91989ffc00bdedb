import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../fixtures/daemon.js';
import { startHttpOrigin, type Origin } from '../fixtures/origin.js';
import { curl } from '../fixtures/run.js';

let d: TestDaemon;
let origin: Origin;
beforeAll(async () => {
  d = await startTestDaemon();
  origin = await startHttpOrigin();
});
afterAll(async () => {
  await d.stop();
  await origin.close();
});

test('curl through the HTTP proxy', async () => {
  const r = await curl(['-x', `http://127.0.0.1:${d.httpPort}`, `http://127.0.0.1:${origin.port}/hello`]);
  expect(r.stdout).toBe('hello from origin');
});
