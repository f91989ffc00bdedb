// Reads the settings the audit judges, as each tool itself sees them for this user: the proxy
// variables, `git config`, `ssh -G github.com`, `go env -json`, `npm config list --json`,
// `pip config list`. A tool that is not installed is left out, and said so.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runTool, which, type Place } from '../setup/tools.js';

export interface GitValue {
  key: string;
  value: string;
  /** the file it comes from */
  origin: string;
}

interface SshView {
  proxyCommand?: string;
  proxyJump?: string;
  hostname: string;
  port: number;
  file: string;
}

export interface UserSettings {
  env: NodeJS.ProcessEnv;
  git?: GitValue[];
  ssh?: SshView;
  go?: Record<string, string>;
  npm?: Record<string, unknown>;
  /** `section.key` → value, `:env:.key` for PIP_ variables */
  pip?: Map<string, string>;
  skipped: string[];
}

/** git's proxy settings and core.sshCommand, from every file git reads outside a repository */
const GIT_KEYS = '^(http\\..*proxy|https\\.proxy|core\\.sshcommand)$';

export function gatherSettings(place: Place): UserSettings {
  const settings: UserSettings = { env: place.env, skipped: [] };
  const has = (program: string) => {
    if (which(place, program)) return true;
    settings.skipped.push(`${program}: not installed`);
    return false;
  };
  if (has('git')) settings.git = gitValues(place);
  if (has('ssh')) settings.ssh = sshView(place);
  if (has('go')) settings.go = json(runTool(place, ['go', 'env', '-json']).stdout) as Record<string, string> | undefined;
  if (has('npm')) settings.npm = json(runTool(place, ['npm', 'config', 'list', '--json']).stdout) as Record<string, unknown> | undefined;
  if (has('pip')) settings.pip = pipValues(runTool(place, ['pip', 'config', 'list']).stdout);
  return settings;
}

function gitValues(place: Place): GitValue[] {
  // -z: key and value apart by a newline, entries by NUL (values may hold anything)
  const r = runTool(place, ['git', 'config', '-z', '--show-origin', '--get-regexp', GIT_KEYS]);
  const fields = r.stdout.split('\0');
  const values: GitValue[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const [key, ...value] = fields[i + 1]!.split('\n');
    values.push({ key: key!, value: value.join('\n'), origin: fields[i]!.replace(/^file:/, '') });
  }
  return values;
}

/** what ssh makes of `ssh github.com` with the user's ~/.ssh/config */
function sshView(place: Place): SshView {
  const file = join(place.home, '.ssh', 'config');
  const r = runTool(place, ['ssh', '-G', '-F', existsSync(file) ? file : '/dev/null', 'github.com']);
  const option = (name: string) => r.stdout.match(new RegExp(`^${name} (.*)$`, 'm'))?.[1];
  const proxyCommand = option('proxycommand');
  const proxyJump = option('proxyjump');
  return {
    ...(proxyCommand && proxyCommand !== 'none' && { proxyCommand }),
    ...(proxyJump && proxyJump !== 'none' && { proxyJump }),
    hostname: option('hostname') ?? 'github.com',
    port: Number(option('port') ?? 22),
    file,
  };
}

/** `global.index-url='…'` lines */
function pipValues(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const m of text.matchAll(/^([^=\n]+)='(.*)'$/gm)) values.set(m[1]!, m[2]!);
  return values;
}

function json(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
