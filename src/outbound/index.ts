// The route targets a config defines, by name. Built-ins now; proxies, groups and mirrors join here.
import type { Config } from '../config/index.js';
import type { Resolver } from '../resolver.js';
import { DirectDialer } from './direct.js';
import { RejectDialer } from './reject.js';
import type { Outbound } from './types.js';

export type { DialContext, Dialer, Outbound } from './types.js';

export function buildOutbounds(config: Config, resolver: Resolver): Map<string, Outbound> {
  const list: Outbound[] = [new DirectDialer(resolver, config.limits.connectTimeoutMs), new RejectDialer()];
  return new Map(list.map((o) => [o.name, o]));
}
