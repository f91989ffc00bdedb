// pino, one JSON line per event; on a terminal one readable line per event instead (pretty.ts).
// Secrets never reach a line: pino redacts them before either form is written.
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/index.js';
import { prettyDestination, type FormatOptions } from './pretty.js';

export type { Logger } from 'pino';

// Exact paths only: a wildcard ('*.password') makes pino walk every field of every line, which
// tripled the cost of a connection's line (9 µs against 3 µs).
const REDACT = ['password', 'users', 'headers.proxy-authorization', 'headers.authorization', 'proxy.password', 'upstream.password', 'request.headers.proxy-authorization'];

/** colour only on a terminal, and not when NO_COLOR is set to anything but "" (https://no-color.org) */
export function useColor(env: NodeJS.ProcessEnv = process.env, isTTY = process.stdout.isTTY === true): boolean {
  return isTTY && !env.NO_COLOR;
}

/**
 * JSON lines to `destination` (default stdout); the terminal form when `pretty` is given, which
 * is what stdout gets by default when it is a terminal.
 */
export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream, pretty?: FormatOptions): Logger {
  const options = { level, base: undefined, redact: { paths: REDACT, censor: '[redacted]' } };
  const out = destination ?? process.stdout;
  const form = pretty ?? (!destination && process.stdout.isTTY ? { color: useColor() } : undefined);
  if (form) return pino(options, prettyDestination(out, form));
  return pino(options, destination ?? bufferedStdout());
}

/**
 * stdout in writes of 4 KiB, or 100 ms after a line that is still waiting, instead of a write per
 * line: a line per connection would otherwise cost a system call per connection. An idle daemon
 * sets no timer. What is buffered is written at exit (also after an uncaught exception); a
 * SIGKILL loses at most 100 ms of lines.
 */
function bufferedStdout(): DestinationStream {
  const out = pino.destination({ dest: 1, sync: true, minLength: 4096 });
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    out.flush(); // a plain write (flushSync would also fsync a file)
  };
  process.once('exit', () => out.flushSync());
  return {
    write(line: string) {
      out.write(line);
      timer ??= setTimeout(flush, 100).unref();
    },
  };
}
