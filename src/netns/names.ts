// ifName and podVethName moved to src/cluster/common/names.ts (shared with the docker provider).
export { ifName, podVethName } from '../cluster/common/names.js';

/**
 * Network namespace names carry the lab's name so two labs coexist and a sweep can find what a
 * crashed run left. The separator is '.', which cannot appear in lab or object names (DNS-1123
 * labels), so `svclab.<lab>.` never matches another lab's namespaces.
 */
export const NETNS_PREFIX = 'svclab.';

/**
 * `control-plane`: etcd, kube-apiserver, kube-controller-manager and the lab kubelet (one per lab).
 * `twin`: a bare namespace standing in for one node, where `svclab fidelity` programs svclab's
 * planner beside the node kube-proxy programs (no interfaces, nothing routes to it).
 */
export type NamespaceRole = 'fabric' | 'control-plane' | 'node' | 'pod' | 'ext' | 'twin';

export function netnsName(lab: string, role: NamespaceRole, name?: string): string {
  return role === 'fabric' || role === 'control-plane'
    ? `${NETNS_PREFIX}${lab}.${role}`
    : `${NETNS_PREFIX}${lab}.${role}.${name}`;
}

/** The lab a namespace belongs to, or undefined when it is not an svclab namespace. */
export function labOfNetns(netns: string): string | undefined {
  if (!netns.startsWith(NETNS_PREFIX)) return undefined;
  return netns.slice(NETNS_PREFIX.length).split('.')[0] || undefined;
}
