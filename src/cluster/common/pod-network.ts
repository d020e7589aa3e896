import { formatIPv4, nthAddress, parseCIDR } from '../../model/ipam.js';
import type { NodeSpec, PodSpec, Topology } from '../../model/types.js';
import { podVethName } from './names.js';

/**
 * The pod network every self-wiring provider (netns, docker) builds inside a node, as `ip -batch`
 * lines. Moved here from src/netns/plan.ts; the design is unchanged:
 * - each pod is a network namespace with `eth0` holding its /32, default route to a link-local
 *   gateway 169.254.1.1 whose MAC is the node-side veth's (Calico's design: no bridge in the node,
 *   so hairpin needs no bridge hairpin_mode), and the node routes the pod /32 to that veth;
 * - nodes route other nodes' pod CIDRs via those nodes' IPs (what a CNI's host-gw mode does);
 * - nodes have a default route to the node network's gateway (.1), as real nodes do, so traffic
 *   to a ClusterIP that no rule catches is routed (and reaches kube-proxy's FORWARD-chain REJECT
 *   for Services without endpoints) instead of failing route lookup.
 */
export const POD_GATEWAY = '169.254.1.1';
export const POD_GATEWAY_MAC = 'ee:ee:ee:ee:ee:ee';

/** Sysctls (paths below /proc/sys, globs allowed) every node needs, set inside the node. */
export const NODE_SYSCTLS: readonly [string, string][] = [
  ['net/ipv4/ip_forward', '1'],
  // Pods answer from /32s behind point-to-point veths and NodePort replies can come back on
  // another interface than they left by: reverse-path filtering would drop them.
  ['net/ipv4/conf/*/rp_filter', '0'],
];

/** Pods that get their own network namespace on a node (hostNetwork pods share the node's). */
export function podsWithNetns(topo: Topology, node?: string): PodSpec[] {
  return topo.pods.filter((p) => !p.hostNetwork && (node === undefined || p.node === node));
}

/** Inside a pod's namespace, once its `eth0` exists: its /32 and the link-local default route. */
export function podInterfaceBatch(pod: PodSpec): string[] {
  return [
    'link set lo up',
    `addr add ${pod.ip}/32 dev eth0`,
    'link set eth0 up',
    `route add ${POD_GATEWAY} dev eth0 scope link`,
    `route add default via ${POD_GATEWAY} dev eth0`,
    `neigh add ${POD_GATEWAY} lladdr ${POD_GATEWAY_MAC} dev eth0`,
  ];
}

/**
 * Inside a node, once its pods' veths exist and its `eth0` is on the node network: the pod side of
 * each veth, routes to other nodes' pod CIDRs, and the default route to the node network gateway.
 * `replace` for the default route: a container runtime may already have installed one.
 */
export function nodeRoutingBatch(topo: Topology, node: NodeSpec): string[] {
  const batch: string[] = [];
  for (const pod of podsWithNetns(topo, node.name)) {
    const veth = podVethName(pod.name);
    batch.push(
      `link set ${veth} address ${POD_GATEWAY_MAC}`,
      `link set ${veth} up`,
      `route add ${pod.ip}/32 dev ${veth}`,
    );
  }
  for (const other of topo.nodes.filter((n) => n.name !== node.name)) {
    batch.push(`route add ${other.podCIDR} via ${other.ip} dev eth0`);
  }
  batch.push(
    `route replace default via ${nodeNetworkGateway(topo.networking.nodeSubnet)} dev eth0`,
  );
  return batch;
}

/** The node network's gateway address: its first host (.1), which the topology model reserves. */
export function nodeNetworkGateway(nodeSubnet: string): string {
  const cidr = parseCIDR(nodeSubnet);
  const gw = cidr && nthAddress(cidr, 1);
  if (gw === undefined) throw new Error(`node subnet ${nodeSubnet} has no room for a gateway`);
  return formatIPv4(gw);
}

/** Shell lines that set sysctls with builtins only (no extra spawn per value). */
export function sysctlScript(sysctls: readonly (readonly [string, string])[]): string[] {
  return sysctls.map(([path, value]) =>
    path.includes('*')
      ? `for f in /proc/sys/${path}; do echo ${value} > "$f"; done`
      : `echo ${value} > /proc/sys/${path}`,
  );
}
