// proxyctl env: the proxy variables that point tools at the daemon's listeners, in the syntax of
// one shell, ready for `eval "$(proxyctl env)"`; --unset clears them.
import { basename } from 'node:path';
import { noProxyEntries, proxyUrl, type DaemonView } from './daemon-view.js';

export const SHELLS = ['sh', 'fish', 'powershell', 'cmd'] as const;
export type Shell = (typeof SHELLS)[number];

/** every name that tools read, upper and lower case (curl reads only http_proxy in lower case) */
const PROXY_VARS = ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'NO_PROXY'] as const;

/** The variables and their values, upper case first. */
export function proxyEnv(view: DaemonView): Array<[string, string]> {
  const values: Record<(typeof PROXY_VARS)[number], string> = {
    HTTP_PROXY: proxyUrl(view, 'http'),
    HTTPS_PROXY: proxyUrl(view, 'http'),
    ALL_PROXY: proxyUrl(view, 'socks5h'),
    NO_PROXY: noProxyEntries(view).join(','),
  };
  return PROXY_VARS.flatMap((name) => [[name, values[name]], [name.toLowerCase(), values[name]]] as Array<[string, string]>);
}

/** the shell proxyctl was started from: fish by $SHELL, PowerShell on Windows, else sh */
export function defaultShell(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): Shell {
  if (platform === 'win32') return 'powershell';
  return basename(env.SHELL ?? '') === 'fish' ? 'fish' : 'sh';
}

export function envText(vars: Array<[string, string]>, shell: Shell): string {
  // Windows's variables ignore case: the upper-case name is the only one
  const names = shell === 'powershell' || shell === 'cmd' ? vars.filter(([n]) => n === n.toUpperCase()) : vars;
  return names.map(([name, value]) => setLine(shell, name, value)).join('\n') + '\n';
}

export function unsetText(shell: Shell): string {
  const all = PROXY_VARS.flatMap((n) => [n, n.toLowerCase()]);
  switch (shell) {
    case 'sh':
      return `unset ${all.join(' ')}\n`;
    case 'fish':
      return `set -e ${all.join(' ')}\n`;
    case 'powershell':
      return PROXY_VARS.map((n) => `Remove-Item Env:${n} -ErrorAction SilentlyContinue`).join('\n') + '\n';
    case 'cmd':
      return PROXY_VARS.map((n) => `set "${n}="`).join('\n') + '\n';
  }
}

function setLine(shell: Shell, name: string, value: string): string {
  switch (shell) {
    case 'sh':
      return `export ${name}='${value.replace(/'/g, `'\\''`)}'`;
    case 'fish':
      return `set -gx ${name} '${value.replace(/[\\']/g, '\\$&')}'`;
    case 'powershell':
      return `$env:${name} = '${value.replace(/'/g, "''")}'`;
    case 'cmd':
      // inside set "…" only % still expands
      return `set "${name}=${value.replace(/%/g, '%%')}"`;
  }
}
