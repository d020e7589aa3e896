/** kube-proxy's iptables chain names and the jumps into them from the built-in chains. */

import type { Table } from './ruleset.js';

export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_EXTERNAL_SERVICES = 'KUBE-EXTERNAL-SERVICES';
export const KUBE_NODEPORTS = 'KUBE-NODEPORTS';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
export const KUBE_FORWARD = 'KUBE-FORWARD';
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';
/** kubelet's chain; kube-proxy writes an identical copy of its one rule (see plan.ts). */
export const KUBE_FIREWALL = 'KUBE-FIREWALL';

/** kube-proxy's default --iptables-masquerade-bit 14. */
export const MASQUERADE_MARK = '0x4000';

/** The filter chains every sync declares (and so flushes) and rewrites, in kube-proxy's order. */
export const FILTER_TOP_CHAINS = [
  KUBE_SERVICES,
  KUBE_EXTERNAL_SERVICES,
  KUBE_FORWARD,
  KUBE_NODEPORTS,
  KUBE_PROXY_FIREWALL,
];
/** The nat chains every sync declares and rewrites. */
export const NAT_TOP_CHAINS = [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ];

const SERVICE_CHAIN_PREFIXES = ['KUBE-SVC-', 'KUBE-SVL-', 'KUBE-SEP-', 'KUBE-FW-', 'KUBE-EXT-'];

/** True for per-Service chains: the ones partial syncs skip and stale-chain cleanup deletes. */
export function isServiceChainName(chain: string): boolean {
  return SERVICE_CHAIN_PREFIXES.some((p) => chain.startsWith(p));
}

/** A jump from a built-in chain into a kube-proxy chain (kube-proxy's iptablesJumpChain). */
export interface JumpHook {
  table: Table;
  /** The built-in chain holding the jump. */
  from: string;
  to: string;
  comment?: string;
  extraArgs?: string[];
}

const NEW = ['-m', 'conntrack', '--ctstate', 'NEW'];

/**
 * kube-proxy's iptablesJumpChains followed by iptablesKubeletJumpChains, in its order. Each is
 * ensured by prepending, so the resulting order in a built-in chain is the reverse of this list.
 */
export const JUMP_HOOKS: readonly JumpHook[] = [
  {
    table: 'filter',
    to: KUBE_EXTERNAL_SERVICES,
    from: 'INPUT',
    comment: 'kubernetes externally-visible service portals',
    extraArgs: NEW,
  },
  {
    table: 'filter',
    to: KUBE_EXTERNAL_SERVICES,
    from: 'FORWARD',
    comment: 'kubernetes externally-visible service portals',
    extraArgs: NEW,
  },
  {
    table: 'filter',
    to: KUBE_NODEPORTS,
    from: 'INPUT',
    comment: 'kubernetes health check service ports',
  },
  {
    table: 'filter',
    to: KUBE_SERVICES,
    from: 'FORWARD',
    comment: 'kubernetes service portals',
    extraArgs: NEW,
  },
  {
    table: 'filter',
    to: KUBE_SERVICES,
    from: 'OUTPUT',
    comment: 'kubernetes service portals',
    extraArgs: NEW,
  },
  { table: 'filter', to: KUBE_FORWARD, from: 'FORWARD', comment: 'kubernetes forwarding rules' },
  {
    table: 'filter',
    to: KUBE_PROXY_FIREWALL,
    from: 'INPUT',
    comment: 'kubernetes load balancer firewall',
    extraArgs: NEW,
  },
  {
    table: 'filter',
    to: KUBE_PROXY_FIREWALL,
    from: 'OUTPUT',
    comment: 'kubernetes load balancer firewall',
    extraArgs: NEW,
  },
  {
    table: 'filter',
    to: KUBE_PROXY_FIREWALL,
    from: 'FORWARD',
    comment: 'kubernetes load balancer firewall',
    extraArgs: NEW,
  },
  { table: 'nat', to: KUBE_SERVICES, from: 'OUTPUT', comment: 'kubernetes service portals' },
  { table: 'nat', to: KUBE_SERVICES, from: 'PREROUTING', comment: 'kubernetes service portals' },
  {
    table: 'nat',
    to: KUBE_POSTROUTING,
    from: 'POSTROUTING',
    comment: 'kubernetes postrouting rules',
  },
  { table: 'filter', to: KUBE_FIREWALL, from: 'INPUT' },
  { table: 'filter', to: KUBE_FIREWALL, from: 'OUTPUT' },
];

/** The rule arguments of a hook, in restore syntax (after `-A <from>`). */
export function hookArgs(h: JumpHook): string {
  const comment = h.comment ? ['-m', 'comment', '--comment', `"${h.comment}"`] : [];
  return [...(h.extraArgs ?? []), ...comment, '-j', h.to].join(' ');
}
