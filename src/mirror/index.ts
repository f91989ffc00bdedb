// The mirror kinds (`mirrors: - { name, kind: goproxy | sumdb | npm | pypi | generic, … }`): each
// is a Mirror with its protocol. Registered with the outbound kinds: a mirror is a route target.
// Reading a definition needs definition.ts alone; the Mirror and its protocol (undici, the cache,
// the zip checks) are loaded by `load` when a config has such a mirror, so that a daemon without
// mirrors, and a config check, never load them.
import type { OutboundKind } from '../outbound/kinds.js';
import type { Dialer, OutboundDef } from '../outbound/index.js';
import { MIRROR_OPTIONS, parseMirror, type MirrorDef, type MirrorKind } from './definition.js';
import type { Protocol } from './protocol.js';

type MirrorClass = typeof import('./mirror.js').Mirror;

/** each kind's protocol, from the module that defines it: a new one per mirror */
const PROTOCOLS: Record<MirrorKind, () => Promise<() => Protocol>> = {
  goproxy: () => import('./goproxy.js').then((m) => () => m.GOPROXY),
  sumdb: () => import('./goproxy.js').then((m) => () => m.SUMDB_PROTOCOL),
  npm: () => import('./npm.js').then((m) => () => m.NPM),
  pypi: () => import('./pypi.js').then((m) => () => new m.PypiProtocol()), // it remembers the hashes of the pages it served
  generic: () => import('./generic.js').then((m) => () => m.GENERIC),
};

function mirrorKind(type: MirrorKind): OutboundKind {
  let loaded: { Mirror: MirrorClass; protocol: () => Protocol } | undefined;
  return {
    section: 'mirrors',
    options: MIRROR_OPTIONS,
    parse: (entry) => parseMirror(entry, type),
    uses: (def: OutboundDef) => [{ name: (def as MirrorDef).fallback, key: 'fallback' }],
    load: async () => {
      const { Mirror }: typeof import('./mirror.js') = await import('./mirror.js');
      loaded ??= { Mirror, protocol: await PROTOCOLS[type]() };
    },
    build: (def, ctx) => {
      if (!loaded) throw new Error(`mirror "${def.name}": the ${type} mirror code is not loaded (loadOutboundKinds before buildOutbounds)`);
      const { Mirror, protocol } = loaded;
      const fallback = ctx.get((def as MirrorDef).fallback);
      if (fallback.kind !== 'dialer') throw new Error(`mirror "${def.name}": fallback "${fallback.name}" is a mirror; it must carry connections (DIRECT, a proxy or a group)`);
      const previous = ctx.previous instanceof Mirror ? ctx.previous : undefined;
      return new Mirror(def as MirrorDef, protocol(), ctx.get('DIRECT') as Dialer, fallback, ctx, previous);
    },
  };
}

export const MIRROR_KINDS = Object.fromEntries((Object.keys(PROTOCOLS) as MirrorKind[]).map((k) => [k, mirrorKind(k)])) as Record<MirrorKind, OutboundKind>;
