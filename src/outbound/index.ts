// The route targets a config defines, by name: the built-ins, then the config's own proxies and
// groups, each built after the outbounds it uses.
import type { Logger } from '../log/logger.js';
import { outboundKind } from './kinds.js';
import type { BuildContext, Dialer, Outbound, OutboundDef, OutboundDeps } from './types.js';

export { outboundKind, registerOutboundKind, typesOf, type OutboundKind } from './kinds.js';
export { isHealthChecked } from './types.js';
export type {
  BuildContext, DefinitionReader, DialContext, Dialed, Dialer, HealthChecked, HealthState, Outbound, OutboundDef, OutboundDeps, Reference, Responder,
} from './types.js';

export const BUILT_IN_OUTBOUNDS: readonly OutboundDef[] = [
  { name: 'DIRECT', type: 'direct' },
  { name: 'REJECT', type: 'reject' },
];

/** Loads the code of the kinds `defs` use that load it on demand (mirrors): before buildOutbounds. */
export async function loadOutboundKinds(defs: readonly OutboundDef[]): Promise<void> {
  const kinds = new Set(defs.map((d) => outboundKind(d.type)));
  await Promise.all([...kinds].map((k) => k?.load?.()));
}

export interface BuiltOutbounds {
  outbounds: Map<string, Outbound>;
  /** outbounds of `previous` that the new set does not keep: close them once no session uses them */
  retired: Outbound[];
}

/**
 * Builds every outbound of `defs` (after the built-ins), each after the ones it uses (the config
 * has refused unknown names and loops; loadOutboundKinds has loaded their kinds). With `previous`
 * (a reload), an outbound whose definition did not change, nor that of anything it uses, is
 * carried over as the same object, with its pools and health; one that changed is built anew and
 * may take over state from the old one. When a build throws (a bug), what was built new is closed.
 */
export function buildOutbounds(defs: readonly OutboundDef[], deps: OutboundDeps, previous?: ReadonlyMap<string, Outbound>): BuiltOutbounds {
  const byName = new Map([...BUILT_IN_OUTBOUNDS, ...defs].map((d) => [d.name, d]));
  const outbounds = new Map<string, Outbound>();
  const keys = new Map<string, string>();
  const build = (def: OutboundDef): Outbound => {
    const done = outbounds.get(def.name);
    if (done) return done;
    const kind = outboundKind(def.type);
    if (!kind) throw new Error(`outbound "${def.name}": unknown type "${def.type}"`);
    const used = (kind.uses?.(def) ?? []).map((r) => {
      const d = byName.get(r.name);
      if (!d) throw new Error(`outbound "${def.name}" uses "${r.name}", which is not defined`);
      build(d);
      return keys.get(r.name)!;
    });
    const key = `${canonical(def)} ${used.join(' ')}`;
    keys.set(def.name, key);
    const same = previous?.get(def.name);
    if (same && definitions.get(same) === key) {
      outbounds.set(def.name, same);
      return same;
    }
    const ctx: BuildContext = { ...deps, dialer: (name) => dialerOf(outbounds.get(name)!), previous: same };
    const built = kind.build(def, ctx);
    definitions.set(built, key);
    outbounds.set(def.name, built);
    return built;
  };
  try {
    for (const def of byName.values()) build(def);
  } catch (err) {
    discardOutbounds(outbounds, previous, deps.log);
    throw err;
  }
  const kept = new Set(outbounds.values());
  const retired = previous ? [...previous.values()].filter((o) => !kept.has(o)) : [];
  return { outbounds, retired };
}

/** Closes the outbounds of `built` that are not carried over from `previous`: a reload refused after building them. */
export function discardOutbounds(built: ReadonlyMap<string, Outbound>, previous: ReadonlyMap<string, Outbound> | undefined, log: Logger): void {
  const kept = new Set(previous?.values());
  for (const o of built.values()) {
    if (!kept.has(o)) void o.close().catch((err: Error) => log.error({ outbound: o.name, err: err.message }, 'closing an outbound failed'));
  }
}

/** A referenced outbound; the config has refused references to anything but a dialer. */
function dialerOf(o: Outbound): Dialer {
  if (o.kind !== 'dialer') throw new Error(`outbound "${o.name}" is used as a dialer, but it is a ${o.kind} (the config check should have refused this)`);
  return o;
}

/** The definition each built outbound came from (and those of what it uses), to tell on reload whether it changed. */
const definitions = new WeakMap<Outbound, string>();

/** The definition as canonical JSON (keys sorted at every level), so key order in the YAML does not matter. */
export function canonical(def: OutboundDef): string {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sorted)
      : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]))
        : v;
  return JSON.stringify(sorted(def));
}
