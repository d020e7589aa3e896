import type { ExecOptions, ExecResult } from '../exec/index.js';
import type { Protocol, ServicePort, ServiceSpec } from '../model/types.js';
import type { HealthCheckService, HealthCheckSyncResult } from '../traffic/protocol.js';

export const PROXY_MODES = ['iptables', 'nftables', 'ipvs'] as const;
export type ProxyMode = (typeof PROXY_MODES)[number];

/** One endpoint of one Service port, as an EndpointSlice endpoint carries it. */
export interface Endpoint {
  ip: string;
  /** The resolved target port. */
  port: number;
  protocol: Protocol;
  nodeName: string;
  podName: string;
  /** EndpointSlice conditions. */
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  /** The endpoint's zone: its Node's topology.kubernetes.io/zone label; absent when none. */
  zone?: string | undefined;
  /**
   * hints.forZones and hints.forNodes, by name; absent when empty (kube-proxy's ZoneHints() and
   * NodeHints(), pkg/proxy/endpoint.go). The EndpointSlice controller writes them for Services
   * with a trafficDistribution; kube-proxy filters by them (service-port.ts topologyMode).
   */
  zoneHints?: readonly string[] | undefined;
  nodeHints?: readonly string[] | undefined;
}

/** A Service port with its endpoints: the unit kube-proxy programs (its ServicePortName). */
export interface ServicePortState {
  service: ServiceSpec;
  port: ServicePort;
  /** `<namespace>/<name>:<port name>`, as kube-proxy names it in rule comments. */
  name: string;
  endpoints: Endpoint[];
}

/** The desired state of the whole cluster; each node's proxy picks what concerns it. */
export interface ProxyState {
  servicePorts: ServicePortState[];
}

/** What a node's proxy needs to know about the node it runs on, and how to run commands there. */
export interface NodeContext {
  nodeName: string;
  nodeIP: string;
  /** This node's pod CIDR. */
  podCIDR: string;
  /** The cluster-wide pod CIDR (kube-proxy's --cluster-cidr), for the masquerade-outside rule. */
  clusterCIDR: string;
  serviceCIDR: string;
  /**
   * The node's topology.kubernetes.io/zone label, which kube-proxy reads from its Node
   * (NodeTopologyConfig, pkg/proxy/config) to pick zone-hinted endpoints; '' or absent: none.
   */
  zone?: string | undefined;
  /** Runs a program inside the node (its network namespace or container). */
  exec(
    file: string,
    args: readonly string[],
    opts?: Omit<ExecOptions, 'netns'>,
  ): Promise<ExecResult>;
  /** Reads a file as seen from inside the node (e.g. /proc/net/nf_conntrack). */
  readFile(path: string): Promise<string>;
  /**
   * Hands the node's service health server (run by the node's agent, in the node's namespace)
   * the health checks it answers. Absent where nothing can serve them (a fidelity twin, a bench):
   * the proxy then programs rules only.
   */
  syncServiceHealth?(
    services: HealthCheckService[],
    serviceProxyHealthy: boolean,
  ): Promise<HealthCheckSyncResult>;
}

export interface ProxyOptions {
  /** iptables mode: which iptables command backend writes the rules. */
  iptablesBackend?: 'nft' | 'legacy';
  /** iptables mode: rewrite everything each sync, or only changed Services (kube-proxy 1.26+). */
  syncStrategy?: 'full' | 'partial';
  /**
   * iptables mode: kube-proxy's iptables.localhostNodePorts (default true): NodePorts answer on
   * 127.0.0.1, which needs route_localnet=1 and the KUBE-FIREWALL rule that limits it.
   */
  iptablesLocalhostNodePorts?: boolean;
  /** ipvs mode: scheduler for virtual servers. */
  ipvsScheduler?: 'rr' | 'wrr' | 'lc' | 'sh';
  /** ipvs mode: connection timeouts in seconds (kube-proxy's --ipvs-*-timeout); 0 or unset keeps the kernel's. */
  ipvsTimeouts?: { tcp?: number; tcpFin?: number; udp?: number };
}

/** What one sync wrote and what it cost. */
export interface SyncResult {
  mode: ProxyMode;
  strategy: 'full' | 'partial' | 'incremental';
  durationMs: number;
  /** Counts of what the transaction wrote (rules, chains, set elements, virtual servers...). */
  written: Record<string, number>;
  /** Processes spawned for this sync (restores, nft, ipset...). */
  commands: number;
  /** Things the user should know, e.g. stale conntrack entries that could not be deleted. */
  notes: string[];
}

/** One node's Service proxy: plan from desired state, apply in one transaction, dump. */
export interface NodeProxy {
  readonly mode: ProxyMode;
  /** One-time setup of the node: sysctls, base chains, kernel modules present. */
  install(): Promise<void>;
  /** Programs the node for `state`. `full` forces a full rewrite even for partial-capable modes. */
  sync(state: ProxyState, opts?: { full?: boolean }): Promise<SyncResult>;
  /** Sections of the node's dataplane state as text (section name → contents). */
  dump(): Promise<Record<string, string>>;
}

export type ProxyFactory = (ctx: NodeContext, options: ProxyOptions) => NodeProxy;
