// `proxyctl service …`: the command line only; the work is in install.ts and operate.ts.
import { Command, Option } from 'commander';
import { openRun, type ServiceOptions } from './context.js';
import { install, uninstall } from './install.js';
import { PLATFORMS } from './layout.js';
import { start, status, stop } from './operate.js';
import type { Run } from './run.js';

const out = (text: string) => void process.stdout.write(text);

function withScope(cmd: Command): Command {
  return cmd
    .option('--user', 'your own service (the default unless you are root)')
    .option('--system', 'the system service (the default as root, and on Windows)')
    .option('-n, --dry-run', 'print the files (with their contents) and the commands, and change nothing')
    .addOption(new Option('--platform <os>', 'for another OS (with --dry-run or --root)').choices(PLATFORMS))
    .option('--root <dir>', 'write every file under DIR (like DESTDIR) and start nothing');
}

export function serviceCommand(): Command {
  const service = new Command('service')
    .description('run proxyd as a service: systemd (Linux), launchd (macOS), a Windows service (WinSW)')
    .addHelpText('after', '\nWithout systemd running (a container), Linux gets a background process with a pid file instead, which does not start at boot.');
  const sub = (name: string, description: string, action: (run: Run, o: ServiceOptions & Record<string, string | boolean | undefined>, cmd: Command) => Promise<unknown>) =>
    withScope(service.command(name).description(description)).action(async (o: ServiceOptions & Record<string, string | boolean | undefined>, cmd: Command) => {
      await action(openRun(o, out, name !== 'install'), o, cmd);
    });

  sub('install', 'write the service definition (and a config, when there is none), enable it and start it; run again to upgrade', (run, o) => install(run, o.config as string | undefined))
    .option('-c, --config <file>', 'run the service with this config file, where it is (default: the service\'s own config, written from the embedded default when missing)');
  sub('uninstall', 'stop and disable the service and remove what install added (a config you changed is kept)', (run) => uninstall(run));
  sub('start', 'start the installed service', (run) => start(run));
  sub('stop', 'stop the installed service (open connections may finish first)', (run) => stop(run));
  sub('status', 'the service manager\'s view, and the daemon\'s own status (exit 3 when it does not answer)', async (run, o, cmd) => {
    process.exitCode = await status(run, !!o.json, cmd.optsWithGlobals<{ control?: string }>().control);
  }).option('--json', 'print the report as JSON');
  return service;
}
