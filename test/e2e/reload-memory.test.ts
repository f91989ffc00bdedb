// Nothing a config built outlives the reloads that replace it: a thousand reloads, each changing
// the limits (a new HTTP server for the connections that follow) and the definitions of a group
// and a mirror (a new one of each), leave one HTTP server, one group and one mirror alive, and the
// heap where it was. Measured in a child process with --expose-gc (reload-memory.mjs), after full
// collections: counts and bytes, no clock.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { run } from '../fixtures/run.js';

const DAEMON = join(import.meta.dirname, '../../dist/daemon.js');
const CHILD = join(import.meta.dirname, '../fixtures/reload-memory.mjs');

test('a thousand reloads with changing limits, group and mirror leave the HTTP servers, the outbounds and the heap flat', async () => {
  if (!existsSync(DAEMON)) throw new Error('dist/daemon.js is missing: run `npm run build` (npm test does it first)');
  const r = await run('node', ['--expose-gc', CHILD, '1000'], { timeoutMs: 120_000 });
  expect(r.stderr).toBe('');
  const { servers, outbounds, heap } = JSON.parse(r.stdout) as { servers: { made: number; alive: number }; outbounds: { made: number; alive: number }; heap: { before: number; after: number } };
  expect(servers.made).toBeGreaterThanOrEqual(1000); // one per set of limits: the test did change them
  expect(servers.alive).toBeLessThanOrEqual(1); // the one for the limits in force
  expect(outbounds.made).toBe(2000);
  expect(outbounds.alive).toBeLessThanOrEqual(10); // the group and the mirror in force, and retired ones whose close has not finished
  // a server or an outbound held per reload costs 2 KiB or more: 1000 of them would be megabytes
  expect(heap.after - heap.before).toBeLessThan(2 * 1024 * 1024);
});
