// Each test file's daemons started with `control: auto` (child processes of proxyd) get a control
// socket of their own: $XDG_RUNTIME_DIR is a fresh directory per test file.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

process.env.XDG_RUNTIME_DIR = mkdtempSync(join(tmpdir(), 'proxyd-run-'));
delete process.env.PROXYD_CONTROL;
