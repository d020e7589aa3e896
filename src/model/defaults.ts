/**
 * Defaults and fixed ranges of the topology format, in one place: the resolver applies them and
 * the JSON Schema advertises them, so the two cannot drift.
 */
export const API_VERSION = 'svclab.dev/v1alpha1';
export const KIND = 'Topology';

export const NETWORKING_DEFAULTS = {
  nodeSubnet: '172.18.0.0/24',
  podSubnet: '10.244.0.0/16',
  podCIDRMaskSize: 24,
  serviceSubnet: '10.96.0.0/16',
} as const;

export const DEFAULT_NAMESPACE = 'default';
export const DEFAULT_PROTOCOL = 'TCP';
export const DEFAULT_SERVICE_TYPE = 'ClusterIP';
export const DEFAULT_TRAFFIC_POLICY = 'Cluster';
export const DEFAULT_SESSION_AFFINITY = 'None';
/**
 * The values kube-apiserver v1.37 takes for spec.trafficDistribution (validation.go
 * validateServiceTrafficDistribution; PreferSameZone and PreferSameNode since the
 * PreferSameTrafficDistribution gate went GA in 1.35). PreferClose is PreferSameZone's old name.
 */
export const TRAFFIC_DISTRIBUTIONS = ['PreferClose', 'PreferSameZone', 'PreferSameNode'] as const;
/** Kubernetes' DefaultClientIPServiceAffinitySeconds (3 hours). */
export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;
/** Kubernetes' MaxClientIPServiceAffinitySeconds (1 day). */
export const MAX_AFFINITY_TIMEOUT_SECONDS = 86400;

/** The API server's default --service-node-port-range. */
export const NODE_PORT_RANGE = { min: 30000, max: 32767 } as const;

/** Names become network namespace names `<lab>-<name>`; keep them short enough to read. */
export const MAX_LAB_NAME = 20;
export const MAX_OBJECT_NAME = 40;
/** Kubernetes' limit for Service names, namespaces and port names (DNS labels). */
export const MAX_DNS_LABEL = 63;

/** Address offsets inside subnets; .0 is the network address and .1 the gateway. */
export const OFFSETS = {
  /** First node address in nodeSubnet (.1 is the node network's gateway). */
  firstNode: 2,
  /** First external host address in nodeSubnet, well clear of the nodes. */
  firstExternalHost: 200,
  /** First pod address in a node's podCIDR (.1 is the node's side of the pod network). */
  firstPod: 2,
  /**
   * First dynamically allocated clusterIP. .1 is the `kubernetes` Service; the addresses below
   * .10 stay free for clusterIPs written in the file, the way Kubernetes keeps the low band of
   * the range for static allocation (KEP-3070).
   */
  firstClusterIP: 10,
} as const;
