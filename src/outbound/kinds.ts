// The outbound kinds, by the `type` a definition names. A new kind is one file in this folder
// and one entry here; buildOutbounds never switches over kinds.
import { DirectDialer } from './direct.js';
import { RejectDialer } from './reject.js';
import type { Outbound, OutboundDef, OutboundDeps } from './types.js';

export interface OutboundKind {
  build(def: OutboundDef, deps: OutboundDeps): Outbound;
}

const KINDS = new Map<string, OutboundKind>([
  ['direct', { build: (def, deps) => new DirectDialer(def.name, deps) }],
  ['reject', { build: (def) => new RejectDialer(def.name) }],
]);

export function outboundKind(type: string): OutboundKind | undefined {
  return KINDS.get(type);
}

/** Adds a kind (the ones in this folder are built in; tests add their own). */
export function registerOutboundKind(type: string, kind: OutboundKind): void {
  if (KINDS.has(type)) throw new Error(`outbound kind "${type}" is already registered`);
  KINDS.set(type, kind);
}
