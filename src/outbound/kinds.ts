// The outbound kinds. Each kind reads its own options from the config, names the outbounds it
// uses, and builds itself (one file each in this folder, the groups' in group/, the mirrors' in
// mirror/); this registry is the only list of them, so buildOutbounds and the config never switch
// over kinds.
import { DirectDialer } from './direct.js';
import { MIRROR_KINDS } from '../mirror/index.js';
import { GROUP_KINDS } from './group/index.js';
import { HTTP_PROXY_KIND } from './http-proxy.js';
import { RejectDialer } from './reject.js';
import { SOCKS5_PROXY_KIND } from './socks5.js';
import type { BuildContext, DefinitionReader, Outbound, OutboundDef, Reference } from './types.js';

export interface OutboundKind {
  /** the config section whose entries name this kind as their `type` (built-ins have none) */
  section?: 'proxies' | 'groups' | 'mirrors';
  /**
   * What it builds: a dialer carries connections, so it may be any reference (a `via`, a member,
   * a mirror's route); a responder answers requests itself, so only rules may name it.
   */
  builds: Outbound['kind'];
  /** option names it knows (besides name and type), for unknown-option errors with a suggestion */
  options?: readonly string[];
  /** reads one entry; undefined when it has problems (reported through the reader) */
  parse?(entry: DefinitionReader): OutboundDef | undefined;
  /** the other outbounds a definition uses (members, via): checked to exist, to form no loop, built first */
  uses?(def: OutboundDef): Reference[];
  /** loads the code `build` needs that only configs using this kind should pay for (see loadOutboundKinds) */
  load?(): Promise<void>;
  build(def: OutboundDef, ctx: BuildContext): Outbound;
}

const KINDS = new Map<string, OutboundKind>([
  ['direct', { builds: 'dialer', build: (def, ctx) => new DirectDialer(def.name, ctx) }],
  ['reject', { builds: 'dialer', build: (def) => new RejectDialer(def.name) }],
  ['socks5', SOCKS5_PROXY_KIND],
  ['http', HTTP_PROXY_KIND],
  ...Object.entries(GROUP_KINDS),
  ...Object.entries(MIRROR_KINDS),
]);

export function outboundKind(type: string): OutboundKind | undefined {
  return KINDS.get(type);
}

/** The types a config section may name, for did-you-mean. */
export function typesOf(section: 'proxies' | 'groups' | 'mirrors'): string[] {
  return [...KINDS].filter(([, k]) => k.section === section).map(([t]) => t);
}

/** Adds a kind (the ones above are built in; tests add their own). */
export function registerOutboundKind(type: string, kind: OutboundKind): void {
  if (KINDS.has(type)) throw new Error(`outbound kind "${type}" is already registered`);
  KINDS.set(type, kind);
}
