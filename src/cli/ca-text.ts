// How proxyctl shows the local CA: `ca show`, and `ca trust-info`, the exact setting per tool and OS.
import { posix, win32 } from 'node:path';
import type { CaReport } from '../control/api.js';
import { linuxStore } from '../ca/system-trust.js';
import type { Platform } from '../service/layout.js';
import type { Style } from './format.js';

export function caShowText(r: CaReport, style: Style): string {
  if (!r.cas.length) return style.dim(`no CA in use (${r.dir}): no intercepted origin is configured`);
  const lines = [style.bold(`LOCAL CA  ${r.cas.length} in use, newest first; tools trust ${r.bundle}`)];
  for (const ca of r.cas) {
    lines.push('', `${style.bold(ca.subject)}${ca.mustTrust ? `  ${style.yellow('new: tools that trusted the older CA must trust this one too (proxyctl ca trust-info)')}` : ''}`);
    lines.push(`  may sign     ${ca.names.join(', ')} (not their subdomains, no IP address)`);
    lines.push(`  signs now    ${ca.serves.join(', ') || '-'}`);
    lines.push(`  valid        ${ca.notBefore.slice(0, 10)} to ${ca.notAfter.slice(0, 10)}`);
    lines.push(`  SHA-256      ${ca.fingerprint}`);
    lines.push(`  certificate  ${ca.path}`);
  }
  return lines.join('\n');
}

interface TrustPlace {
  platform: Platform;
  env: NodeJS.ProcessEnv;
  home: string;
  /** may this user read the path */
  readable(path: string): boolean;
  /** the daemon's control socket, when `sudo proxyctl` must be told it */
  control?: string;
}

export function trustInfoText(r: CaReport, p: TrustPlace, style: Style): string {
  const path = p.platform === 'windows' ? win32 : posix;
  const data = userDataDir(p);
  const own = p.readable(r.bundle) && p.readable(r.certsDir);
  const caFile = own ? r.bundle : path.join(data, 'certs', 'proxyd-ca.pem');
  const certDir = own ? r.certsDir : path.join(data, 'certs');
  const bundle = path.join(data, 'ca-bundle.pem');
  const set = (name: string, value: string) => (p.platform === 'windows' ? `setx ${name} "${value}"` : `export ${name}=${value}`);
  const row = (tool: string, setting: string, why: string) => `  ${tool.padEnd(14)}${setting}\n  ${' '.repeat(14)}${style.dim(why)}`;

  const lines = [style.bold(`proxyd's local CA: ${r.cas.length} certificate(s) in use (proxyctl ca show)`)];
  if (own) lines.push(`  CA file     ${caFile}`, style.dim('              every CA in use; proxyd rewrites it when it makes a new one'));
  else lines.push(`  CA file     ${caFile}`, `              write it: proxyctl ca export --out ${caFile}`, style.dim(`              (the daemon's own copy, ${r.bundle}, is not readable to you)`));
  lines.push(`  bundle      ${bundle}`, `              write it: proxyctl ca export --combined --out ${bundle}`,
    style.dim('              the system\'s roots and proxyd\'s CA, for settings that replace a tool\'s roots;'),
    style.dim('              write it again when proxyd makes a new CA (proxyctl status says so)'));

  lines.push('', style.bold('PER TOOL'));
  if (p.platform === 'linux') {
    lines.push(row('Go', set('SSL_CERT_DIR', `/etc/ssl/certs:${certDir}`), 'adds: Go reads every certificate file in each directory, after its default bundle (SSL_CERT_FILE would replace that bundle)'));
  } else {
    lines.push(row('Go', 'proxyctl ca trust --system (below)', `Go uses the ${p.platform === 'darwin' ? 'System keychain' : 'Windows certificate store'} here and reads neither SSL_CERT_FILE nor SSL_CERT_DIR`));
  }
  lines.push(
    row('Node.js', set('NODE_EXTRA_CA_CERTS', caFile), 'adds to Node\'s own roots; npm, npx and yarn run on Node and take it too'),
    row('npm', `npm config set cafile ${bundle}`, 'replaces npm\'s roots: the combined bundle (or leave cafile unset and use NODE_EXTRA_CA_CERTS)'),
    row('pip', `${set('PIP_CERT', bundle)}   or   pip config set global.cert ${bundle}`, 'replaces pip\'s bundle (certifi): the combined bundle'),
    row('git', `${set('GIT_SSL_CAINFO', bundle)}   or   git config --global http.sslCAInfo ${bundle}`, 'replaces git\'s roots: the combined bundle'),
    row('curl', set('CURL_CA_BUNDLE', bundle), 'replaces curl\'s roots: the combined bundle'),
  );

  const sudo = p.platform === 'windows' ? '' : 'sudo ';
  const proxyctl = `${sudo}proxyctl${p.control ? ` --control ${p.control}` : ''}`;
  lines.push('', style.bold('SYSTEM STORE') + style.dim('  (every program that reads it; only when you run it)'),
    `  this system   ${proxyctl} ca trust --system   (undo: ${proxyctl} ca untrust --system)`, style.dim('  by hand:'));
  const debian = linuxStore('debian');
  const fedora = linuxStore('fedora');
  for (const ca of r.cas) {
    lines.push(`  Debian/Ubuntu sudo mkdir -p ${debian.dir} && sudo cp ${ca.path} ${debian.file(ca.fingerprint)} && sudo update-ca-certificates`);
    lines.push(`  Fedora/RHEL   sudo cp ${ca.path} ${fedora.file(ca.fingerprint)} && sudo update-ca-trust extract`);
    lines.push(`  macOS         sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${ca.path}`);
    lines.push(`  Windows       certutil -addstore Root ${ca.path}   (elevated)`);
  }
  return lines.join('\n');
}

/** where proxyctl writes the user's copies: Linux $XDG_DATA_HOME/proxyd, macOS ~/Library/Application Support/proxyd, Windows %LOCALAPPDATA%\proxyd */
function userDataDir(p: { platform: Platform; env: NodeJS.ProcessEnv; home: string }): string {
  if (p.platform === 'windows') return win32.join(p.env.LOCALAPPDATA ?? win32.join(p.home, 'AppData', 'Local'), 'proxyd');
  if (p.platform === 'darwin') return posix.join(p.home, 'Library', 'Application Support', 'proxyd');
  return posix.join(p.env.XDG_DATA_HOME || posix.join(p.home, '.local', 'share'), 'proxyd');
}
