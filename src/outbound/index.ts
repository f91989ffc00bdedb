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

/** The outbounds of one config by name, and the definition each was built from (to tell on reload whether it changed). */
interface OutboundSet {
  outbounds: ReadonlyMap<string, Outbound>;
  /** each outbound's definition with those of the outbounds it uses, as canonical text */
  definitions: ReadonlyMap<string, string>;
}

interface BuiltOutbounds extends OutboundSet {
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
export function buildOutbounds(defs: readonly OutboundDef[], deps: OutboundDeps, previous?: OutboundSet): BuiltOutbounds {
  const byName = new Map([...BUILT_IN_OUTBOUNDS, ...defs].map((d) => [d.name, d]));
  const outbounds = new Map<string, Outbound>();
  const definitions = new Map<string, string>();
  const build = (def: OutboundDef): Outbound => {
    const done = outbounds.get(def.name);
    if (done) return done;
    const kind = outboundKind(def.type);
    if (!kind) throw new Error(`outbound "${def.name}": unknown type "${def.type}"`);
    const used = (kind.uses?.(def) ?? []).map((r) => {
      const d = byName.get(r.name);
      if (!d) throw new Error(`outbound "${def.name}" uses "${r.name}", which is not defined`);
      build(d);
      return definitions.get(r.name)!;
    });
    const definition = `${canonical(def)} ${used.join(' ')}`;
    definitions.set(def.name, definition);
    const same = previous?.outbounds.get(def.name);
    if (same && previous?.definitions.get(def.name) === definition) {
      outbounds.set(def.name, same);
      return same;
    }
    const ctx: BuildContext = { ...deps, dialer: (name) => dialerOf(outbounds.get(name)!), previous: same };
    try {
      const built = kind.build(def, ctx);
      outbounds.set(def.name, built);
      return built;
    } finally {
      // a kind may keep ctx as its deps: past its build, ctx must not hold the outbounds of the
      // config this one replaces (nor, through a closure made here, `previous`), or each config's
      // outbounds would hold those of the one before, every reload on
      ctx.previous = undefined;
      ctx.dialer = afterBuild;
    }
  };
  try {
    for (const def of byName.values()) build(def);
  } catch (err) {
    discardOutbounds(outbounds, previous?.outbounds, deps.log);
    throw err;
  }
  const kept = new Set(outbounds.values());
  const retired = previous ? [...previous.outbounds.values()].filter((o) => !kept.has(o)) : [];
  return { outbounds, definitions, retired };
}

/** Closes the outbounds of `built` that are not carried over from `previous`: a reload refused after building them. */
export function discardOutbounds(built: ReadonlyMap<string, Outbound>, previous: ReadonlyMap<string, Outbound> | undefined, log: Logger): void {
  const kept = new Set(previous?.values());
  for (const o of built.values()) {
    if (!kept.has(o)) void o.close().catch((err: Error) => log.error({ outbound: o.name, err: err.message }, 'closing an outbound failed'));
  }
}

function afterBuild(name: string): never {
  throw new Error(`ctx.dialer("${name}") is for an outbound's build only`);
}

/** A referenced outbound; the config has refused references to anything but a dialer. */
function dialerOf(o: Outbound): Dialer {
  if (o.kind !== 'dialer') throw new Error(`outbound "${o.name}" is used as a dialer, but it is a ${o.kind} (the config check should have refused this)`);
  return o;
}

/** The definition as canonical JSON (keys sorted at every level), so key order in the YAML does not matter. */
export function canonical(def: OutboundDef): string {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sorted)
      : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]))
        : v;
  return JSON.stringify(sorted(def));
}
