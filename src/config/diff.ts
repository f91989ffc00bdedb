// What a reload would change, one line per change, for `proxyctl reload [--dry-run]`. Names only:
// never a password or a credential.
import { formatTarget } from '../address/index.js';
import { canonical } from '../outbound/index.js';
import { LISTENER_NAMES, type Config } from './schema.js';

export function describeChanges(before: Config, after: Config): string[] {
  const changes: string[] = [];
  if (before.file !== after.file) changes.push(`config file: ${before.file} → ${after.file}`);
  for (const name of LISTENER_NAMES) {
    const [a, b] = [before.listen[name], after.listen[name]].map((t) => (t ? formatTarget(t) : 'off'));
    if (a !== b) changes.push(`listen.${name}: ${a} → ${b}`);
  }
  const oldDefs = new Map(before.outbounds.map((d) => [d.name, d]));
  const newDefs = new Map(after.outbounds.map((d) => [d.name, d]));
  for (const [name, def] of newDefs) {
    const old = oldDefs.get(name);
    if (!old) changes.push(`${def.type} ${name}: added`);
    else if (canonical(old) !== canonical(def)) changes.push(`${def.type} ${name}: changed`);
  }
  for (const [name, def] of oldDefs) if (!newDefs.has(name)) changes.push(`${def.type} ${name}: removed`);
  const oldRules = new Set(before.rules);
  const newRules = new Set(after.rules);
  const added = after.rules.filter((r) => !oldRules.has(r));
  const removed = before.rules.filter((r) => !newRules.has(r));
  if (added.length || removed.length || before.rules.join('\n') !== after.rules.join('\n')) {
    const shown = (list: string[], sign: string) => list.slice(0, 5).map((r) => `  ${sign} ${r}`).concat(list.length > 5 ? [`  ${sign} … ${list.length - 5} more`] : []);
    changes.push(`rules: ${before.rules.length} → ${after.rules.length}${added.length || removed.length ? '' : ' (reordered)'}`, ...shown(added, '+'), ...shown(removed, '-'));
  }
  for (const name of new Set([...Object.keys(before.ruleSetDigests), ...Object.keys(after.ruleSetDigests)])) {
    const [a, b] = [before.ruleSetDigests[name], after.ruleSetDigests[name]];
    if (a !== b) changes.push(`rule-set ${name}: ${a === undefined ? 'added' : b === undefined ? 'removed' : 'changed'}`);
  }
  const hosts = (c: Config) => JSON.stringify([...c.hosts].sort());
  if (hosts(before) !== hosts(after)) changes.push(`hosts: ${before.hosts.size} → ${after.hosts.size} entries`);
  const users = (c: Config) => JSON.stringify(c.users.map((u) => [u.username, u.password]).sort());
  if (users(before) !== users(after)) changes.push(`auth: ${before.users.length} → ${after.users.length} users`);
  const allow = (c: Config) => JSON.stringify(c.allow);
  if (allow(before) !== allow(after)) changes.push(`allow: ${before.allow.length} → ${after.allow.length} entries`);
  for (const key of Object.keys(after.limits) as Array<keyof Config['limits']>) {
    if (before.limits[key] !== after.limits[key]) changes.push(`limits.${limitName(key)}: ${before.limits[key]} → ${after.limits[key]}${key.endsWith('Ms') ? ' ms' : ''}`);
  }
  if (before.cache.dir !== after.cache.dir) changes.push(`cache.dir: ${before.cache.dir} → ${after.cache.dir}`);
  if (before.cache.maxBytes !== after.cache.maxBytes) changes.push(`cache.max-size: ${before.cache.maxBytes} → ${after.cache.maxBytes} bytes (takes effect after a restart)`);
  if (before.ca.dir !== after.ca.dir) changes.push(`ca.dir: ${before.ca.dir} → ${after.ca.dir}`);
  if (before.log.level !== after.log.level) changes.push(`log.level: ${before.log.level} → ${after.log.level}`);
  const ui = (c: Config) => (c.ui ? formatTarget(c.ui) : 'off');
  if (ui(before) !== ui(after)) changes.push(`ui: ${ui(before)} → ${ui(after)}`);
  if (before.control !== after.control) changes.push(`control: ${before.control} → ${after.control} (takes a restart; until then it stays ${before.control})`);
  return changes;
}

/** the config's name of a limit: handshakeTimeoutMs → handshake-timeout */
function limitName(key: string): string {
  return key.replace(/Ms$/, '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
