// Everything a session needs that a config decides, as one immutable object. The daemon builds
// it from a config and the engine swaps it whole on reload; a session keeps the state it
// started with to its end. Outbounds whose definition did not change are carried over as the
// same objects (their pools and health go on); the others are retired.
import { AllowList } from '../access/allow-list.js';
import { Credentials } from '../access/credentials.js';
import type { Config, Limits } from '../config/index.js';
import { buildOutbounds, type Outbound, type OutboundDeps, type Responder } from '../outbound/index.js';
import { IdleWatch } from '../relay/idle-watch.js';
import { Resolver } from '../resolver.js';
import type { Router } from '../router/index.js';

export interface EngineState {
  readonly router: Router;
  readonly outbounds: ReadonlyMap<string, Outbound>;
  /** each outbound's definition, so that a reload carries over the ones that did not change */
  readonly definitions: ReadonlyMap<string, string>;
  /** origin-form path prefixes on the HTTP listener and the responders that answer them, longest first */
  readonly endpoints: ReadonlyArray<readonly [string, Responder]>;
  readonly resolver: Resolver;
  readonly limits: Limits;
  readonly credentials: Credentials;
  readonly allow: AllowList;
  /** idle timeouts of the relays started under this state */
  readonly idle: IdleWatch;
  /** the hosts whose CONNECTs to 443 a responder intercepts, and which responder */
  readonly intercept: ReadonlyMap<string, Responder>;
}

interface BuiltState {
  state: EngineState;
  /** outbounds of the previous state that this one does not keep */
  retired: Outbound[];
}

export function buildState(config: Config, deps: OutboundDeps, previous?: EngineState): BuiltState {
  const { outbounds, definitions, retired } = buildOutbounds(config.outbounds, deps, previous);
  const endpoints: Array<readonly [string, Responder]> = [];
  for (const o of outbounds.values()) if (o.kind === 'responder') for (const p of o.paths) endpoints.push([p, o]);
  endpoints.sort((a, b) => b[0].length - a[0].length);
  const idle = previous && previous.limits.idleTimeoutMs === config.limits.idleTimeoutMs ? previous.idle : new IdleWatch(config.limits.idleTimeoutMs);
  const intercepted = new Map<string, Responder>();
  for (const o of outbounds.values()) if (o.kind === 'responder') for (const host of o.intercepts ?? []) intercepted.set(host, o);
  return {
    state: {
      router: config.router,
      outbounds,
      definitions,
      endpoints,
      resolver: new Resolver(config.hosts),
      limits: config.limits,
      credentials: new Credentials(config.users),
      allow: new AllowList(config.allow),
      idle,
      intercept: intercepted,
    },
    retired,
  };
}

/** The responder whose endpoint a path is at: `/go` answers `/go`, `/go/…` and `/go?…`, not `/gopher`. */
export function endpointFor(state: EngineState, path: string): Responder | undefined {
  for (const [prefix, responder] of state.endpoints) {
    if (path.startsWith(prefix) && (path.length === prefix.length || '/?'.includes(path[prefix.length]!) || prefix.endsWith('/'))) return responder;
  }
  return undefined;
}
