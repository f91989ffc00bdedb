#!/usr/bin/env node
// proxyd: the daemon's command line. Everything it does lives in the library (daemon.ts, config/).
import { Command } from 'commander';
import { ConfigError, formatProblem, loadConfig } from './config/index.js';
import { startDaemon } from './daemon.js';
import { VERSION } from './version.js';

const program = new Command('proxyd')
  .description('Local forwarding proxy daemon: SOCKS5 and HTTP listeners, routing by rules.')
  .version(VERSION)
  .option('-c, --config <file>', 'config file (default: $PROXYD_CONFIG, else the embedded default)')
  .option('--check', 'validate the config and exit: 0 when valid, 1 with every error as FILE:LINE:COL message')
  .showHelpAfterError();

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
  const daemon = await startDaemon(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    daemon.engine.log.info({ signal }, 'stopping: no new connections, draining open ones');
    void daemon.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // SIGHUP: re-read the config; a bad one is refused with its errors and the running one stays
  process.on('SIGHUP', () => {
    const log = daemon.engine.log;
    try {
      const { needsRestart } = daemon.reload(loadConfig(file));
      if (needsRestart.length) log.warn({ needsRestart }, `reloaded; ${needsRestart.join(', ')} changed and take effect after a restart`);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const p of err.problems) log.error({ file: p.file, line: p.line, col: p.col }, formatProblem(p));
      log.error({ errors: err.problems.length }, 'reload refused: the config has errors; the running config stays');
    }
  });
}

main().catch((err: Error) => {
  process.stderr.write(`proxyd: ${err.message}\n`);
  process.exit(1);
});
