// Walks the YAML tree section by section, recording every problem at its position, and builds
// the Config when there are none.
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { isIP } from 'node:net';
import { isMap, isScalar, type Node } from 'yaml';
import { isLoopback, normalizeHost, parseCidr, parseHostPort } from '../address/index.js';
import { BUILT_IN_OUTBOUNDS } from '../outbound/index.js';
import { compileRules, loadRuleSet, RuleCompileError, type RuleSet } from '../router/index.js';
import { DEFAULT_CA, DEFAULT_CACHE, DEFAULT_LIMITS, LISTENER_NAMES, type Config, type Limits, type ListenerName, type LogLevel } from './schema.js';
import type { Source } from './source.js';
import { entries, hint, list, string } from './nodes.js';
import { checkReferences, readSection, type ReadDefinition } from './outbounds.js';
import { parseCount, parseDuration, parseSize } from './units.js';

type Draft = Omit<Config, 'router' | 'file' | 'ruleSetDigests'> & { ruleSets: Map<string, RuleSet>; ruleNodes: Node[]; definitions: ReadDefinition[] };
type Section = (src: Source, node: Node, draft: Draft, baseDir: string) => void;

const LOG_LEVELS: LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

const SECTIONS: Record<string, Section> = {
  listen(src, node, d) {
    for (const [key, value] of entries(src, node, 'listen', [...LISTENER_NAMES])) {
      if (isScalar(value) && (value.value === null || value.value === false || value.value === 'off')) {
        d.listen[key as ListenerName] = null; // that listener is off
        continue;
      }
      const text = string(src, value, `listen.${key}`);
      const addr = text === undefined ? undefined : parseHostPort(text, undefined, true); // port 0: any free port
      if (text !== undefined && (!addr || (!isIP(addr.host) && addr.host !== 'localhost'))) {
        src.error(value, `listen.${key}: expected ADDRESS:PORT such as 127.0.0.1:1080 or [::1]:1080 (got "${text}")`);
      } else if (addr) d.listen[key as ListenerName] = addr;
    }
  },
  control(src, node, d, baseDir) {
    const text = isScalar(node) && node.value === false ? 'off' : string(src, node, 'control');
    if (text === undefined) return;
    if (text === 'auto' || text === 'off' || text.startsWith('\\\\.\\pipe\\')) d.control = text;
    else if (!text) src.error(node, 'control: expected auto, off, or the control socket path');
    else d.control = resolve(baseDir, text);
  },
  ui(src, node, d) {
    if (isScalar(node) && (node.value === null || node.value === false || node.value === 'off')) return void (d.ui = null);
    const text = string(src, node, 'ui');
    const addr = text === undefined ? undefined : parseHostPort(text, undefined, true); // port 0: any free port
    if (text === undefined) return;
    if (!addr || (!isIP(addr.host) && addr.host !== 'localhost')) src.error(node, `ui: expected off or a loopback ADDRESS:PORT such as 127.0.0.1:9090 (got "${text}")`);
    else if (!isLoopback(addr.host)) src.error(node, `ui: ${addr.host} is not a loopback address: the dashboard is served on loopback only, like the control socket (from another machine, forward it: ssh -L 9090:127.0.0.1:9090 HOST)`);
    else d.ui = addr;
  },
  hosts(src, node, d) {
    for (const [name, value, keyNode] of entries(src, node, 'hosts')) {
      const host = normalizeHost(name);
      const address = string(src, value, `hosts.${name}`);
      if (!host || isIP(host)) src.error(keyNode, `hosts: "${name}" is not a host name`);
      else if (address !== undefined && !isIP(address)) src.error(value, `hosts.${name}: "${address}" is not an IP address`);
      else if (address !== undefined) d.hosts.set(host, address);
    }
  },
  auth(src, node, d) {
    for (const item of list(src, node, 'auth')) {
      const fields = new Map(entries(src, item, 'auth entry', ['username', 'password']).map(([k, v]) => [k, v]));
      const username = fields.has('username') ? string(src, fields.get('username')!, 'auth.username') : undefined;
      const password = fields.has('password') ? string(src, fields.get('password')!, 'auth.password') : undefined;
      if (!username || password === undefined) src.error(item, 'auth: each entry needs username and password');
      else if (d.users.some((u) => u.username === username)) src.error(fields.get('username'), `auth: duplicate username "${username}"`);
      else d.users.push({ username, password });
    }
  },
  allow(src, node, d) {
    for (const item of list(src, node, 'allow')) {
      const text = string(src, item, 'allow');
      const cidr = text === undefined ? undefined : parseCidr(text);
      if (text !== undefined && !cidr) src.error(item, `allow: "${text}" is not an IP address or CIDR`);
      else if (cidr) d.allow.push(cidr);
    }
  },
  proxies(src, node, d) {
    d.definitions.push(...readSection(src, node, 'proxies'));
  },
  groups(src, node, d) {
    d.definitions.push(...readSection(src, node, 'groups'));
  },
  mirrors(src, node, d) {
    const read = readSection(src, node, 'mirrors');
    const at = new Map<string, string>();
    for (const r of read) {
      const path = r.ok ? (r.def as { path?: string }).path : undefined;
      if (!path) continue;
      const other = at.get(path);
      if (other) r.reader.problem('path', `path: ${path} is already the endpoint of mirror ${other}`);
      else at.set(path, r.def.name);
    }
    d.definitions.push(...read);
  },
  cache(src, node, d, baseDir) {
    for (const [key, value] of entries(src, node, 'cache', ['dir', 'max-size'])) {
      if (key === 'dir') {
        const dir = string(src, value, 'cache.dir');
        if (dir) d.cache.dir = dir === 'auto' ? 'auto' : resolve(baseDir, dir);
        continue;
      }
      const size = parseSize(isScalar(value) ? value.value : undefined);
      if (typeof size === 'string') src.error(value, `cache.max-size: ${size}`);
      else if (size < 1024 * 1024) src.error(value, 'cache.max-size: at least 1MiB');
      else d.cache.maxBytes = size;
    }
  },
  ca(src, node, d, baseDir) {
    for (const [, value] of entries(src, node, 'ca', ['dir'])) {
      const dir = string(src, value, 'ca.dir');
      if (dir === '') src.error(value, 'ca.dir: expected auto or a directory');
      else if (dir) d.ca.dir = dir === 'auto' ? 'auto' : resolve(baseDir, dir);
    }
  },
  'rule-sets'(src, node, d, baseDir) {
    for (const [name, value] of entries(src, node, 'rule-sets')) {
      const path = string(src, value, `rule-sets.${name}`);
      if (path === undefined) continue;
      const errors: Parameters<typeof loadRuleSet>[2] = [];
      d.ruleSets.set(name, loadRuleSet(name, resolve(baseDir, path), errors));
      for (const e of errors) {
        if (e.message.startsWith('cannot read')) src.error(value, `rule-sets.${name}: ${e.message}`);
        else src.problems.push(e);
      }
    }
  },
  rules(src, node, d) {
    for (const item of list(src, node, 'rules')) {
      const text = string(src, item, 'rules');
      if (text !== undefined) {
        d.rules.push(text);
        d.ruleNodes.push(item);
      }
    }
  },
  log(src, node, d) {
    for (const [key, value] of entries(src, node, 'log', ['level'])) {
      const level = string(src, value, `log.${key}`);
      if (level !== undefined && !LOG_LEVELS.includes(level as LogLevel)) {
        src.error(value, `log.level: "${level}" is not one of ${LOG_LEVELS.join(', ')}`);
      } else if (level !== undefined) d.log.level = level as LogLevel;
    }
  },
  limits(src, node, d) {
    const fields: Record<string, [keyof Limits, typeof parseDuration]> = {
      'handshake-timeout': ['handshakeTimeoutMs', parseDuration],
      'header-max-bytes': ['headerMaxBytes', parseSize],
      'idle-timeout': ['idleTimeoutMs', parseDuration],
      'connect-timeout': ['connectTimeoutMs', parseDuration],
      'max-connections': ['maxConnections', parseCount],
      'max-connections-per-client': ['maxConnectionsPerClient', parseCount],
      'drain-timeout': ['drainTimeoutMs', parseDuration],
    };
    for (const [key, value] of entries(src, node, 'limits', Object.keys(fields))) {
      const [field, parse] = fields[key]!;
      const parsed = parse(isScalar(value) ? value.value : undefined);
      if (typeof parsed === 'string') src.error(value, `limits.${key}: ${parsed}`);
      else if (parsed <= 0) src.error(value, `limits.${key}: must be more than 0`);
      else d.limits[field] = parsed;
    }
  },
};

export function validate(src: Source, baseDir: string): Config | undefined {
  const d: Draft = {
    listen: { socks: { host: '127.0.0.1', port: 1080 }, http: { host: '127.0.0.1', port: 8080 } },
    control: 'auto',
    ui: null,
    hosts: new Map(),
    users: [],
    outbounds: [],
    definitions: [],
    allow: [],
    rules: [],
    ruleNodes: [],
    ruleSets: new Map(),
    log: { level: 'info' },
    limits: { ...DEFAULT_LIMITS },
    cache: { ...DEFAULT_CACHE },
    ca: { ...DEFAULT_CA },
  };
  if (src.problems.length) return undefined; // YAML syntax errors: nothing more to say reliably
  const root = src.doc.contents;
  if (root !== null && !isMap(root)) {
    src.error(root, 'a config is a YAML mapping (listen:, rules:, …)');
    return undefined;
  }
  const seen = new Map<string, Node>();
  const keyNodes = new Map<string, Node>();
  for (const [key, value, keyNode] of root ? entries(src, root, 'config') : []) {
    seen.set(key, value);
    keyNodes.set(key, keyNode);
    if (!SECTIONS[key]) src.error(keyNode, `unknown key "${key}"${hint(key, Object.keys(SECTIONS))}`);
  }
  // rule sets before rules, so RULE-SET lines can be checked against them
  for (const key of Object.keys(SECTIONS)) if (seen.has(key)) SECTIONS[key]!(src, seen.get(key)!, d, baseDir);
  checkOpenProxy(src, seen.get('listen'), d);
  checkSomethingServed(src, keyNodes.get('listen'), d);
  if (d.ui && d.control === 'off') src.error(seen.get('ui'), 'ui: the dashboard needs the control socket (control: off): the token that opens it is kept beside the socket, and its actions are the socket\'s');
  d.outbounds = checkReferences(d.definitions);
  const router = compile(src, d);
  if (src.problems.length || !router) return undefined;
  const { ruleNodes: _n, ruleSets, definitions: _d, ...config } = d;
  // what each rule set holds, so a reload can tell that a rule-set file changed
  const ruleSetDigests = Object.fromEntries([...ruleSets].map(([name, set]) => [name, createHash('sha256').update(set.entries.map((e) => e.detail).join('\n')).digest('hex')]));
  return { ...config, router, ruleSetDigests, file: src.file };
}

function compile(src: Source, d: Draft) {
  try {
    const targets = new Set([...BUILT_IN_OUTBOUNDS.map((o) => o.name), ...d.definitions.map((r) => r.def.name)]);
    return compileRules(d.rules, { ruleSets: d.ruleSets, targets });
  } catch (err) {
    if (!(err instanceof RuleCompileError)) throw err;
    for (const e of err.errors) src.error(d.ruleNodes[e.rule], e.message, e.column);
    return undefined;
  }
}

/** proxyd is never an open proxy by accident: a non-loopback bind needs auth or an allow list. */
function checkOpenProxy(src: Source, node: Node | undefined, d: Draft): void {
  if (d.users.length || d.allow.length) return;
  for (const key of LISTENER_NAMES) {
    const addr = d.listen[key];
    if (addr && !isLoopback(addr.host) && addr.host !== 'localhost') {
      const at = isMap(node) ? (node.get(key, true) as Node) : node;
      src.error(at, `listen.${key}: ${addr.host} is not a loopback address; set "auth" (users) or "allow" (client CIDRs) so proxyd is not an open proxy`);
    }
  }
}

/** Both listeners `off` would start a daemon that serves nothing and exits at once: refused. */
function checkSomethingServed(src: Source, keyNode: Node | undefined, d: Draft): void {
  if (!keyNode || LISTENER_NAMES.some((key) => d.listen[key] !== null)) return;
  src.error(keyNode, 'listen: both listeners are off, so nothing would be served; give socks or http an ADDRESS:PORT such as 127.0.0.1:1080');
}
