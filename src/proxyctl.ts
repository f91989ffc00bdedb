#!/usr/bin/env node
// proxyctl: controls a running proxyd over its control socket. The control socket is not built
// yet: every command says so in one line and exits 3, as for a daemon that cannot be reached.
import { Command } from 'commander';
import { VERSION } from './version.js';

const UNREACHABLE = 3;

const program = new Command('proxyctl')
  .description('Control a running proxyd: status, stats, route, reload, doctor, setup, service.')
  .version(VERSION)
  .argument('[command...]', 'status, stats, route, reload, connections, mirrors, check, doctor, env, setup, service, ca')
  .allowUnknownOption()
  .addHelpText('after', '\nThe control socket is not built in this version: commands cannot reach the daemon yet (exit 3).')
  .action((command: string[]) => {
    if (command.length === 0) program.help();
    process.stderr.write(`proxyctl ${command[0]}: cannot reach proxyd: this version has no control socket yet\n`);
    process.exit(UNREACHABLE);
  });

program.parse();
