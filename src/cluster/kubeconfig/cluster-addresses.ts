import { UsageError } from '../../cli/errors.js';
import { formatIPv4, nthAddress, parseCIDR } from '../../model/ipam.js';
import type { Topology } from '../../model/types.js';
import type { KubeApi } from './api.js';
import { apiStatus } from './namespace.js';

/**
 * kube-dns's clusterIP on kubeadm clusters (kind's among them): the 10th address of the service
 * range (kubeadm's GetDNSIP), 10.96.0.10 for kind's default 10.96.0.0/16.
 */
export function kubeadmDnsIP(serviceSubnet: string): string | undefined {
  const c = parseCIDR(serviceSubnet);
  const ip = c ? nthAddress(c, 10) : undefined;
  return ip === undefined ? undefined : formatIPv4(ip);
}

/** An address that something else in the cluster holds. */
export interface TakenAddress {
  ip: string;
  owner: string;
}

/**
 * Refuses a topology whose file pins a clusterIP that the cluster already gives to something else,
 * naming the field, before anything is created. Addresses svclab allocated are never requested
 * (the API server allocates), so only pinned ones can collide.
 */
export function checkPinnedClusterIPs(topo: Topology, taken: TakenAddress[]): void {
  const problems = topo.services
    .filter((s) => !s.clusterIPAllocated)
    .flatMap((s) =>
      taken
        .filter((t) => t.ip === s.clusterIP)
        .map(
          (t) =>
            `services[${s.namespace}/${s.name}].spec.clusterIP: ${s.clusterIP} belongs to ${t.owner} on this cluster; pick another address or leave clusterIP out (the API server then allocates one)`,
        ),
    );
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
}

/** kube-system/kube-dns's clusterIP on an existing cluster; none when absent or not readable. */
export async function clusterDnsAddresses(api: KubeApi): Promise<TakenAddress[]> {
  try {
    const svc = await api.core.readNamespacedService({
      name: 'kube-dns',
      namespace: 'kube-system',
    });
    return (svc.spec?.clusterIPs ?? [svc.spec?.clusterIP ?? ''])
      .filter((ip) => ip && ip !== 'None')
      .map((ip) => ({ ip, owner: 'Service kube-system/kube-dns' }));
  } catch (err) {
    if (apiStatus(err) === 404 || apiStatus(err) === 403) return [];
    throw err;
  }
}

/**
 * Source addresses a backend can see for traffic a cluster node masqueraded: the node IP, or the
 * node's own address on the pod network. MASQUERADE takes the address of the interface the packet
 * leaves by; towards a pod on the same node that is the pod's host-side interface, which kindnet
 * (kind's CNI, the ptp plugin) gives the first address of the node's podCIDR as a /32, and
 * bridge CNIs (flannel's cni0) the same address; towards another node it is the node IP. So
 * hairpin and same-node NodePort/externalIP traffic on kind shows 10.244.x.1, not the node IP.
 */
export function clusterMasqueradeAddresses(node: { ip: string; podCIDR: string }): string[] {
  const c = parseCIDR(node.podCIDR);
  const gw = c ? nthAddress(c, 1) : undefined;
  return [node.ip, ...(gw === undefined ? [] : [formatIPv4(gw)])];
}
