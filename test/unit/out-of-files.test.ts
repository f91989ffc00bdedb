// Running out of descriptors is said once per 10 s per daemon, wherever it surfaces, however
// often it happens: a flood of failures is one line at once and one summary per period.
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { onAcceptError, reportOutOfFiles } from '../../src/log/out-of-files.js';
import { capturingLogger } from '../fixtures/logger.js';

const errno = (code: string) => Object.assign(new Error(`accept ${code}`), { code });

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

test('1,000 EMFILE in a burst: one line at once, one with the count of the rest after 10 s, then silence until the next', () => {
  const { log, lines } = capturingLogger();
  for (let i = 0; i < 1000; i++) expect(reportOutOfFiles(log, i < 999 ? 'dial' : 'accept on listen.http', errno('EMFILE'))).toBe(true);
  expect(lines).toEqual([expect.objectContaining({ level: 50, error: 'EMFILE', where: 'dial', count: 1 })]);
  expect(lines[0]!.msg).toMatch(/^out of file descriptors at dial \(EMFILE\): proxyd's open-file limit \(raise it: ulimit -n/);
  vi.advanceTimersByTime(9_999);
  expect(lines).toHaveLength(1);
  vi.advanceTimersByTime(1);
  expect(lines[1]).toMatchObject({ error: 'EMFILE', where: 'accept on listen.http', count: 999 });
  expect(lines[1]!.msg).toMatch(/^out of file descriptors 999 times in the last 10 s, the last at accept on listen.http \(EMFILE\)/);
  vi.advanceTimersByTime(60_000);
  expect(lines).toHaveLength(2);
  reportOutOfFiles(log, 'dial', errno('EMFILE'));
  expect(lines).toHaveLength(3);
});

test('ENFILE is the system\'s table; any other error is left to the caller; each daemon (logger) has its own period', () => {
  const a = capturingLogger();
  const b = capturingLogger();
  expect(reportOutOfFiles(a.log, 'dial', errno('ECONNREFUSED'))).toBe(false);
  expect(reportOutOfFiles(a.log, 'dial', new Error('no code'))).toBe(false);
  expect(a.lines).toEqual([]);
  expect(reportOutOfFiles(a.log, 'dial', errno('ENFILE'))).toBe(true);
  expect(a.lines[0]!.msg).toContain("the system's open-file table");
  reportOutOfFiles(b.log, 'dial', errno('EMFILE'));
  expect(b.lines).toHaveLength(1);
});

test('a server\'s accept errors: EMFILE through the same period, anything else a line of its own, none thrown', () => {
  const { log, lines } = capturingLogger();
  const heard = onAcceptError(log, 'listen.socks');
  heard(errno('EMFILE'));
  heard(errno('EMFILE'));
  heard(errno('ENOBUFS'));
  expect(lines.map((l) => [l.where, l.error ?? l.err])).toEqual([
    ['accept on listen.socks', 'EMFILE'],
    ['listen.socks', 'accept ENOBUFS'],
  ]);
  expect(lines[1]!.msg).toBe('accept on listen.socks failed: accept ENOBUFS');
});
