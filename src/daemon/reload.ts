// A reload: the new config's state is built and checked first, its moved listeners are bound
// last, and only then does all of it take over, at once. A failure at any step undoes the steps
// before it (new ports closed, new outbounds closed) and the running config stays.
import type { LocalCa } from '../ca/keeper.js';
import { describeChanges } from '../config/diff.js';
import { ConfigError, formatProblem, loadConfig, type Config, type Problem } from '../config/index.js';
import type { Reload } from '../control/api.js';
import type { Engine } from '../engine/engine.js';
import { buildState } from '../engine/state.js';
import type { Logger } from '../log/logger.js';
import { discardOutbounds, loadOutboundKinds, type OutboundDeps } from '../outbound/index.js';
import type { Dashboard } from './dashboard.js';
import type { Listeners, Rebinding } from './listeners.js';

export interface ReloadParts {
  engine: Engine;
  deps: OutboundDeps;
  listeners: Listeners;
  log: Logger;
  /** says so when a config's listeners may take more connections than the open-file limit allows */
  warnFileLimit(config: Config): void;
  /** the CA for intercepted origins, told of each config */
  localCa: LocalCa;
  /** the dashboard (`ui:`), moved like a listener */
  dashboard: Dashboard;
}

/** Puts `next` in force in place of `current` and returns the changes; rejects, having changed nothing, when a step fails. */
export async function applyConfig(current: Config, next: Config, parts: ReloadParts): Promise<string[]> {
  const { engine, deps, listeners, log } = parts;
  await loadOutboundKinds(next.outbounds);
  const changes = describeChanges(current, next);
  parts.warnFileLimit(next);
  const built = buildState(next, deps, engine.state);
  let rebinding: Rebinding;
  let dashboard: Rebinding;
  try {
    rebinding = await listeners.rebind(current.listen, next.listen);
    try {
      dashboard = await parts.dashboard.rebind(current.ui, next.ui);
    } catch (err) {
      rebinding.undo();
      throw err;
    }
  } catch (err) {
    discardOutbounds(built.state.outbounds, engine.state.outbounds, log);
    throw err;
  }
  engine.swap(built.state, built.retired);
  rebinding.commit();
  dashboard.commit();
  await parts.localCa.apply(next);
  log.level = next.log.level;
  log.info({ file: next.file, rules: next.rules.length, changes }, changes.length ? `config reloaded: ${changes.length} change(s)` : 'config reloaded: nothing changed');
  return changes;
}

/**
 * Reads the config file of `current` again and applies it with `apply` (a dry run only says what
 * would change). A config with problems is refused with each at its FILE:LINE:COL; a failure
 * that is not the file's (a port in use) is given at the file's 1:1.
 */
export async function reloadFile(current: Config, dryRun: boolean, apply: (next: Config) => Promise<string[]>, log: Logger): Promise<Reload> {
  const file = current.file;
  let next: Config;
  try {
    next = loadConfig(file === '(embedded default)' ? undefined : file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const errors = err.problems.map(reported);
    if (!dryRun) {
      for (const p of errors) log.error({ file: p.file, line: p.line, col: p.col }, p.text);
      log.error({ errors: errors.length }, 'reload refused: the config has errors; the running config stays');
    }
    return { ok: false, dryRun, file, errors, changes: [] };
  }
  if (dryRun) return { ok: true, dryRun, file, errors: [], changes: describeChanges(current, next) };
  try {
    return { ok: true, dryRun, file, errors: [], changes: await apply(next) };
  } catch (err) {
    const message = (err as Error).message;
    log.error({ reason: message }, 'reload refused; the running config stays');
    return { ok: false, dryRun, file, errors: [reported({ file, line: 1, col: 1, message })], changes: [] };
  }
}

function reported(p: Problem): Reload['errors'][number] {
  return { file: p.file, line: p.line, col: p.col, message: p.message, text: formatProblem(p) };
}
