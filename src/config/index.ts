// Loading a config: YAML → validated Config, or every problem as FILE:LINE:COL.
//
//   file text ─► Source (YAML + positions) ─► validate (keys, values, rule sets, rules) ─► Config
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, Source } from './source.js';
import { validate } from './validate.js';
import type { Config } from './schema.js';

export { ConfigError, formatProblem, type Problem } from './source.js';
export { DEFAULT_CACHE, DEFAULT_LIMITS, LISTENER_NAMES, type CacheSettings, type Config, type Limits, type ListenerName, type LogLevel, type User } from './schema.js';

/** rules/default.yaml of the installed package */
export const EMBEDDED_CONFIG = fileURLToPath(new URL('../../rules/default.yaml', import.meta.url));

/** Parses config text; relative rule-set paths are taken from `baseDir`. Throws ConfigError. */
export function parseConfig(text: string, file: string, baseDir = dirname(resolve(file))): Config {
  const source = new Source(file, text);
  const config = validate(source, baseDir);
  if (source.problems.length || !config) throw new ConfigError(source.problems);
  return config;
}

/** Reads a config file (default: the embedded one). Throws ConfigError. */
export function loadConfig(file?: string): Config {
  const path = file ?? EMBEDDED_CONFIG;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([{ file: path, line: 1, col: 1, message: `cannot read config: ${(err as Error).message}` }]);
  }
  const config = parseConfig(text, path, file ? dirname(resolve(path)) : join(dirname(EMBEDDED_CONFIG), '..'));
  if (!file) config.file = '(embedded default)';
  return config;
}
