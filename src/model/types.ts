/**
 * The resolved topology: what a provider builds and a proxy programs. Produced from a
 * topology file by `loadTopology` (parse → validate → allocate addresses); every address here
 * is concrete. Field names follow the Kubernetes API where a Kubernetes object exists.
 */

export type Protocol = 'TCP' | 'UDP';
export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer';
export type TrafficPolicy = 'Cluster' | 'Local';
export type SessionAffinity = 'None' | 'ClientIP';
export type TrafficDistribution = 'PreferClose' | 'PreferSameZone' | 'PreferSameNode';

export interface Networking {
  /** The node network (the "physical" L2 segment nodes and external hosts share). */
  nodeSubnet: string;
  /** Cluster pod CIDR; each node gets a /podCIDRMaskSize slice of it. */
  podSubnet: string;
  podCIDRMaskSize: number;
  serviceSubnet: string;
}

export interface NodeSpec {
  name: string;
  /** The node's address on the node network. */
  ip: string;
  /** This node's slice of the pod subnet. */
  podCIDR: string;
  labels: Record<string, string>;
}

export interface ContainerPort {
  name?: string | undefined;
  containerPort: number;
  protocol: Protocol;
}

export interface PodSpec {
  name: string;
  /** Name of the node the pod runs on. */
  node: string;
  /** Pod IP: from the node's podCIDR, or the node IP for hostNetwork pods. */
  ip: string;
  hostNetwork: boolean;
  labels: Record<string, string>;
  ports: ContainerPort[];
  /** Readiness as the endpoints controller sees it; false keeps the pod out of ready endpoints. */
  ready: boolean;
  /** A pod being deleted: its endpoint is terminating (serving = ready). */
  terminating: boolean;
}

export interface ServicePort {
  name: string;
  protocol: Protocol;
  port: number;
  /** Container port number or the name of a container port. */
  targetPort: number | string;
  /** Set for NodePort and LoadBalancer Services. */
  nodePort?: number | undefined;
  /**
   * True when svclab chose the nodePort (the file left it out). A real cluster's API server
   * allocates such ports itself and the lab records what it got; absent or false: the file
   * pinned it, and every provider asks for exactly that port.
   */
  nodePortAllocated?: boolean | undefined;
}

export interface ServiceSpec {
  name: string;
  namespace: string;
  type: ServiceType;
  clusterIP: string;
  /**
   * True when svclab chose the clusterIP (the file left it out). On a real cluster such an
   * address is not requested: svclab's choice may belong to something else there (kube-dns holds
   * the 10th address of the range on kind and kubeadm clusters), so the API server allocates and
   * the lab records what it got. Absent or false: the file pinned it, and it is requested as is.
   */
  clusterIPAllocated?: boolean | undefined;
  ports: ServicePort[];
  selector: Record<string, string>;
  sessionAffinity: SessionAffinity;
  /** sessionAffinityConfig.clientIP.timeoutSeconds; Kubernetes' default is 10800. */
  sessionAffinityTimeoutSeconds: number;
  externalIPs: string[];
  externalTrafficPolicy: TrafficPolicy;
  internalTrafficPolicy: TrafficPolicy;
  /** status.loadBalancer.ingress[].ip */
  loadBalancerIPs: string[];
  /**
   * spec.healthCheckNodePort: set for type LoadBalancer with externalTrafficPolicy Local only
   * (pkg/api/v1/service/util.go NeedsHealthCheck), where kube-proxy answers health checks on it.
   */
  healthCheckNodePort?: number | undefined;
  /** True when svclab chose it (the file left it out): the API server allocates it instead. */
  healthCheckNodePortAllocated?: boolean | undefined;
  /**
   * spec.trafficDistribution; absent when unset. kube-proxy never reads it: the EndpointSlice
   * controller turns it into endpoint hints (src/cluster/traffic-distribution.ts), which it reads.
   */
  trafficDistribution?: TrafficDistribution | undefined;
  /**
   * spec.loadBalancerSourceRanges as written: the clients kube-proxy lets reach the
   * load-balancer IPs (empty: everyone). What a proxy makes of them is ServicePortInfo's.
   */
  loadBalancerSourceRanges: string[];
}

/** A host on the node network outside the cluster (a client of NodePorts and external IPs). */
export interface ExternalHostSpec {
  name: string;
  ip: string;
  /**
   * Extra routes the host has: external IPs and LoadBalancer IPs routed to a node, as an
   * upstream router or a cloud load balancer would.
   */
  routes: { to: string; via: string }[];
}

export interface ValidationIssue {
  /** Where in the file, e.g. `spec.services[2].ports[0].nodePort`. */
  path: string;
  message: string;
  severity: 'error' | 'warning';
}

export interface Topology {
  apiVersion: 'svclab.dev/v1alpha1';
  kind: 'Topology';
  name: string;
  networking: Networking;
  nodes: NodeSpec[];
  pods: PodSpec[];
  services: ServiceSpec[];
  externalHosts: ExternalHostSpec[];
  /** Problems that do not stop a lab (e.g. a selector that matches no pod). */
  warnings: ValidationIssue[];
}

export function serviceKey(s: Pick<ServiceSpec, 'namespace' | 'name'>): string {
  return `${s.namespace}/${s.name}`;
}

/** The Node label zone hints are made from and kube-proxy reads (core/v1 LabelTopologyZone). */
export const LABEL_TOPOLOGY_ZONE = 'topology.kubernetes.io/zone';

/** A node's zone, its topology.kubernetes.io/zone label; '' when it has none. */
export function nodeZone(node: Pick<NodeSpec, 'labels'>): string {
  return node.labels[LABEL_TOPOLOGY_ZONE] ?? '';
}
