// GET /clients: what proxyctl env, setup and the settings audit tell tools about this daemon
// beyond its status (listeners, health): whether it wants credentials, where its mirrors answer,
// and the internal hosts the rules send DIRECT.
import type { Config } from '../config/index.js';
import type { MirrorDef } from '../mirror/definition.js';
import { directHosts } from '../router/direct-hosts.js';
import type { ClientSettings } from './api.js';

/** NO_PROXY lists longer than this trouble shells and tools; the rest reach proxyd, which sends them DIRECT */
const DIRECT_LIMIT = 64;

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
