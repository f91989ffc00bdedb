// How each tool's user settings are read and written, through the tool itself: git config --global,
// go env -w, npm config set, pip config --user set. Each tool names the one file it writes, and can
// be told to write another (a scratch copy, for --dry-run's diff).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const TOOL_NAMES = ['git', 'go', 'npm', 'pip'] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

/** the user whose settings these are: their environment and home */
export interface Place {
  env: NodeJS.ProcessEnv;
  home: string;
}

export interface RunResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

const TOOL_TIMEOUT_MS = 30_000;

/** Runs a tool with the user's environment (and `extra`); never through a shell. */
export function runTool(place: Place, argv: readonly string[], extra: NodeJS.ProcessEnv = {}): RunResult {
  const r = spawnSync(argv[0]!, argv.slice(1), {
    env: { ...place.env, HOME: place.home, ...extra },
    cwd: place.home,
    encoding: 'utf8',
    timeout: TOOL_TIMEOUT_MS,
    stdio: ['ignore', 'pipe', 'pipe'],
    windowsHide: true,
  });
  const stderr = r.error ? r.error.message : r.stderr;
  return { ok: r.status === 0, stdout: r.stdout ?? '', stderr: stderr ?? '' };
}

/** the program's path on the user's PATH, if it is there */
export function which(place: Place, program: string): string | undefined {
  const exts = process.platform === 'win32' ? (place.env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';') : [''];
  for (const dir of (place.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    for (const ext of exts) if (existsSync(join(dir, program + ext))) return join(dir, program + ext);
  }
  return undefined;
}

export interface Tool {
  name: ToolName;
  program: string;
  /** the file that `set` writes */
  file(place: Place): string;
  /** the environment that makes the tool write `file` instead (the scratch copy of a dry run) */
  redirect(file: string): NodeJS.ProcessEnv;
  /** the value the user's file holds for a key; undefined when it holds none */
  get(place: Place, key: string, extra?: NodeJS.ProcessEnv): string | undefined;
  /** the command that sets a key, or removes it (null) */
  set(key: string, value: string | null): string[];
}

const git: Tool = {
  name: 'git',
  program: 'git',
  // git writes ~/.gitconfig, unless only the XDG file is there
  file: ({ env, home }) => {
    if (env.GIT_CONFIG_GLOBAL) return env.GIT_CONFIG_GLOBAL;
    const dotfile = join(home, '.gitconfig');
    const xdg = join(env.XDG_CONFIG_HOME || join(home, '.config'), 'git', 'config');
    return !existsSync(dotfile) && existsSync(xdg) ? xdg : dotfile;
  },
  redirect: (file) => ({ GIT_CONFIG_GLOBAL: file }),
  get: (place, key, extra) => {
    const r = runTool(place, ['git', 'config', '--global', '--get', key], extra);
    return r.ok ? r.stdout.replace(/\n$/, '') : undefined;
  },
  set: (key, value) => (value === null ? ['git', 'config', '--global', '--unset-all', key] : ['git', 'config', '--global', key, value]),
};

const go: Tool = {
  name: 'go',
  program: 'go',
  file: (place) => runTool(place, ['go', 'env', 'GOENV']).stdout.trim(),
  redirect: (file) => ({ GOENV: file }),
  get: (place, key, extra) => keyValueLines(readText(extra?.GOENV ?? go.file(place)), '=').get(key),
  set: (key, value) => (value === null ? ['go', 'env', '-u', key] : ['go', 'env', '-w', `${key}=${value}`]),
};

const npm: Tool = {
  name: 'npm',
  program: 'npm',
  file: (place) => place.env.npm_config_userconfig ?? place.env.NPM_CONFIG_USERCONFIG ?? join(place.home, '.npmrc'),
  redirect: (file) => ({ npm_config_userconfig: file }),
  get: (place, key, extra) => keyValueLines(readText(extra?.npm_config_userconfig ?? npm.file(place)), '=').get(key),
  set: (key, value) => (value === null ? ['npm', 'config', 'delete', key, '--location=user'] : ['npm', 'config', 'set', `${key}=${value}`, '--location=user']),
};

const pip: Tool = {
  name: 'pip',
  program: 'pip',
  // the last of the user files that `pip config --user debug` lists is the one it writes
  file: (place) => {
    const r = runTool(place, ['pip', 'config', '--user', 'debug']);
    const user = r.stdout.split(/^user:\n/m)[1] ?? '';
    const files = [...user.matchAll(/^ {2}(\S.*?), exists: /gm)].map((m) => m[1]!);
    return files.at(-1) ?? join(place.env.XDG_CONFIG_HOME || join(place.home, '.config'), 'pip', 'pip.conf');
  },
  redirect: (file) => ({ XDG_CONFIG_HOME: join(file, '..', '..') }),
  get: (place, key, extra) => {
    const r = runTool(place, ['pip', 'config', '--user', 'get', key], extra);
    return r.ok ? r.stdout.replace(/\n$/, '') : undefined;
  },
  set: (key, value) => (value === null ? ['pip', 'config', '--user', 'unset', key] : ['pip', 'config', '--user', 'set', key, value]),
};

export const TOOLS: Readonly<Record<ToolName, Tool>> = { git, go, npm, pip };

export function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** `KEY=VALUE` lines (go's env file, the top of an .npmrc), before any [section] */
function keyValueLines(text: string, sep: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith('[')) break;
    const at = line.indexOf(sep);
    if (at > 0 && !/^\s*[#;]/.test(line)) values.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
  }
  return values;
}
