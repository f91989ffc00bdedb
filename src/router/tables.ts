// The compiled form of a rule list: every kind of rule lands in an index built for its kind, and
// every inserted entry gets an id in rule order, so "first match wins" is "smallest id wins".
import type { Cidr } from '../address/index.js';
import { CidrTable } from './cidr-table.js';
import { DomainTable, NONE } from './domain-table.js';
import { KeywordMatcher } from './keyword-matcher.js';

export class Tables {
  /** entry id → index of the rule line it came from (numbers, not objects: one read fewer per match) */
  readonly ruleOf: number[] = [];
  /** entry id → for an entry of a rule set, its own text and where it stands, e.g. `+.corp.example (rules/git.txt:4)` */
  readonly details = new Map<number, string>();
  readonly domains = new DomainTable();
  readonly keywords = new KeywordMatcher();
  /** every IP entry: matched against IP-literal targets */
  readonly cidrs = new CidrTable();
  /** IP entries without no-resolve: also matched against the addresses a host name resolves to */
  readonly resolvingCidrs = new CidrTable();
  /** smallest id among resolving IP entries: a host name is resolved only if one of them could win */
  firstResolving = NONE;
  /** any IP entry, no-resolve or not (explain tells a set whose IP entries were skipped from one without) */
  hasCidrs = false;
  ports: Int32Array | undefined;
  matchAll = NONE;

  newEntry(rule: number, detail?: string): number {
    const id = this.ruleOf.push(rule) - 1;
    if (detail !== undefined) this.details.set(id, detail);
    return id;
  }

  addCidr(cidr: Cidr, id: number, noResolve: boolean): void {
    this.cidrs.add(cidr, id);
    this.hasCidrs = true;
    if (!noResolve) {
      this.resolvingCidrs.add(cidr, id);
      this.firstResolving = Math.min(this.firstResolving, id);
    }
  }

  addPorts(from: number, to: number, id: number): void {
    const ports = (this.ports ??= new Int32Array(65536).fill(NONE));
    for (let p = from; p <= to; p++) if (id < ports[p]!) ports[p] = id;
  }
}
