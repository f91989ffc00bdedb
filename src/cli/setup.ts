// `proxyctl env` and `proxyctl setup`: point the user's tools at the daemon (library in setup/).
import { realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { ControlClient } from '../control/client.js';
import { setupSsh, setupTool, undoAll, type SetupContext } from '../setup/apply.js';
import { viewDaemon, type DaemonView } from '../setup/daemon-view.js';
import { defaultShell, envText, proxyEnv, SHELLS, unsetText, type Shell } from '../setup/env.js';
import { planFor } from '../setup/plans.js';
import { Records, SETUP_TARGETS, setupStateDir, type SetupTarget } from '../setup/records.js';
import { sshOver443 } from '../setup/ssh-route.js';
import { TOOLS, which, type Place } from '../setup/tools.js';
import { UserError } from '../user-error.js';

const out = process.stdout;
const SSH_PROBE_MS = 5_000;

interface Globals {
  control?: string;
}

export function envCommand(): Command {
  return new Command('env')
    .description('print the variables that point tools at the daemon\'s listeners: eval "$(proxyctl env)"')
    .addOption(new Option('--shell <shell>', 'the syntax (default: fish when $SHELL is fish, PowerShell on Windows, else sh)').choices(SHELLS))
    .option('--unset', 'print the commands that clear them instead')
    .action(async (o: { shell?: Shell; unset?: boolean }, cmd: Command) => {
      const shell = o.shell ?? defaultShell();
      if (o.unset) return void out.write(unsetText(shell));
      const view = await viewDaemon(client(cmd));
      out.write(envText(proxyEnv(view), shell));
      for (const note of envNotes(view)) process.stderr.write(`proxyctl: ${note}\n`);
    });
}

export function setupCommand(): Command {
  return new Command('setup')
    .description('write each tool\'s own settings for the daemon (git, go, npm, pip through the tool; ssh in ~/.ssh/config), recorded for an exact --undo')
    .argument('<target>', `${SETUP_TARGETS.join(' | ')} | all`)
    .option('-n, --dry-run', 'print the commands and the diff of each file, and change nothing')
    .option('--undo', 'put back every file as it was before setup (byte for byte when unchanged since)')
    .action(async (target: string, o: { dryRun?: boolean; undo?: boolean }, cmd: Command) => {
      const place: Place = { env: process.env, home: homedir() };
      const all = target === 'all';
      if (!all && !(SETUP_TARGETS as readonly string[]).includes(target)) throw new UserError(`setup takes ${SETUP_TARGETS.join(', ')} or all, not "${target}"`);
      const targets = all ? [...SETUP_TARGETS] : [target as SetupTarget];
      const ctx: SetupContext = { place, records: new Records(setupStateDir(place)), dryRun: !!o.dryRun, say: (line) => void out.write(`${line}\n`) };
      if (o.undo) return undoAll(ctx, targets);
      const view = await viewDaemon(client(cmd));
      for (const t of targets) {
        if (t !== 'ssh' && !which(place, TOOLS[t].program)) {
          if (all) ctx.say(`${t}: not installed, skipped`);
          else throw new UserError(`${t} is not on your PATH`);
          continue;
        }
        if (t === 'ssh') await setupSshFor(ctx, view, cmd);
        else setupTool(ctx, TOOLS[t], planFor(t, view));
      }
      if (!ctx.dryRun) ctx.say(`undo with: proxyctl setup ${target} --undo   (records in ${ctx.records.dir})`);
    });
}

async function setupSshFor(ctx: SetupContext, view: DaemonView, cmd: Command): Promise<void> {
  const route = await sshOver443(view, SSH_PROBE_MS);
  ctx.say(`ssh: ${route.via443 ? 'port 443' : 'port 22'}: ${route.why}`);
  setupSsh(ctx, join(ctx.place.home, '.ssh', 'config'), { proxyCommand: proxyCommand(ctx.place, cmd), via443: route.via443 });
}

/** `proxyctl connect %h %p` as ssh will run it: `proxyctl` when that is this one on the PATH, else node and this script by path; with the control socket when one was named */
function proxyCommand(place: Place, cmd: Command): string {
  const self = realpathSync(process.argv[1]!);
  const onPath = which(place, 'proxyctl');
  const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `"${s.replace(/(["\\$`])/g, '\\$1')}"`).replace(/%/g, '%%');
  const program = onPath && realpathSync(onPath) === self ? 'proxyctl' : `${quote(process.execPath)} ${quote(self)}`;
  const control = cmd.optsWithGlobals<Globals>().control ?? place.env.PROXYD_CONTROL;
  return `${program}${control ? ` --control ${quote(control)}` : ''} connect %h %p`;
}

/** what the exports do not settle: the local CA, DIRECT hosts left out */
function envNotes(view: DaemonView): string[] {
  const notes: string[] = [];
  if (view.ca?.cas.length) notes.push('proxyd answers some origins with its local CA: make your tools trust it (proxyctl ca trust-info)');
  if (view.directOmitted) notes.push(`NO_PROXY names the first ${view.direct.length} DIRECT hosts of the rules; ${view.directOmitted} more reach proxyd, which sends them DIRECT`);
  return notes;
}

function client(cmd: Command): ControlClient {
  return new ControlClient(cmd.optsWithGlobals<Globals>().control);
}
