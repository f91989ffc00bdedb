// The mirror kinds (`mirrors: - { name, kind: goproxy | sumdb | npm | pypi | generic, … }`): each
// is a Mirror with its protocol. Registered with the outbound kinds: a mirror is a route target.
// Reading a definition needs definition.ts alone; the Mirror and its protocol (undici, the cache,
// the zip checks) are loaded by `load` when a config has such a mirror, so that a daemon without
// mirrors, and a config check, never load them.
import type { OutboundKind } from '../outbound/kinds.js';
import type { OutboundDef } from '../outbound/index.js';
import { MIRROR_OPTIONS, parseMirror, type MirrorDef, type MirrorKind } from './definition.js';
import type { Protocol } from './protocol.js';

type MirrorClass = typeof import('./mirror.js').Mirror;

type ProtocolOf = (def: MirrorDef) => Protocol;

/** the checksum database a goproxy or sumdb mirror checks against (undefined: `sumdb-key: off`) */
const sumdbOf = async (): Promise<(def: MirrorDef) => import('./sumdb/lookup.js').SumdbVerifier | undefined> => {
  const [{ SumdbVerifier }, { parseVerifierKey }] = await Promise.all([import('./sumdb/lookup.js'), import('./sumdb/note.js')]);
  return (def) => (def.sumdbKey === 'off' ? undefined : new SumdbVerifier(parseVerifierKey(def.sumdbKey)));
};

/** each kind's protocol, from the module that defines it: a new one per mirror */
const PROTOCOLS: Record<MirrorKind, () => Promise<ProtocolOf>> = {
  goproxy: async () => {
    const [m, sumdb] = await Promise.all([import('./goproxy.js'), sumdbOf()]);
    return (def) => m.goproxyProtocol(sumdb(def));
  },
  sumdb: async () => {
    const [m, sumdb] = await Promise.all([import('./goproxy.js'), sumdbOf()]);
    return (def) => m.sumdbProtocol(sumdb(def));
  },
  npm: () => import('./npm.js').then((m) => () => m.NPM),
  pypi: () => import('./pypi.js').then((m) => () => m.PYPI),
  generic: () => import('./generic.js').then((m) => () => m.GENERIC),
};

function mirrorKind(type: MirrorKind): OutboundKind {
  let loaded: { Mirror: MirrorClass; protocol: ProtocolOf } | undefined;
  return {
    section: 'mirrors',
    builds: 'responder',
    options: MIRROR_OPTIONS,
    parse: (entry) => parseMirror(entry, type),
    uses: (def: OutboundDef) => [{ name: (def as MirrorDef).via, key: 'via' }, { name: (def as MirrorDef).fallback, key: 'fallback' }],
    load: async () => {
      const { Mirror }: typeof import('./mirror.js') = await import('./mirror.js');
      loaded ??= { Mirror, protocol: await PROTOCOLS[type]() };
    },
    build: (def, ctx) => {
      if (!loaded) throw new Error(`mirror "${def.name}": the ${type} mirror code is not loaded (loadOutboundKinds before buildOutbounds)`);
      const { Mirror, protocol } = loaded;
      const { via, fallback } = def as MirrorDef;
      const previous = ctx.previous instanceof Mirror ? ctx.previous : undefined;
      return new Mirror(def as MirrorDef, protocol(def as MirrorDef), ctx.dialer(via), ctx.dialer(fallback), ctx, previous);
    },
  };
}

export const MIRROR_KINDS = Object.fromEntries((Object.keys(PROTOCOLS) as MirrorKind[]).map((k) => [k, mirrorKind(k)])) as Record<MirrorKind, OutboundKind>;
