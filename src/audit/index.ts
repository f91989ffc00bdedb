// The settings audit: how the tools of the user who runs proxyctl reach the network, judged
// against the daemon they should go through (its listeners, mirrors, rules and local CA). It runs
// in proxyctl, as that user, not in the daemon: the settings are the user's.
import { homedir, userInfo } from 'node:os';
import { RouteExplanation } from '../control/api.js';
import type { ControlClient } from '../control/client.js';
import { viewDaemon } from '../setup/daemon-view.js';
import type { Place } from '../setup/tools.js';
import { caFindings } from './ca-trust.js';
import { gatherSettings, type UserSettings } from './gather.js';
import { goFindings, npmFindings, pipFindings } from './module-checks.js';
import { envFindings, gitFindings, sshFinding } from './network-checks.js';
import { probeListening, type AuditContext } from './proxy-setting.js';
import type { SettingsAudit } from './report.js';

export { SettingsAudit } from './report.js';

/** Gathers the settings of the user (this process's, unless told) and judges them against the daemon that `client` reaches. */
export async function auditSettings(client: ControlClient, place: Place = { env: process.env, home: homedir() }): Promise<SettingsAudit> {
  const view = await viewDaemon(client, place.env);
  const routes = new Map<string, Promise<{ route: string; rule: string }>>();
  const ctx: AuditContext = {
    view,
    listening: probeListening,
    routeOf: (host) => {
      if (!routes.has(host)) routes.set(host, client.report('GET', `/route?target=${encodeURIComponent(`${host}:443`)}`, RouteExplanation));
      return routes.get(host)!;
    },
  };
  return judgeSettings(ctx, gatherSettings(place), place.env.USER ?? userInfo().username);
}

/** The findings for settings already gathered (tests hand in their own context). */
async function judgeSettings(ctx: AuditContext, s: UserSettings, user: string): Promise<SettingsAudit> {
  const findings = [
    ...(await envFindings(ctx, s)),
    ...(s.git ? await gitFindings(ctx, s, s.git) : []),
    ...(s.ssh ? [sshFinding(ctx, s.ssh)] : []),
    ...(s.go ? await goFindings(ctx, s, s.go) : []),
    ...(s.npm ? await npmFindings(ctx, s, s.npm) : []),
    ...(s.pip ? await pipFindings(ctx, s, s.pip) : []),
    ...caFindings(ctx, s),
  ];
  return { user, findings, skipped: s.skipped };
}
