// The service definition and the default config, filled from service/ and rules/default.yaml of
// the package. Every value is escaped for the format it lands in.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EMBEDDED_CONFIG } from '../config/index.js';
import { Failed } from '../control/client.js';
import { PACKAGE_DIR, type Host, type Layout } from './layout.js';

/** what the service runs and how long it may take to stop */
export interface Filling {
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
  if (/["'\\\x00-\x1f]/.test(path)) throw new Failed(`systemd cannot run a program at ${JSON.stringify(path)} (quotes, backslashes and control characters are refused): install Node at a plainer path`);
  return `"${path.replace(/%/g, '%%')}"`;
}

function xmlText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function renderDefinition(f: Filling): string {
  const { host, layout } = f;
  const values: Record<string, string> =
    layout.platform === 'linux'
      ? {
          EXEC_START: [systemdExecutable(host.node), systemdWord(host.proxyd), '--config', systemdWord(f.config)].join(' '),
          PROTECT_HOME: protectHome([host.node, host.proxyd, f.config]),
          STOP_TIMEOUT_S: String(f.stopTimeoutS),
        }
      : {
          NODE: xmlText(host.node),
          PROXYD: xmlText(host.proxyd),
          CONFIG: xmlText(f.config),
          STATE_DIR: xmlText(layout.stateDir),
          LOG_DIR: xmlText(layout.logDir),
          LOG_FILE: xmlText(layout.logFile),
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
