// `proxyctl service install` and `uninstall`: the files, directories and accounts the service
// needs, handed to the platform's manager; every one recorded in the manifest, and uninstall
// removes those and nothing else.
import { readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { parseConfig, type Config } from '../config/index.js';
import { UserError } from '../user-error.js';
import { ensureAccount, removeAccount } from './accounts.js';
import { checkConfig, daemonFacts, installedFacts, requireRootFor, unreadableByService } from './context.js';
import { sha256, type Owner } from './files.js';
import { SERVICE_ACCOUNT, WINSW_VERSION } from './layout.js';
import { emptyManifest, readManifest, recordDirs, recordFile, writeManifest, type Manifest } from './manifest.js';
import { managerFor, wantsBackground, type DaemonFacts } from './managers.js';
import type { Run } from './run.js';
import { renderDefaultConfig, renderDefinition } from './templates.js';

/** how long a service manager's daemon has to answer after it was (re)started */
const ANSWER_TIMEOUT_MS = 20_000;

export async function install(run: Run, configOption: string | undefined): Promise<void> {
  requireRootFor(run, 'install');
  const { layout, host } = run;
  const linuxSystem = layout.platform === 'linux' && layout.scope === 'system';
  const configFile = configOption ? layout.path.resolve(configOption) : layout.config;
  const m = readManifest(run.disk(layout.manifest)) ?? emptyManifest(layout.platform, layout.scope, configFile);
  m.config = configFile;
  if (run.exists(layout.definition) && !m.files.some((f) => f.path === layout.definition)) {
    throw new UserError(`${layout.definition} is there and was not written by proxyctl service install: move it away first`);
  }
  // a config of the user's is checked and never overwritten; only a missing one is written
  let configText: string | undefined;
  let config: Config;
  if (run.exists(configFile)) config = checkConfig(run, configFile);
  else if (configOption) throw new UserError(`--config ${configOption}: no such file`);
  else {
    configText = renderDefaultConfig(layout);
    config = parseConfig(configText, run.disk(configFile));
  }
  const daemon = daemonFacts(run, configFile, config);
  const definition = renderDefinition({ host, layout, config: configFile, stopTimeoutS: daemon.stopTimeoutS }); // a value it refuses: before any change
  m.background = wantsBackground(run);
  const manager = managerFor(run, m.background);
  run.say(`${run.dryRun ? 'dry run, nothing is changed: would install' : 'installing'} proxyd as ${manager.name}, ${layout.scope} scope, on ${layout.platform}${run.root ? ` under ${run.root}` : ''}`);
  if (linuxSystem && run.live) {
    for (const p of unreadableByService([host.node, host.proxyd, ...(configOption ? [configFile] : [])])) {
      run.say(`warning: the ${SERVICE_ACCOUNT} user may not be able to read ${p} (not readable by others): install Node and proxyd system-wide (install.sh as root uses /usr/local)`);
    }
  }
  if (layout.wrapper && run.live && !run.exists(layout.wrapper)) {
    throw new UserError(`WinSW is not at ${layout.wrapper}: install-scripts/install.ps1 puts it there (WinSW-x64.exe ${WINSW_VERSION}, renamed)`);
  }
  const service: Owner | undefined = linuxSystem ? { user: SERVICE_ACCOUNT, group: SERVICE_ACCOUNT } : undefined;
  const privateMode = layout.scope === 'user' || layout.platform === 'darwin' ? 0o700 : 0o750;
  try {
    ensureAccount(run, m);
    recordDirs(m, run.makeDirs(layout.stateDir, privateMode, service));
    recordDirs(m, run.makeDirs(layout.path.dirname(layout.definition), 0o755));
    if (layout.platform !== 'linux' || m.background) {
      // launchd and WinSW write the daemon's output to files, and so does the background process
      const made = run.makeDirs(layout.logDir, privateMode, service);
      recordDirs(m, made.filter((d) => d !== layout.logDir));
      if (made.includes(layout.logDir) && !m.logDirs.includes(layout.logDir)) m.logDirs.push(layout.logDir);
    }
    // the control socket's directory: others may enter it for the read-only status socket (the control socket is 0660)
    if (m.background) recordDirs(m, run.makeDirs(layout.path.dirname(daemon.control), linuxSystem ? 0o755 : privateMode, service));
    run.write(layout.definition, definition, 0o644);
    recordFile(m, layout.definition, sha256(definition));
    if (configText !== undefined) {
      recordDirs(m, run.makeDirs(layout.path.dirname(configFile), 0o755));
      // it may come to hold passwords (auth, upstreams): the service's account and root only
      run.write(configFile, configText, linuxSystem ? 0o640 : 0o600, linuxSystem ? { group: SERVICE_ACCOUNT } : undefined);
      recordFile(m, configFile, sha256(configText));
    }
    const wantsDirBefore = layout.wantsDir !== undefined && run.exists(layout.wantsDir);
    await manager.activate(daemon);
    if (layout.wantsDir && !wantsDirBefore && run.exists(layout.wantsDir)) recordDirs(m, [layout.wantsDir]);
  } finally {
    if (!run.dryRun) {
      recordDirs(m, run.makeDirs(layout.path.dirname(layout.manifest), 0o755)); // made above, unless something failed first
      writeManifest(run.disk(layout.manifest), m);
    }
  }
  if (run.live && !m.background) await awaitDaemon(run, daemon);
  sayWhatsNext(run, configFile, configText !== undefined, m.background);
}

async function awaitDaemon(run: Run, daemon: DaemonFacts): Promise<void> {
  if (await run.daemonAnswers(daemon.control, ANSWER_TIMEOUT_MS)) return run.say(`proxyd answers on ${daemon.control}`);
  const { layout } = run;
  const logs = layout.platform === 'linux' ? `journalctl ${layout.scope === 'user' ? '--user ' : ''}-u proxyd` : layout.logDir;
  throw new UserError(`the service was started but proxyd does not answer on ${daemon.control} after ${ANSWER_TIMEOUT_MS / 1000} s: see ${logs}`);
}

function sayWhatsNext(run: Run, configFile: string, wroteConfig: boolean, background: boolean): void {
  const { layout } = run;
  run.say(`config ${configFile}${wroteConfig ? ' (from the embedded default)' : ' (yours, kept as it is)'}: edit it, then \`proxyctl reload\``);
  if (layout.platform === 'linux' && layout.scope === 'user' && !background) {
    run.say('a user service starts when you log in; to start it at boot instead: loginctl enable-linger $USER');
  }
}

export async function uninstall(run: Run): Promise<void> {
  requireRootFor(run, 'uninstall');
  const { layout } = run;
  const m = readManifest(run.disk(layout.manifest));
  if (!m) return run.say(`proxyd is not installed as a ${layout.scope} service here (no ${layout.manifest}): nothing to do`);
  run.say(`${run.dryRun ? 'dry run, nothing is changed: would uninstall' : 'uninstalling'} the proxyd ${layout.scope} service on ${layout.platform}${run.root ? ` under ${run.root}` : ''}`);
  const manager = managerFor(run, m.background);
  await manager.deactivate(installedFacts(run, m.config));
  for (const file of [...m.files].reverse()) removeFile(run, file);
  manager.forget();
  removeAccount(run, m);
  for (const dir of m.logDirs) remove(run, dir, () => rmSync(run.disk(dir), { recursive: true, force: true }));
  remove(run, layout.manifest, () => rmSync(run.disk(layout.manifest), { force: true }));
  const deepestFirst = [...m.dirs].sort((a, b) => b.split(/[\\/]/).length - a.split(/[\\/]/).length);
  for (const dir of deepestFirst) {
    if (run.dryRun) run.say(`remove ${dir} (when empty)`);
    else if (run.exists(dir) && readdirSync(run.disk(dir)).length === 0) remove(run, dir, () => rmdirSync(run.disk(dir)));
  }
}

function removeFile(run: Run, file: Manifest['files'][number]): void {
  if (!run.exists(file.path)) return;
  if (file.sha256 !== null && sha256(readFileSync(run.disk(file.path), 'utf8')) !== file.sha256) {
    return run.say(`kept ${file.path}: it changed since install (yours now)`);
  }
  remove(run, file.path, () => rmSync(run.disk(file.path)));
}

function remove(run: Run, path: string, how: () => void): void {
  if (!run.exists(path)) return;
  run.say(`remove ${path}`);
  if (!run.dryRun) how();
}
