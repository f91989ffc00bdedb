// The mirror kinds (`mirrors: - { name, kind: goproxy | sumdb | npm | pypi | generic, … }`): each
// is a Mirror with its protocol. Registered with the outbound kinds: a mirror is a route target.
import type { OutboundKind } from '../outbound/kinds.js';
import type { Dialer, OutboundDef } from '../outbound/index.js';
import { MIRROR_OPTIONS, parseMirror, type MirrorDef, type MirrorKind } from './definition.js';
import { GENERIC } from './generic.js';
import { GOPROXY, SUMDB_PROTOCOL } from './goproxy.js';
import { Mirror } from './mirror.js';
import { NPM } from './npm.js';
import type { Protocol } from './protocol.js';
import { PypiProtocol } from './pypi.js';

export { Mirror } from './mirror.js';

const PROTOCOLS: Record<MirrorKind, () => Protocol> = {
  goproxy: () => GOPROXY,
  sumdb: () => SUMDB_PROTOCOL,
  npm: () => NPM,
  pypi: () => new PypiProtocol(), // it remembers the hashes of the pages it served
  generic: () => GENERIC,
};

function mirrorKind(type: MirrorKind): OutboundKind {
  return {
    section: 'mirrors',
    options: MIRROR_OPTIONS,
    parse: (entry) => parseMirror(entry, type),
    uses: (def: OutboundDef) => [{ name: (def as MirrorDef).fallback, key: 'fallback' }],
    build: (def, ctx) => {
      const fallback = ctx.get((def as MirrorDef).fallback);
      if (fallback.kind !== 'dialer') throw new Error(`mirror "${def.name}": fallback "${fallback.name}" is a mirror; it must carry connections (DIRECT, a proxy or a group)`);
      const previous = ctx.previous instanceof Mirror ? ctx.previous : undefined;
      return new Mirror(def as MirrorDef, PROTOCOLS[type](), ctx.get('DIRECT') as Dialer, fallback, ctx, previous);
    },
  };
}

export const MIRROR_KINDS = Object.fromEntries((Object.keys(PROTOCOLS) as MirrorKind[]).map((k) => [k, mirrorKind(k)])) as Record<MirrorKind, OutboundKind>;
