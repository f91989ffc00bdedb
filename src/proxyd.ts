#!/usr/bin/env node
// proxyd: the daemon's command line. Everything it does lives in the library (daemon.ts, config/).
import { setFlagsFromString } from 'node:v8';
import { Command } from 'commander';
import { ConfigError, formatProblem, loadConfig } from './config/index.js';
import { VERSION } from './version.js';

const program = new Command('proxyd')
  .description('Local forwarding proxy daemon: SOCKS5 and HTTP listeners, routing by rules.')
  .version(VERSION)
  .option('-c, --config <file>', 'config file (default: $PROXYD_CONFIG, else the embedded default)')
  .option('--check', 'validate the config and exit: 0 when valid, 1 with every error as FILE:LINE:COL message')
  .showHelpAfterError();

const DUPLICATE_MS = 500;

async function main(): Promise<void> {
  program.parse();
  const opts = program.opts<{ config?: string; check?: boolean }>();
  const file = opts.config ?? (process.env.PROXYD_CONFIG || undefined);
  let config;
  try {
    config = loadConfig(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
    process.stderr.write(`proxyd: ${err.problems.length} error(s) in config; ${opts.check ? 'not valid' : 'not starting'}\n`);
    process.exit(1);
  }
  if (opts.check) {
    process.stdout.write(`${config.file}: ok (${config.rules.length} rules)\n`);
    return;
  }
  // nothing proxyd creates is writable by others (a control socket is then never connectable by
  // others before it is narrowed to 0600/0660), whatever umask it was started with
  process.umask(process.umask(0o022) | 0o022);
  // V8 grows the young generation (up to 32 MiB) when objects survive their first collections, as
  // every tunnel's do, and keeps it: held at its first size, an idle tunnel costs 8 KiB, not 17
  // (BENCHMARKS.md). Read at each growth, so it applies when set here (unlike --max-semi-space-size).
  setFlagsFromString('--semi-space-growth-factor=1');
  // the daemon's code (listeners, engine, control server) is loaded only to start it: --check reads the config alone
  const { startDaemon }: typeof import('./daemon.js') = await import('./daemon.js');
  // PROXYD_STATS=off is for the benchmark's statistics-off runs only
  const daemon = await startDaemon(config, { stats: process.env.PROXYD_STATS !== 'off' });
  const log = daemon.engine.log;
  let first: { signal: string; at: number } | undefined;
  const stop = (signal: string) => {
    if (first) {
      // one Ctrl-C under `npm start` arrives twice (the terminal signals the whole group and npm
      // passes it on): the same signal within DUPLICATE_MS is that one press, not a second
      if (signal === first.signal && Date.now() - first.at < DUPLICATE_MS) return;
      log.info({ signal }, 'second signal: closing every connection now');
      void daemon.stop({ now: true });
      return;
    }
    first = { signal, at: Date.now() };
    log.info({ signal, drainTimeoutMs: daemon.config.limits.drainTimeoutMs }, 'stopping: no new connections; open ones may finish (a second signal stops at once)');
    void daemon.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // SIGHUP: re-read the config; a bad one is refused with its errors (logged) and the running one stays
  process.on('SIGHUP', () => void daemon.reloadFile());
}

main().catch((err: Error) => {
  process.stderr.write(`proxyd: ${err.message}\n`);
  process.exit(1);
});
