// pino, one JSON line per event; human-readable when stdout is a terminal. Secrets never reach a line.
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogLevel } from '../config/index.js';

export type { Logger } from 'pino';

const REDACT = ['password', '*.password', 'users', 'headers.proxy-authorization', 'headers.authorization', '*.headers.proxy-authorization'];

export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  const options = { level, base: undefined, redact: { paths: REDACT, censor: '[redacted]' } };
  if (destination) return pino(options, destination);
  if (process.stdout.isTTY) return pino(options, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  return pino(options);
}
