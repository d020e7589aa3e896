import { groupByOwner, CONSTANT, UNATTRIBUTED, type ServicePortIndex } from './attribute.js';
import { declarationsFor, type DeclaredDifference, type Side } from './declared.js';
import type { NormalisedRuleset } from './lines.js';

export type FidelityMode = 'iptables' | 'nftables' | 'ipvs';

/** One Service port (or the constant chains) of one comparison. */
export interface OwnerComparison {
  servicePort: string;
  status: 'identical' | 'declared' | 'different';
  /** Declarations that account for the differences (status `declared`, or partly for `different`). */
  declared: DeclaredDifference[];
  /**
   * The first differing lines: `- ` kube-proxy's, `+ ` svclab's, `+ (none)` / `- (none)` where a
   * side has nothing there. For `declared`, the raw difference; for `different`, what is left
   * once declared lines are set aside.
   */
  firstDifference?: string[] | undefined;
  /** Line counts per side. */
  lines: { kubeProxy: number; svclab: number };
}

/** At most this many lines of a first difference are reported. */
export const MAX_DIFFERENCE_LINES = 12;

/**
 * Compares kube-proxy's and svclab's normalised rulesets, per Service port of the state plus the
 * constant chains and anything neither attributes to a Service port. A Service port whose lines
 * differ only by lines a declaration covers is `declared`; any other difference is `different`.
 */
export function compareRulesets(opts: {
  mode: FidelityMode;
  index: ServicePortIndex;
  kubeProxy: readonly NormalisedRuleset[];
  svclab: readonly NormalisedRuleset[];
  declarations?: readonly DeclaredDifference[];
}): OwnerComparison[] {
  const decls = opts.declarations ?? declarationsFor(opts.mode);
  const group = (rs: readonly NormalisedRuleset[]) =>
    groupByOwner(
      rs.flatMap((r) => r.lines),
      opts.index,
      opts.mode,
    );
  const kp = group(opts.kubeProxy);
  const sv = group(opts.svclab);
  const owners = [CONSTANT, ...opts.index.keys];
  if (kp.has(UNATTRIBUTED) || sv.has(UNATTRIBUTED)) owners.push(UNATTRIBUTED);
  return owners.map((servicePort) =>
    compareLines(servicePort, kp.get(servicePort) ?? [], sv.get(servicePort) ?? [], decls),
  );
}

export function compareLines(
  servicePort: string,
  kubeProxy: readonly string[],
  svclab: readonly string[],
  decls: readonly DeclaredDifference[],
): OwnerComparison {
  const lines = { kubeProxy: kubeProxy.length, svclab: svclab.length };
  if (sameLines(kubeProxy, svclab))
    return { servicePort, status: 'identical', declared: [], lines };
  const used = new Set<DeclaredDifference>();
  const keep = (side: Side) => (line: string) => {
    const d = decls.find((x) => x.side === side && x.line.test(line));
    if (d) used.add(d);
    return !d;
  };
  const kpLeft = kubeProxy.filter(keep('kube-proxy'));
  const svLeft = svclab.filter(keep('svclab'));
  const declared = [...used];
  if (sameLines(kpLeft, svLeft))
    return {
      servicePort,
      status: 'declared',
      declared,
      firstDifference: firstDifference(kubeProxy, svclab),
      lines,
    };
  return {
    servicePort,
    status: 'different',
    declared,
    firstDifference: firstDifference(kpLeft, svLeft),
    lines,
  };
}

function sameLines(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * The first hunk of a line diff (longest common subsequence): the lines of each side from the
 * first place they disagree up to where they agree again, kube-proxy's first.
 */
export function firstDifference(a: readonly string[], b: readonly string[]): string[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const x = a.slice(start, endA);
  const y = b.slice(start, endB);
  // LCS table over the differing middle, to find where the first hunk ends.
  const n = x.length;
  const m = y.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i]![j] =
        x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const minus: string[] = [];
  const plus: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      if (minus.length > 0 || plus.length > 0) break; // the first hunk is over
      i++;
      j++;
    } else if (j >= m || (i < n && lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      minus.push(x[i++]!);
    } else {
      plus.push(y[j++]!);
    }
  }
  const out = [
    ...(minus.length > 0 ? minus.map((l) => `- ${l}`) : ['- (none)']),
    ...(plus.length > 0 ? plus.map((l) => `+ ${l}`) : ['+ (none)']),
  ];
  if (out.length <= MAX_DIFFERENCE_LINES) return out;
  // Half the lines for each side, or what the other side leaves.
  const kp = out.filter((l) => l.startsWith('-'));
  const sv = out.filter((l) => l.startsWith('+'));
  const keepKp = Math.min(
    kp.length,
    Math.max(MAX_DIFFERENCE_LINES / 2, MAX_DIFFERENCE_LINES - sv.length),
  );
  const keepSv = Math.min(sv.length, MAX_DIFFERENCE_LINES - keepKp);
  const more = out.length - keepKp - keepSv;
  return [...kp.slice(0, keepKp), ...sv.slice(0, keepSv), `(${more} more differing lines)`];
}
