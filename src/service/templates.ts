// The service definition and the default config, filled from service/ and rules/default.yaml of
// the package. Every value is escaped for the format it lands in, and one that would not stay a
// single value there (a line break starting a new directive) is refused, naming it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EMBEDDED_CONFIG } from '../config/index.js';
import { UserError } from '../user-error.js';
import { PACKAGE_DIR, type Host, type Layout, type Platform } from './layout.js';

/** what the service runs and how long it may take to stop */
interface Filling {
  host: Host;
  layout: Layout;
  /** the config file the service runs with */
  config: string;
  /** above the config's drain-timeout: the manager's SIGKILL must not cut a drain short */
  stopTimeoutS: number;
}

/** ProtectHome=yes hides /home, /root and /run/user; read-only when node, proxyd or the config live there (nvm, ~/.local) */
function protectHome(paths: string[]): string {
  return paths.some((p) => /^\/(home|root|run\/user)(\/|$)/.test(p)) ? 'read-only' : 'yes';
}

/** one systemd argument: quoted, with `\`, `"`, `%` (specifiers) and `$` (variables) escaped */
function systemdWord(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`).replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`;
}

/** the program systemd runs: no variables are expanded in it, and quotes or backslashes are refused outright */
function systemdExecutable(path: string): string {
  if (/["'\\]/.test(path)) throw new UserError(`systemd cannot run a program at ${JSON.stringify(path)} (quotes and backslashes are refused): install Node at a plainer path`);
  return `"${path.replace(/%/g, '%%')}"`;
}

function xmlText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** control characters: a line break ends a systemd directive; none belongs in a path */
const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/;
/** WinSW expands %VAR% in every value; a quote, or a backslash before the closing one, ends an argument */
const WINSW_UNSAFE = /["%]|\\$/;
const FORMAT: Record<Platform, string> = { linux: 'systemd unit', darwin: 'launchd plist', windows: 'WinSW service XML' };

/** `value` as it is, or a UserError naming it when it would not stay one value in the platform's definition. */
function plainValue(what: string, value: string, platform: Platform): string {
  const bad = CONTROL.test(value) ? 'a control character' : platform === 'windows' && WINSW_UNSAFE.test(value) ? 'a quote, a % or a trailing backslash' : undefined;
  if (bad) throw new UserError(`${what} ${shown(value)} holds ${bad}: it cannot go into the ${FORMAT[platform]}; use a plainer path`);
  return value;
}

const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** a value in quotes with its control characters escaped (`\n`, `\u001b`) */
function shown(value: string): string {
  const escape = (c: string) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  return `"${value.replace(new RegExp(CONTROL, 'g'), escape)}"`;
}

export function renderDefinition(f: Filling): string {
  const { host, layout } = f;
  const plain = (what: string, value: string) => plainValue(what, value, layout.platform);
  const node = plain('the node binary', host.node);
  const proxyd = plain('the proxyd script', host.proxyd);
  const config = plain('the config file', f.config);
  const values: Record<string, string> =
    layout.platform === 'linux'
      ? {
          EXEC_START: [systemdExecutable(node), systemdWord(proxyd), '--config', systemdWord(config)].join(' '),
          PROTECT_HOME: protectHome([node, proxyd, config]),
          STOP_TIMEOUT_S: String(f.stopTimeoutS),
        }
      : {
          NODE: xmlText(node),
          PROXYD: xmlText(proxyd),
          CONFIG: xmlText(config),
          STATE_DIR: xmlText(plain('the state directory', layout.stateDir)),
          LOG_DIR: xmlText(plain('the log directory', layout.logDir)),
          LOG_FILE: xmlText(plain('the log file', layout.logFile)),
          STOP_TIMEOUT_S: String(f.stopTimeoutS),
        };
  return fill(readFileSync(join(PACKAGE_DIR, 'service', layout.template), 'utf8'), values, layout.template);
}

function fill(template: string, values: Record<string, string>, name: string): string {
  const text = template.replace(/@([A-Z_]+)@/g, (whole, key: string) => values[key] ?? whole);
  const left = text.match(/@[A-Z_]+@/);
  if (left) throw new Error(`service/${name}: no value for ${left[0]}`);
  return text;
}

/** rules/default.yaml with a header saying where it came from, and the service's `control:` line */
export function renderDefaultConfig(layout: Layout): string {
  const embedded = readFileSync(EMBEDDED_CONFIG, 'utf8');
  const body = embedded.replace(/^(#.*\n)+/, '');
  if (!/^control: auto$/m.test(body)) throw new Error(`${EMBEDDED_CONFIG} has no "control: auto" line to set`);
  const control = layout.controlLine === 'auto' ? 'auto' : `${layout.controlLine}${layout.platform === 'linux' && layout.scope === 'system' ? '   # mode 0660, group proxyd: members may use proxyctl' : ''}`;
  return [
    '# proxyd config for the service, written by `proxyctl service install` from the embedded default.',
    '# Edit it, then `proxyctl reload` (only `control:` takes a restart: `proxyctl service stop`, then `start`).',
    '# `proxyctl service uninstall` keeps this file once you have changed it.',
    body.replace(/^control: auto$/m, `control: ${control}`),
  ].join('\n');
}
