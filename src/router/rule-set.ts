// Rule-set files: one entry a line with `#` comments, or Clash's YAML `payload:` list.
// Entries are parsed here, with the file position of each, so errors point into the file.
import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { isError, parseSetEntry, type Insert } from './kinds.js';

interface SetEntry {
  insert: Insert;
  /** the entry as written */
  text: string;
  /** `text (file:line)`, for explaining a match */
  detail: string;
}

export interface SourceError {
  file: string;
  line: number;
  col: number;
  message: string;
}

export interface RuleSet {
  name: string;
  file: string;
  entries: SetEntry[];
}

/** Reads and parses a rule-set file; problems are pushed to `errors` with their positions. */
export function loadRuleSet(name: string, file: string, errors: SourceError[]): RuleSet {
  const set: RuleSet = { name, file, entries: [] };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    errors.push({ file, line: 1, col: 1, message: `cannot read rule set "${name}": ${(err as Error).message}` });
    return set;
  }
  const add = (entry: string, line: number, col: number) => {
    const parsed = parseSetEntry(entry);
    if (isError(parsed)) errors.push({ file, line, col, message: parsed.error });
    else set.entries.push({ insert: parsed, text: entry, detail: `${entry} (${file}:${line})` });
  };
  if (/^\s*payload\s*:/m.test(text)) parsePayload(text, file, errors, add);
  else {
    text.split('\n').forEach((raw, i) => {
      const hash = raw.indexOf('#');
      const entry = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
      if (entry) add(entry, i + 1, raw.indexOf(entry) + 1);
    });
  }
  return set;
}

function parsePayload(
  text: string,
  file: string,
  errors: SourceError[],
  add: (entry: string, line: number, col: number) => void,
): void {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  for (const e of doc.errors) {
    const pos = lc.linePos(e.pos[0]);
    errors.push({ file, line: pos.line, col: pos.col, message: e.message.split('\n')[0]! });
  }
  if (doc.errors.length) return;
  const payload = isMap(doc.contents) ? doc.contents.get('payload', true) : undefined;
  if (!isSeq(payload)) {
    errors.push({ file, line: 1, col: 1, message: '`payload` must be a list of entries' });
    return;
  }
  for (const item of payload.items) {
    const at = lc.linePos(isScalar(item) && item.range ? item.range[0] : 0);
    if (!isScalar(item) || typeof item.value !== 'string') {
      errors.push({ file, line: at.line, col: at.col, message: 'a payload entry must be a string' });
      continue;
    }
    add(item.value.trim(), at.line, at.col);
  }
}
