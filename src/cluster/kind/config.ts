import { stringify } from 'yaml';
import type { Topology } from '../../model/types.js';
import type { ProxyMode } from '../../proxy/types.js';
import { TOPOLOGY_NODE_LABEL } from '../kubeconfig/names.js';

export interface KindConfigOptions {
  clusterName: string;
  proxyMode: ProxyMode;
  /** kindest/node image; default kind's own default for its version. */
  nodeImage?: string | undefined;
}

/**
 * The kind Cluster config for a topology. Node roles: the topology's first node is the
 * control-plane, the rest are workers, so the cluster has exactly the topology's nodes (an extra
 * control-plane would be one more kube-proxy programming one more node, and ~500 MB on a 2-core
 * CI runner). Lab pods tolerate the control-plane taint and are pinned by the `svclab.dev/node`
 * label each kind node carries. kube-proxy's metrics/`/proxyMode` endpoint is bound to 0.0.0.0 so
 * the mode can be read back through the API server's node proxy.
 */
export function kindConfig(topo: Topology, opts: KindConfigOptions): Record<string, unknown> {
  const net = topo.networking;
  const patches = [
    'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmetricsBindAddress: 0.0.0.0:10249\n',
  ];
  // kubeadm's default per-node pod CIDR is a /24; only say it when the topology differs.
  if (net.podCIDRMaskSize !== 24) {
    patches.push(
      `kind: ClusterConfiguration\ncontrollerManager:\n  extraArgs:\n    node-cidr-mask-size: "${net.podCIDRMaskSize}"\n`,
    );
  }
  return {
    kind: 'Cluster',
    apiVersion: 'kind.x-k8s.io/v1alpha4',
    name: opts.clusterName,
    networking: {
      kubeProxyMode: opts.proxyMode,
      podSubnet: net.podSubnet,
      serviceSubnet: net.serviceSubnet,
    },
    kubeadmConfigPatches: patches,
    nodes: topo.nodes.map((n, i) => ({
      role: i === 0 ? 'control-plane' : 'worker',
      ...(opts.nodeImage ? { image: opts.nodeImage } : {}),
      labels: { ...n.labels, [TOPOLOGY_NODE_LABEL]: n.name },
    })),
  };
}

export function kindConfigYaml(topo: Topology, opts: KindConfigOptions): string {
  return stringify(kindConfig(topo, opts), { lineWidth: 0, singleQuote: true });
}
