#!/usr/bin/env node
// proxyctl: controls a running proxyd over its control socket. Thin: the requests are in
// control/client.ts, the human output in cli/.
//
// Exit codes: 0 done; 1 the command failed (a refused reload, a bad argument, an unknown name);
// 3 no daemon answers; 4 a control socket is there but refuses this user.
import { Command, Option } from 'commander';
import { CacheVerify, Closed, Connections, Health, HealthGroup, RecentErrors, Reload, RouteExplanation, Stats, Status } from './control/api.js';
import { ControlClient, Refused, Unreachable } from './control/client.js';
import { styleFor } from './cli/format.js';
import { cacheVerifyText, connectionsText, healthText, reloadText, routeText, statsText, statusText } from './cli/render.js';
import { REDRAW, Watch } from './cli/watch.js';
import { caCommand } from './cli/ca.js';
import { doctorCommand } from './cli/doctor.js';
import { connectCommand } from './cli/connect.js';
import { errorsText } from './cli/errors-text.js';
import { uiCommand } from './cli/ui.js';
import { envCommand, setupCommand } from './cli/setup.js';
import { serviceCommand } from './service/command.js';
import { UserError } from './user-error.js';
import { VERSION } from './version.js';

const EXIT = { failed: 1, unreachable: 3, refused: 4 } as const;

const program = new Command('proxyctl')
  .description('Control a running proxyd over its control socket.')
  .version(VERSION)
  .addOption(new Option('--control <path>', 'the control socket (default: $PROXYD_CONTROL, else your own daemon\'s, then the system service\'s)'))
  .showHelpAfterError()
  .addHelpText('after', '\nExit codes: 0 done, 1 the command failed, 3 no daemon answers, 4 the control socket refuses you.');

const out = process.stdout;
// a reader that stops early (`proxyctl stats --watch | head`) is not an error
out.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? 0 : EXIT.failed));
const style = () => styleFor(out);

interface Common {
  json?: boolean;
  control?: string;
}

function client(cmd: Command): ControlClient {
  return new ControlClient(cmd.optsWithGlobals<Common>().control);
}

/** A report: JSON as the daemon sent it (checked) with --json, else the human text. */
function print<T>(cmd: Command, report: T, human: (r: T) => string): void {
  out.write(cmd.optsWithGlobals<Common>().json ? `${JSON.stringify(report, null, 2)}\n` : `${human(report)}\n`);
}

function command(name: string, description: string): Command {
  return program.command(name).description(description).option('--json', 'print the report as JSON');
}

command('status', 'is it up: version, uptime, config, listeners, a row per route, upstream and mirror health')
  .action(async (_o, cmd: Command) => print(cmd, await client(cmd).report('GET', '/status', Status), (s) => statusText(s, style())));

command('stats', 'the figures per route, upstream and rule, with percentiles of the last 5 minutes')
  .option('-w, --watch', 'redraw every second')
  .option('--interval <seconds>', 'seconds between frames with --watch', '1')
  .option('--count <n>', 'stop after n frames with --watch')
  .action(async (o: { watch?: boolean; interval: string; count?: string }, cmd: Command) => {
    const c = client(cmd);
    const get = () => c.report('GET', '/stats', Stats);
    if (!o.watch) return print(cmd, await get(), (s) => statsText(s, style()));
    const intervalS = Number(o.interval);
    const count = o.count === undefined ? Infinity : Number(o.count);
    if (!(intervalS > 0) || !(count > 0)) throw new UserError('--interval and --count take positive numbers');
    const json = cmd.optsWithGlobals<Common>().json;
    const watch = new Watch();
    for (let frame = 0; frame < count; frame++) {
      if (frame > 0) await new Promise((r) => setTimeout(r, intervalS * 1000));
      const s = await get();
      if (json) out.write(`${JSON.stringify(s)}\n`); // one JSON document per line
      else out.write(`${out.isTTY ? REDRAW : frame > 0 ? '\n' : ''}${watch.frame(s, style(), intervalS)}\n`);
    }
  });

command('route', 'which rule matches HOST[:PORT] (port 443 when not given) and where a connection would go, without connecting')
  .argument('<host[:port]>')
  .action(async (target: string, _o, cmd: Command) =>
    print(cmd, await client(cmd).report('GET', `/route?target=${encodeURIComponent(target)}`, RouteExplanation), (r) => routeText(r, style())));

command('reload', 're-read the config file; a bad config is refused with its errors and the running one stays')
  .option('-n, --dry-run', 'check the file and show what would change, without applying it')
  .action(async (o: { dryRun?: boolean }, cmd: Command) => {
    const report = await client(cmd).report('POST', `/reload${o.dryRun ? '?dry-run=1' : ''}`, Reload, [200, 422]);
    print(cmd, report, (r) => reloadText(r, style()));
    if (!report.ok) process.exitCode = EXIT.failed;
  });

command('connections', 'the open tunnels and requests')
  .option('--close <id>', 'close the connection with this id')
  .action(async (o: { close?: string }, cmd: Command) => {
    const c = client(cmd);
    if (o.close === undefined) return print(cmd, await c.report('GET', '/connections', Connections), (r) => connectionsText(r, style()));
    if (!/^\d+$/.test(o.close)) throw new UserError(`--close takes a connection id (a number), not "${o.close}"`);
    print(cmd, await c.report('DELETE', `/connections/${o.close}`, Closed), (r) => `closed connection #${r.closed}`);
  });

command('errors', 'the last failed connections and requests by class, with what to do')
  .action(async (_o, cmd: Command) => print(cmd, await client(cmd).report('GET', '/errors', RecentErrors), (r) => errorsText(r, style())));

command('check', 'run the health checks of a group (or mirror) now and show the result')
  .argument('<name>')
  .action(async (name: string, _o, cmd: Command) =>
    print(cmd, await client(cmd).report('POST', `/check/${encodeURIComponent(name)}`, HealthGroup), (g) => healthText('CHECKED', [g], style())));

command('upstreams', 'health of the upstream groups and their members')
  .action(async (_o, cmd: Command) => print(cmd, await client(cmd).report('GET', '/upstreams', Health), (h) => healthText('UPSTREAM GROUPS', h.groups, style())));

command('mirrors', 'health of the mirrors and their upstreams')
  .action(async (_o, cmd: Command) => print(cmd, await client(cmd).report('GET', '/mirrors', Health), (h) => healthText('MIRRORS', h.groups, style())));

program.command('cache').description("the mirrors' artifact cache")
  .addCommand(new Command('verify').description('hash every cached artifact again; what changed on disk is reported and quarantined (exit 1 when something was)')
    .option('--json', 'print the report as JSON')
    .action(async (_o, cmd: Command) => {
      const report = await client(cmd).report('POST', '/cache/verify', CacheVerify);
      print(cmd, report, (r) => cacheVerifyText(r, style()));
      if (report.bad.length) process.exitCode = EXIT.failed;
    }));

program.command('metrics').description('the Prometheus text the control socket serves at /metrics')
  .action(async (_o, cmd: Command) => {
    const answer = await client(cmd).send('GET', '/metrics');
    out.write(answer.body);
  });

program.addCommand(serviceCommand());
program.addCommand(caCommand());
program.addCommand(doctorCommand());
program.addCommand(envCommand());
program.addCommand(setupCommand());
program.addCommand(connectCommand());
program.addCommand(uiCommand());

program.parseAsync().catch((err: Error) => {
  const code = err instanceof Unreachable ? EXIT.unreachable : err instanceof Refused ? EXIT.refused : EXIT.failed;
  if (!(err instanceof Unreachable || err instanceof Refused || err instanceof UserError)) process.stderr.write(`proxyctl: ${err.stack ?? err.message}\n`);
  else process.stderr.write(`proxyctl: ${err.message}\n`);
  process.exit(code);
});
