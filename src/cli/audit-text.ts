// The settings audit as proxyctl doctor prints it after the daemon's part: one line per setting,
// the fix under it when something is wrong.
import type { AuditStatus, SettingsAudit } from '../audit/report.js';
import type { Style } from './format.js';

export function auditText(audit: SettingsAudit, style: Style): string {
  const count = (status: AuditStatus) => audit.findings.filter((f) => f.status === status).length;
  const mark: Record<AuditStatus, string> = { ok: style.green('ok'), missing: style.yellow('missing'), conflicting: style.red('conflicting') };
  const lines = [style.bold(`SETTINGS of ${audit.user}`) + style.dim(`  ${count('ok')} ok, ${count('missing')} missing, ${count('conflicting')} conflicting`)];
  const areaWidth = Math.max(...audit.findings.map((f) => f.area.length), 3);
  for (const f of audit.findings) {
    const value = f.value === null ? style.dim('(unset)') : f.value === '' ? '""' : f.value;
    const pad = ' '.repeat('conflicting'.length - f.status.length);
    lines.push(`  ${mark[f.status]}${pad}  ${f.area.padEnd(areaWidth)}  ${f.setting} = ${value}`);
    lines.push(`  ${' '.repeat('conflicting'.length + areaWidth + 4)}${style.dim(f.why)}${f.source ? style.dim(` [${f.source}]`) : ''}`);
    if (f.fix) lines.push(`  ${' '.repeat('conflicting'.length + areaWidth + 4)}fix: ${f.fix}`);
  }
  for (const s of audit.skipped) lines.push(style.dim(`  not audited: ${s}`));
  return lines.join('\n');
}
