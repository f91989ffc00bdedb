// Runs `proxyctl setup` and `--undo`: each tool's settings written through the tool, ~/.ssh/config
// edited directly (atomically, with a backup), every file recorded before its first change. A dry
// run makes the same changes to a scratch copy of each file and prints the commands and the diff.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { writeAtomic } from '../service/files.js';
import { UserError } from '../user-error.js';
import { unifiedDiff } from './diff.js';
import type { Setting } from './plans.js';
import { hashOf, missingDirs, removeEmptyDirs, restoreExactly, snapshot, type Records, type SetupRecord, type SetupTarget } from './records.js';
import { withBlock, withoutBlock, type SshPlan } from './ssh-config.js';
import { readText, runTool, TOOLS, type Place, type Tool } from './tools.js';

export interface SetupContext {
  place: Place;
  records: Records;
  dryRun: boolean;
  /** one line of output */
  say(line: string): void;
}

export function setupTool(ctx: SetupContext, tool: Tool, settings: readonly Setting[]): void {
  const file = tool.file(ctx.place);
  ctx.say(`${tool.name}: ${file}`);
  if (ctx.dryRun) return dryRun(ctx, tool, file, settings);
  const record = startRecord(ctx, tool.name, file);
  for (const s of settings) {
    if (!record.values.some((v) => v.key === s.key)) record.values.push({ key: s.key, before: tool.get(ctx.place, s.key) ?? null });
  }
  ctx.records.write(record); // before the first change: a failure half way can still be undone
  for (const s of settings) {
    const argv = tool.set(s.key, s.value);
    const was = record.values.find((v) => v.key === s.key)!.before;
    ctx.say(`  ${shown(argv)}   # ${s.why}${was === null ? '' : `; was ${masked(was) || '""'}`}`);
    const r = runTool(ctx.place, argv);
    if (!r.ok) throw new UserError(`${shown(argv)} failed: ${r.stderr.trim().split('\n')[0] ?? ''}`);
  }
  finishRecord(ctx, record);
}

export function setupSsh(ctx: SetupContext, file: string, plan: SshPlan): void {
  const before = readText(file);
  const after = withBlock(before, plan);
  ctx.say(`ssh: ${file}`);
  if (ctx.dryRun) return void ctx.say(unifiedDiff(before, after, file).replace(/\n$/, '') || '  (no change)');
  const record = startRecord(ctx, 'ssh', file);
  const backup = `${file}.proxyd-backup`;
  if (existsSync(file) && !record.created.includes(backup)) {
    copyFileSync(file, backup);
    record.created.push(backup);
  }
  ctx.records.write(record);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeAtomic(file, after, snapshot(file).mode ?? 0o600);
  ctx.say(`  wrote the block for github.com${plan.via443 ? ' (ssh.github.com, port 443)' : ''}${existsSync(backup) ? `; the file before: ${backup}` : ''}`);
  finishRecord(ctx, record);
}

/** Undoes the targets latest first (a directory one made may hold another's file), then removes the directories they made that are empty now. */
export function undoAll(ctx: SetupContext, targets: readonly SetupTarget[]): void {
  const dirs = targets.flatMap((t) => ctx.records.read(t)?.dirs ?? []);
  for (const t of [...targets].reverse()) undo(ctx, t);
  if (!ctx.dryRun) removeEmptyDirs([...new Set(dirs)].sort((a, b) => a.length - b.length));
}

/** Restores what setup changed for one target, byte for byte when the file has not changed since. */
function undo(ctx: SetupContext, target: SetupTarget): void {
  const record = ctx.records.read(target);
  if (!record) return void ctx.say(`${target}: nothing to undo`);
  const before = record.before === null ? null : Buffer.from(record.before, 'base64').toString('utf8');
  if (ctx.dryRun) {
    ctx.say(`${target}: ${record.file}: ${before === null ? 'remove it (it was not there before setup)' : 'put back as it was before setup'}`);
    return void ctx.say(unifiedDiff(readText(record.file), before ?? '', record.file).replace(/\n$/, ''));
  }
  if (restoreExactly(record)) {
    ctx.say(`${target}: ${record.file} ${before === null ? 'removed (it was not there before setup)' : 'restored byte for byte'}`);
  } else {
    ctx.say(`${target}: ${record.file} changed since setup: only setup's own settings are put back`);
    if (target === 'ssh') writeAtomic(record.file, withoutBlock(readText(record.file)), snapshot(record.file).mode ?? 0o600);
    else for (const v of record.values) putBack(ctx, TOOLS[target], v);
  }
  ctx.records.remove(target);
}

function putBack(ctx: SetupContext, tool: Tool, v: SetupRecord['values'][number]): void {
  const argv = tool.set(v.key, v.before);
  ctx.say(`  ${shown(argv)}`);
  const r = runTool(ctx.place, argv);
  // removing a key that is gone already is no failure
  if (!r.ok && v.before !== null) throw new UserError(`${shown(argv)} failed: ${r.stderr.trim().split('\n')[0] ?? ''}`);
}

/** the record of an earlier setup of this file (its "before" stays the first one), or a new one */
function startRecord(ctx: SetupContext, target: SetupTarget, file: string): SetupRecord {
  const earlier = ctx.records.read(target);
  if (earlier && earlier.file !== file) {
    throw new UserError(`${target}: an earlier setup changed ${earlier.file}, and ${target} now writes ${file}: proxyctl setup ${target} --undo first`);
  }
  if (earlier) return earlier;
  const now = snapshot(file);
  return {
    version: 1, target, file, before: now.bytes?.toString('base64') ?? null, mode: now.mode,
    after: hashOf(now.bytes), dirs: missingDirs(file), created: [], values: [],
  };
}

function finishRecord(ctx: SetupContext, record: SetupRecord): void {
  record.after = hashOf(snapshot(record.file).bytes);
  ctx.records.write(record);
}

/** the same commands, on a scratch copy of the file */
function dryRun(ctx: SetupContext, tool: Tool, file: string, settings: readonly Setting[]): void {
  const scratch = mkdtempSync(join(tmpdir(), 'proxyctl-setup-'));
  try {
    // pip writes $XDG_CONFIG_HOME/pip/pip.conf: the copy keeps that shape
    const copy = tool.name === 'pip' ? join(scratch, 'pip', 'pip.conf') : join(scratch, basename(file));
    mkdirSync(dirname(copy), { recursive: true });
    if (existsSync(file)) copyFileSync(file, copy);
    const redirect = tool.redirect(copy);
    for (const s of settings) {
      const argv = tool.set(s.key, s.value);
      const was = tool.get(ctx.place, s.key);
      ctx.say(`  ${shown(argv)}   # ${s.why}${was === undefined ? '' : `; was ${masked(was) || '""'}`}`);
      const r = runTool(ctx.place, argv, redirect);
      if (!r.ok) throw new UserError(`${shown(argv)} failed: ${r.stderr.trim().split('\n')[0] ?? ''}`);
    }
    ctx.say(masked(unifiedDiff(readText(file), readText(copy), file)).replace(/\n$/, '') || '  (no change)');
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** a command as it would be typed (POSIX quoting), with any password in it masked */
function shown(argv: readonly string[]): string {
  return masked(argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' '));
}

/** `scheme://user:***@host`: a password never reaches the output */
export function masked(text: string): string {
  return text.replace(/(\w+:\/\/[^:/@\s]+:)[^@\s/]+@/g, '$1***@');
}
