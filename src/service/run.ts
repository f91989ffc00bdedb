// One `proxyctl service` run: what it prints, and every change it makes, in one place so that
// --dry-run shows exactly what a real run does (files with their contents, commands as typed).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ControlClient } from '../control/client.js';
import { UserError } from '../user-error.js';
import { makeDirs, onDisk, writeAtomic, type Owner } from './files.js';
import type { Host, Layout } from './layout.js';

interface RunOptions {
  dryRun: boolean;
  /** write every file under this directory instead of / (like DESTDIR); nothing is started */
  root?: string;
  out: (text: string) => void;
}

interface CommandResult {
  ok: boolean;
  output: string;
}

export class Run {
  /** directories a dry run has said it would make: they count as there for the rest of the run */
  readonly #planned = new Set<string>();

  constructor(readonly host: Host, readonly layout: Layout, readonly options: RunOptions) {}

  get dryRun(): boolean {
    return this.options.dryRun;
  }

  get root(): string | undefined {
    return this.options.root;
  }

  /** may things be started, stopped and asked here: a real run on this machine, not under --root */
  get live(): boolean {
    return this.host.local && !this.root && !this.dryRun;
  }

  say(text: string): void {
    this.options.out(`${text}\n`);
  }

  /** a path of the target as it is on this disk */
  disk(path: string): string {
    return onDisk(path, this.root);
  }

  exists(path: string): boolean {
    return this.#planned.has(path) || existsSync(this.disk(path));
  }

  write(path: string, content: string, mode: number, owner?: Owner): void {
    const modeText = mode.toString(8).padStart(4, '0');
    const ownerText = owner ? ` ${owner.user ?? 'root'}:${owner.group ?? 'root'}` : '';
    if (this.dryRun) {
      this.say(`write ${path} (mode ${modeText}${ownerText}):`);
      this.options.out(`${content.replace(/\n$/, '').replace(/^/gm, '    ')}\n`);
      return;
    }
    writeAtomic(this.disk(path), content, mode, this.root ? undefined : owner);
    this.say(`wrote ${path} (mode ${modeText}${this.root ? '' : ownerText})`);
  }

  /** Makes a directory and its missing parents; returns the target paths of those it made, outermost first. */
  makeDirs(path: string, mode: number, owner?: Owner): string[] {
    const missing: string[] = [];
    for (let d = path; !this.exists(d); d = this.layout.path.dirname(d)) {
      missing.unshift(d);
      if (this.layout.path.dirname(d) === d) break;
    }
    if (!missing.length) return [];
    if (this.dryRun) {
      this.say(`mkdir ${path} (mode ${mode.toString(8).padStart(4, '0')}${owner ? ` ${owner.user ?? 'root'}:${owner.group ?? 'root'}` : ''})`);
      for (const d of missing) this.#planned.add(d);
      return [];
    }
    makeDirs(this.disk(path), mode, this.root ? undefined : owner);
    return missing;
  }

  /**
   * Runs a command that changes something, printing it as typed (only printing it on a dry run).
   * `mayFail` says why a failure is fine (not loaded, already gone); otherwise a failure throws.
   */
  change(argv: string[], mayFail?: string): void {
    this.say(`$ ${shown(argv, this.layout.platform)}`);
    if (this.dryRun) return;
    const result = this.exec(argv);
    if (result.output) this.options.out(result.output.replace(/^(?=.)/gm, '  ').replace(/\n?$/, '\n'));
    if (result.ok) return;
    if (mayFail === undefined) throw new UserError(`${argv[0]} failed: ${shown(argv, this.layout.platform)}`);
    this.say(`  (${mayFail})`);
  }

  /** Runs a command that only asks (is it running?); also on a dry run, never for another OS. */
  ask(argv: string[]): CommandResult | undefined {
    return this.host.local && !this.root ? this.exec(argv) : undefined;
  }

  private exec(argv: string[]): CommandResult {
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.error) return { ok: false, output: `${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? `${argv[0]}: not found` : r.error.message}\n` };
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
  }

  /** Waits (bounded) until the daemon answers on its control socket; false when it does not. */
  async daemonAnswers(control: string, timeoutMs: number, gone: () => boolean = () => false): Promise<boolean> {
    const client = new ControlClient(control);
    const until = Date.now() + timeoutMs;
    for (;;) {
      try {
        await client.send('GET', '/status');
        return true;
      } catch {
        if (gone() || Date.now() > until) return false;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}

/** a command line as one would type it: words with spaces or quotes quoted */
function shown(argv: string[], platform: Host['platform']): string {
  const safe = platform === 'windows' ? /^[\w@%+=:,./\\-]+$/ : /^[\w@%+=:,./-]+$/;
  return argv.map((a) => (safe.test(a) ? a : platform === 'windows' ? `"${a}"` : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
