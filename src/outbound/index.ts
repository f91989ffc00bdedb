// The route targets a config defines, by name: the built-ins, then the config's own.
import type { Outbound, OutboundDef, OutboundDeps } from './types.js';
import { outboundKind } from './kinds.js';

export { registerOutboundKind, type OutboundKind } from './kinds.js';
export type { DialContext, Dialed, Dialer, Outbound, OutboundDef, OutboundDeps, Responder } from './types.js';

export const BUILT_IN_OUTBOUNDS: readonly OutboundDef[] = [
  { name: 'DIRECT', type: 'direct' },
  { name: 'REJECT', type: 'reject' },
];

export interface BuiltOutbounds {
  outbounds: Map<string, Outbound>;
  /** outbounds of `previous` that the new set does not keep: close them once no session uses them */
  retired: Outbound[];
}

/**
 * Builds every outbound of `defs` (after the built-ins). With `previous` (a reload), an outbound
 * whose definition did not change is carried over as the same object, with its pools and health.
 */
export function buildOutbounds(defs: readonly OutboundDef[], deps: OutboundDeps, previous?: ReadonlyMap<string, Outbound>): BuiltOutbounds {
  const outbounds = new Map<string, Outbound>();
  for (const def of [...BUILT_IN_OUTBOUNDS, ...defs]) {
    const same = previous?.get(def.name);
    if (same && definitions.get(same) === key(def)) {
      outbounds.set(def.name, same);
      continue;
    }
    const kind = outboundKind(def.type);
    if (!kind) throw new Error(`outbound "${def.name}": unknown type "${def.type}"`);
    const built = kind.build(def, deps);
    definitions.set(built, key(def));
    outbounds.set(def.name, built);
  }
  const kept = new Set(outbounds.values());
  const retired = previous ? [...previous.values()].filter((o) => !kept.has(o)) : [];
  return { outbounds, retired };
}

/** The definition each built outbound came from, to tell on reload whether it changed. */
const definitions = new WeakMap<Outbound, string>();

/** The definition as canonical JSON (keys sorted at every level), so key order in the YAML does not matter. */
function key(def: OutboundDef): string {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sorted)
      : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]))
        : v;
  return JSON.stringify(sorted(def));
}
