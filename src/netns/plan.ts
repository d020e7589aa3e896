import type { Topology } from '../model/types.js';
import {
  NODE_SYSCTLS,
  nodeNetworkGateway,
  nodeRoutingBatch,
  podInterfaceBatch,
  podsWithNetns,
  sysctlScript,
} from '../cluster/common/pod-network.js';
import { ifName, netnsName, podVethName, type NamespaceRole } from './names.js';

// Re-exported: the pod wiring itself lives in src/cluster/common/pod-network.ts (shared with docker).
export { POD_GATEWAY, POD_GATEWAY_MAC, nodeNetworkGateway } from '../cluster/common/pod-network.js';

/**
 * The netns lab's wiring, planned as data before anything is created (unit-testable, and the
 * namespace list is recorded in the lab state before the first one exists).
 *
 * Design, as a kube-proxy developer would expect it:
 * - a fabric namespace holds bridge `br0`: the node network, one L2 segment;
 * - each node is a namespace with `eth0` on the fabric and the node IP;
 * - each pod is a namespace with `eth0` holding its /32, default route to a link-local gateway
 *   169.254.1.1 whose MAC is the node-side veth's (Calico's design: no bridge in the node, so
 *   hairpin needs no bridge hairpin_mode), and the node routes the pod /32 to that veth;
 * - nodes route other nodes' pod CIDRs via those nodes' IPs (what a CNI's host-gw mode does);
 * - external hosts sit on the fabric with routes for external and LoadBalancer IPs via a node;
 * - the fabric itself is the node network's gateway (.1): nodes have a default route to it, as
 *   real nodes do, so traffic to a ClusterIP that no rule catches is routed (and reaches
 *   kube-proxy's FORWARD-chain REJECT for Services without endpoints) instead of failing route
 *   lookup. The gateway has no route beyond the node network: it answers "network unreachable"
 *   for everything else. Nothing routes out of the lab.
 */
export interface PlannedNamespace {
  netns: string;
  role: NamespaceRole;
  /** Node, pod or external host name (undefined for the fabric). */
  target?: string | undefined;
  /** sysctl files (paths below /proc/sys, globs allowed) and values, set inside the namespace. */
  sysctls: [string, string][];
  /** `ip -batch` lines run inside the namespace. */
  batch: string[];
}

export interface NetnsPlan {
  /** Run once from the caller's namespace: creates namespaces and veth pairs directly inside them. */
  rootBatch: string[];
  namespaces: PlannedNamespace[];
}

export interface NetnsPlanOptions {
  /** Address of a control-plane namespace on the node network (labs with a control plane). */
  controlPlaneIP?: string | undefined;
}

export function planNetns(lab: string, topo: Topology, opts: NetnsPlanOptions = {}): NetnsPlan {
  const fabric = netnsName(lab, 'fabric');
  const nodeNs = new Map(topo.nodes.map((n) => [n.name, netnsName(lab, 'node', n.name)]));
  const prefix = topo.networking.nodeSubnet.split('/')[1];
  const gateway = nodeNetworkGateway(topo.networking.nodeSubnet);
  const rootBatch: string[] = [];
  const namespaces: PlannedNamespace[] = [];
  const fabricPorts: string[] = [];

  const addNs = (ns: PlannedNamespace) => {
    rootBatch.push(`netns add ${ns.netns}`);
    namespaces.push(ns);
  };

  // Forwarding on, so the gateway answers ICMP "network unreachable" for what it cannot route.
  addNs({ netns: fabric, role: 'fabric', sysctls: [['net/ipv4/ip_forward', '1']], batch: [] });

  for (const node of topo.nodes) {
    const ns = nodeNs.get(node.name)!;
    const port = ifName('n-', node.name);
    fabricPorts.push(port);
    const batch = [
      'link set lo up',
      `addr add ${node.ip}/${prefix} dev eth0`,
      'link set eth0 up',
      ...nodeRoutingBatch(topo, node),
    ];
    addNs({ netns: ns, role: 'node', target: node.name, sysctls: [...NODE_SYSCTLS], batch });
    rootBatch.push(`link add eth0 netns ${ns} type veth peer name ${port} netns ${fabric}`);
  }

  for (const pod of podsWithNetns(topo)) {
    const ns = netnsName(lab, 'pod', pod.name);
    addNs({ netns: ns, role: 'pod', target: pod.name, sysctls: [], batch: podInterfaceBatch(pod) });
    rootBatch.push(
      `link add eth0 netns ${ns} type veth peer name ${podVethName(pod.name)} netns ${nodeNs.get(pod.node)!}`,
    );
  }

  for (const ext of topo.externalHosts) {
    const ns = netnsName(lab, 'ext', ext.name);
    const port = ifName('x-', ext.name);
    fabricPorts.push(port);
    addNs({
      netns: ns,
      role: 'ext',
      target: ext.name,
      sysctls: [],
      batch: [
        'link set lo up',
        `addr add ${ext.ip}/${prefix} dev eth0`,
        'link set eth0 up',
        ...ext.routes.map((r) => `route add ${r.to} via ${r.via} dev eth0`),
      ],
    });
    rootBatch.push(`link add eth0 netns ${ns} type veth peer name ${port} netns ${fabric}`);
  }

  if (opts.controlPlaneIP) {
    // The control plane is a host on the node network, like a kubeadm control-plane node that
    // runs no pods: nodes reach it on the segment, pods through their node.
    const ns = netnsName(lab, 'control-plane');
    fabricPorts.push('cp');
    addNs({
      netns: ns,
      role: 'control-plane',
      sysctls: [],
      batch: [
        'link set lo up',
        `addr add ${opts.controlPlaneIP}/${prefix} dev eth0`,
        'link set eth0 up',
        `route add default via ${gateway} dev eth0`,
      ],
    });
    rootBatch.push(`link add eth0 netns ${ns} type veth peer name cp netns ${fabric}`);
  }

  const fabricNs = namespaces[0]!;
  fabricNs.batch.push(
    'link set lo up',
    'link add br0 type bridge',
    `addr add ${gateway}/${prefix} dev br0`,
    'link set br0 up',
  );
  for (const port of fabricPorts)
    fabricNs.batch.push(`link set ${port} master br0`, `link set ${port} up`);
  // Like a cloud VPC route table: the gateway knows which node holds each pod CIDR, so its
  // "unreachable" answers find their way back to pods.
  for (const node of topo.nodes)
    fabricNs.batch.push(`route add ${node.podCIDR} via ${node.ip} dev br0`);
  return { rootBatch, namespaces };
}

/** The shell run inside a namespace: sysctls with shell builtins (no extra spawn), then one `ip -batch`. */
export function namespaceInitScript(ns: PlannedNamespace): string {
  const lines = sysctlScript(ns.sysctls);
  lines.push('exec ip -batch -');
  return lines.join('\n');
}
