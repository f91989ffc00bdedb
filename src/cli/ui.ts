// `proxyctl ui [--url]`: the dashboard's link, with the token (read from its file beside the
// control socket) after `#`, where it never reaches a server log or a Referer; the page trades
// it for a cookie and drops it from the address bar. Without --url it also opens the default
// browser, through a small page in a directory only this user may read that sends the browser
// on: the opener's and the browser's command lines (which every local user may read, in ps) hold
// that file's name, never the token.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, win32 } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { Status } from '../control/api.js';
import { ControlClient, Failed } from '../control/client.js';
import { CONTROL_GROUP } from '../control/paths.js';
import { readUiToken, uiTokenPath } from '../control/ui-token.js';

export function uiCommand(): Command {
  return new Command('ui')
    .description("open the dashboard in your browser (its link holds the token that signs you in; the daemon's ui: must be on)")
    .option('--url', 'only print the link (for scripts, or a browser on another machine through ssh -L)')
    .action(async (o: { url?: boolean }, cmd: Command) => {
      const status = await new ControlClient(cmd.optsWithGlobals<{ control?: string }>().control).report('GET', '/status', Status);
      if (!status.ui) throw new Failed(`the dashboard is off: add "ui: 127.0.0.1:9090" to ${status.configFile}, then proxyctl reload`);
      const link = `${status.ui}sign-in#token=${tokenFor(status.control)}`;
      process.stdout.write(`${link}\n`);
      if (o.url) return;
      const opener = openerFor(process.platform);
      const page = writeOpenPage(link);
      // Windows: `start ""` as cmd reads it (an empty title, then the address), not quoted again by Node
      const child = spawn(opener[0]!, [...opener.slice(1), pathToFileURL(page).href], { detached: true, stdio: 'ignore', windowsVerbatimArguments: process.platform === 'win32' });
      child.on('error', (err) => process.stderr.write(`proxyctl: cannot open a browser (${opener[0]}: ${err.message}): open the link above yourself\n`));
      child.unref();
    });
}

function tokenFor(controlPath: string): string {
  const path = uiTokenPath(controlPath);
  try {
    return readUiToken(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw new Failed(`permission denied reading the dashboard's token ${path}: join the group "${CONTROL_GROUP}" (sudo usermod -aG ${CONTROL_GROUP} $USER, then log in again)`);
    if (code === 'ENOENT') throw new Failed(`the dashboard's token ${path} is not there: is this proxyctl on the daemon's machine, as the daemon's user?`);
    throw err;
  }
}

/** the command that opens a URL in the default browser */
function openerFor(platform: NodeJS.Platform): string[] {
  if (platform === 'darwin') return ['open'];
  if (platform === 'win32') return ['cmd', '/c', 'start', '""'];
  return ['xdg-open'];
}

/** A page only this user may read that sends the browser to `link` (as Jupyter opens its own). */
function writeOpenPage(link: string): string {
  const env = process.env;
  const dir = process.platform === 'win32' ? win32.join(env.LOCALAPPDATA ?? win32.join(homedir(), 'AppData', 'Local'), 'proxyd')
    : process.platform === 'darwin' ? join(homedir(), 'Library', 'Application Support', 'proxyd')
      : env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'proxyd') : join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'proxyd');
  const page = join(dir, 'ui-open.html');
  mkdirSync(dirname(page), { recursive: true, mode: 0o700 });
  const attr = link.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
  writeFileSync(page, `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url=${attr}"><title>proxyd</title><a href="${attr}">open proxyd's dashboard</a>\n`, { mode: 0o600 });
  return page;
}
