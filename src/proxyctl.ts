#!/usr/bin/env node
// proxyctl: controls a running proxyd over its control socket. The control socket lands in its own
// issue; until then this prints what is coming and exits 3 for any command (daemon not reachable).
import { Command } from 'commander';
import { VERSION } from './version.js';

const program = new Command('proxyctl')
  .description('Control a running proxyd: status, stats, route, reload, doctor, setup, service.')
  .version(VERSION)
  .addHelpText('after', '\nThe control socket is not built yet: this version only prints this help.')
  .action(() => program.help());

program.parse();
