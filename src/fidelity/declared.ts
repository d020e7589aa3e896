/**
 * Every difference between what the real kube-proxy writes and what svclab's planners write that
 * is deliberate, in one place. `svclab fidelity` sets the lines a declaration matches aside (on
 * the side it names) and reports the Service port as `declared` when nothing else differs; any
 * other difference is undeclared and fails the command. docs/fidelity/README.md renders this
 * list (renderDeclarations; a unit test keeps the two equal).
 *
 * A declaration matches normalised lines (src/fidelity/iptables-save.ts, nft-list.ts), as
 * narrowly as it can: a declaration that matched more than it means would hide a real difference.
 */
import type { FidelityMode } from './diff.js';

export type Side = 'kube-proxy' | 'svclab';

export interface DeclaredDifference {
  id: string;
  mode: FidelityMode;
  /** The side whose lines the declaration accounts for. */
  side: Side;
  /** What differs. */
  what: string;
  /** Why svclab does not do what kube-proxy does. */
  why: string;
  /** The kube-proxy release (and change) the difference dates from. */
  since: string;
  line: RegExp;
  /** A line it matches, as the comparison saw it (tested against `line`). */
  example: string;
}

const NFACCT_WHY =
  "The counter only feeds kube-proxy's metric kubeproxy_iptables_ct_state_invalid_dropped_packets_total. svclab exports no kube-proxy metrics, and creating an nfacct object needs the nfnetlink_acct API, for which this host has no tool (no `nfacct`); the rule drops the same packets without it.";

export const DECLARED_DIFFERENCES: readonly DeclaredDifference[] = [
  {
    id: 'iptables-canary',
    mode: 'iptables',
    side: 'kube-proxy',
    what: 'Empty `KUBE-PROXY-CANARY` chains in the mangle, nat and filter tables.',
    why: "kube-proxy's iptables Monitor polls them and forces a full resync when they are gone (someone flushed the tables). svclab has no monitor: a lab's syncs are driven by the lab, and an empty chain nothing watches would only imitate the monitor.",
    since: 'v1.17 (kubernetes#81517)',
    line: /^(ip6 )?(mangle|nat|filter) :KUBE-PROXY-CANARY$/,
    example: 'mangle :KUBE-PROXY-CANARY',
  },
  {
    id: 'iptables-nfacct-invalid',
    mode: 'iptables',
    side: 'kube-proxy',
    what: 'The conntrack-INVALID DROP rule in `KUBE-FORWARD` carries `-m nfacct --nfacct-name ct_state_invalid_dropped_pkts`.',
    why: NFACCT_WHY,
    since: 'v1.30 (kubernetes#122812)',
    line: /^(ip6 )?filter -A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP$/,
    example:
      'filter -A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP',
  },
  {
    id: 'iptables-nfacct-invalid',
    mode: 'iptables',
    side: 'svclab',
    what: 'The same rule without the nfacct match.',
    why: NFACCT_WHY,
    since: 'v1.30 (kubernetes#122812)',
    line: /^filter -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP$/,
    example: 'filter -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
  },
];

export function declarationsFor(mode: FidelityMode): DeclaredDifference[] {
  return DECLARED_DIFFERENCES.filter((d) => d.mode === mode);
}

/** The declarations as a Markdown table (one row per id and mode; the sides' lines joined). */
export function renderDeclarations(): string {
  const rows = new Map<string, DeclaredDifference[]>();
  for (const d of DECLARED_DIFFERENCES) {
    const k = `${d.mode} ${d.id}`;
    rows.set(k, [...(rows.get(k) ?? []), d]);
  }
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const out = ['| mode | id | what differs | why | since |', '| --- | --- | --- | --- | --- |'];
  for (const ds of rows.values()) {
    const [d] = ds as [DeclaredDifference];
    const what = ds.map((x) => `${x.side}: ${x.what}`).join(' ');
    out.push(`| ${d.mode} | \`${d.id}\` | ${esc(what)} | ${esc(d.why)} | ${esc(d.since)} |`);
  }
  return out.join('\n') + '\n';
}
