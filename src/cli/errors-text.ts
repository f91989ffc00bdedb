// `proxyctl errors`: the last failed connections and requests by class, each class with its
// latest reason and what to do (the dashboard shows the same).
import type { RecentErrors } from '../control/api.js';
import { duration } from '../durations.js';
import { adviceFor } from './advice.js';
import { table, type Style } from './format.js';

export function errorsText(r: RecentErrors, style: Style, now = Date.now()): string {
  if (!r.errors.length) return style.dim('no failures since proxyd started');
  const byClass = new Map<string, RecentErrors['errors']>();
  for (const e of r.errors) byClass.set(e.class, [...(byClass.get(e.class) ?? []), e]);
  const ago = (at: string) => `${duration((now - Date.parse(at)) / 1000)} ago`;
  const parts = [style.bold(`LAST ${r.errors.length} FAILURES BY CLASS`)];
  for (const [cls, list] of byClass) {
    const last = list[0]!;
    parts.push(`${style.red(cls)} ${list.length}, latest ${ago(last.at)}: ${last.route} ${last.target}: ${last.reason}`, `  what to do: ${adviceFor(cls, last.hop)}`);
  }
  const rows = r.errors.map((e) => [ago(e.at), e.class, e.route, e.target, e.client, e.reason]);
  return [...parts, '', table(['WHEN', 'CLASS', 'ROUTE', 'TARGET', 'CLIENT', 'REASON'], rows, new Set(), style)].join('\n');
}
