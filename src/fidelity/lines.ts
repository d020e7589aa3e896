/**
 * A ruleset as the comparison sees it: one line per chain, rule, set or element, in a canonical
 * order, each with what is needed to tell which Service port it belongs to. The text is what the
 * report shows; two kernels hold the same thing exactly when their line texts are equal.
 */
export type LineKind = 'table' | 'chain' | 'rule' | 'set' | 'element';

export interface RulesetLine {
  kind: LineKind;
  text: string;
  /** iptables: the table (filter, nat, mangle); nftables: the table's family. */
  table: string;
  /** The chain of a chain or rule line; the set or map of a set or element line. */
  object: string;
  /** iptables rules: the `--comment` text and the `-j`/`-g` target. */
  comment?: string | undefined;
  target?: string | undefined;
  /** nftables elements: the key, without comment and value. */
  key?: string | undefined;
}

export interface NormalisedRuleset {
  /** `iptables-save` or `nft list table`, for the report. */
  source: string;
  lines: RulesetLine[];
}

export function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
