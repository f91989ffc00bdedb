// What a rule kind is: how it parses its payload, where it puts it in the tables, and why a target
// did not match it (`proxyctl route`). One object per kind; explain is not optional, so a kind
// without it does not compile. The registry of kinds by name is kinds.ts.
import type { Target } from '../address/index.js';
import type { Tables } from './tables.js';

export interface RuleKind<P = unknown> {
  /** payload text → parsed payload, or an error message */
  parse(value: string): P | { error: string };
  insert(tables: Tables, payload: P, id: number, noResolve: boolean): void;
  /** Why a rule of this kind, standing before the match, did not match: in words a user understands. */
  explain(rule: RuleLine<P>, facts: Facts): string;
  /** takes the no-resolve option (IP rules) */
  ip?: boolean;
}

/** A compiled rule line of one kind. */
export interface RuleLine<P> {
  /** the kind's name in upper case, e.g. DOMAIN-SUFFIX */
  kind: string;
  /** the payload as written */
  value: string;
  /** the payload as parsed */
  payload: P;
  noResolve: boolean;
}

/** What match() knew about the target. */
export interface Facts {
  target: Target;
  /** the host is an IP literal */
  address: boolean;
  /** the host name's addresses when match() looked them up ([] when it did not resolve) */
  resolved: string[] | undefined;
}
