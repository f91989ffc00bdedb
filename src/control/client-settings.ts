// GET /clients: what proxyctl env, setup and the settings audit tell tools about this daemon
// beyond its status (listeners, health): whether it wants credentials, where its mirrors answer,
// and the internal hosts the rules send DIRECT.
import { z } from 'zod';
import type { Config } from '../config/index.js';
import type { MirrorDef } from '../mirror/definition.js';
import { DIRECT_HOST_KINDS, directHosts } from '../router/direct-hosts.js';

/** NO_PROXY lists longer than this trouble shells and tools; the rest reach proxyd, which sends them DIRECT */
const DIRECT_LIMIT = 64;

export const ClientMirror = z.object({
  name: z.string(),
  /** goproxy | sumdb | npm | pypi | generic */
  kind: z.string(),
  /** its endpoint on the HTTP listener */
  path: z.string(),
  origins: z.array(z.string()),
  intercept: z.boolean(),
  /** the checksum database's key (goproxy, sumdb), or off */
  sumdbKey: z.string(),
});
export type ClientMirror = z.infer<typeof ClientMirror>;

export const ClientSettings = z.object({
  /** both listeners require a user name and password */
  auth: z.boolean(),
  mirrors: z.array(ClientMirror),
  direct: z.array(z.object({ value: z.string(), kind: z.enum(DIRECT_HOST_KINDS), rule: z.string() })),
  /** DIRECT names and networks left out of `direct` (past its limit) */
  directOmitted: z.number().int().nonnegative(),
});
export type ClientSettings = z.infer<typeof ClientSettings>;

export function clientSettings(config: Config): ClientSettings {
  const { hosts, omitted } = directHosts(config.router.rules(), DIRECT_LIMIT);
  return {
    auth: config.users.length > 0,
    mirrors: config.outbounds.filter(isMirror).map((m) => ({
      name: m.name, kind: m.type, path: m.path, origins: m.origins, intercept: m.intercept, sumdbKey: m.sumdbKey,
    })),
    direct: hosts,
    directOmitted: omitted,
  };
}

function isMirror(def: Config['outbounds'][number]): def is MirrorDef {
  return typeof def.path === 'string' && Array.isArray(def.origins) && Array.isArray(def.upstreams);
}
