import type { ExecOptions, ExecResult } from '../exec/index.js';
import type { Topology } from '../model/types.js';
import type { NodeContext, ProxyMode, ProxyOptions } from '../proxy/types.js';
import type { ProgressOutput } from './phases.js';
import type { Lab } from './lab.js';
import type { KubeBinariesOptions } from '../kube/binaries.js';
import type { ControlPlane } from '../controlplane/handle.js';

export type TargetKind = 'node' | 'pod' | 'external';

/** A place in the lab where commands and the agent run. */
export interface LabTarget {
  name: string;
  kind: TargetKind;
  ip: string;
  /** The node a pod runs on (a hostNetwork pod shares its node's namespace and agent). */
  node?: string | undefined;
  hostNetwork?: boolean | undefined;
}

export interface RealProxyOptions {
  mode: 'iptables' | 'nftables' | 'ipvs';
  binary?: string | undefined;
  command?: string | undefined;
  /** kube-proxy's periodic resync (KubeProxyConfiguration syncPeriod; default 30s). */
  syncPeriod?: string | undefined;
  /**
   * The nodes that run it (default: every node). A node's rules depend only on the API, not on
   * the other nodes' proxies, so a run that looks at one node (svclab fidelity) runs one.
   */
  nodes?: readonly string[] | undefined;
}

export interface UpOptions {
  /** Lab name; defaults to the topology's metadata.name. */
  name?: string | undefined;
  proxy: ProxyMode | 'none';
  proxyOptions?: ProxyOptions | undefined;
  topologyFile?: string | undefined;
  progress?: ProgressOutput | undefined;
  /** Keep what was created when a phase fails (for debugging); default: tear it down. */
  keepOnFailure?: boolean | undefined;
  /** Marks a lab made by the test harness, swept once its owner process is gone. */
  ephemeral?: boolean | undefined;
  /** Runs etcd, kube-apiserver and kube-controller-manager in the lab; the lab is their kubelet. */
  controlPlane?: boolean | undefined;
  /** Which Kubernetes binaries a control plane uses (release, or a folder of the user's). */
  kube?: KubeBinariesOptions | undefined;
  /**
   * kube-apiserver --service-node-port-range (default the model's 30000-32767). The scale bench
   * widens it: one NodePort in ten Services is 5,000 NodePorts at 50,000 Services.
   */
  nodePortRange?: { min: number; max: number } | undefined;
  /**
   * Runs the real kube-proxy on every node (needs the control plane) instead of svclab's planners:
   * the pinned build, a user's `binary`, or any proxy through a `command` template
   * (src/kubelet/proxy-command.ts); `mode` is the data plane it programs.
   */
  kubeProxy?: RealProxyOptions | undefined;
}

export interface DownReport {
  lab: string;
  removed: string[];
  /** Cleanup steps that failed; the rest still ran. */
  errors: string[];
}

/**
 * What a provider does for one running lab: everything that depends on where nodes live
 * (namespaces, containers, a real cluster). The Lab handle builds proxies, probes and dumps on it.
 */
export interface LabBackend {
  readonly provider: string;
  readonly labName: string;
  targets(): LabTarget[];
  /** Runs a program inside a node, pod or external host. */
  exec(
    target: string,
    file: string,
    args: readonly string[],
    opts?: Omit<ExecOptions, 'netns'>,
  ): Promise<ExecResult>;
  /** How a node's Service proxy reaches its node. */
  nodeContext(node: string): NodeContext;
  /** Path of the agent's control socket for a target. */
  agentSocket(target: string): string;
  /** Network state of a target for dumps (addresses, routes, neighbours...). */
  networkDump(target: string): Promise<Record<string, string>>;
  /** Agent log files by target. */
  agentLogs(): Record<string, string>;
  /** Removes a pod from the running lab (stops its agent, deletes its namespace or container). */
  deletePod?(pod: LabTarget): Promise<void>;
  /** Removes everything the lab created. */
  teardown(): Promise<DownReport>;
  /** The lab's control plane, when it has one (then the API is how the lab changes). */
  controlPlane?(): ControlPlane | undefined;
}

/** A provider turns a Topology into a running Lab and finds or removes labs later. */
export interface Provider {
  readonly name: string;
  up(topology: Topology, opts: UpOptions): Promise<Lab>;
  /** Reconnects to a lab created earlier (e.g. by `svclab up` in another process). */
  attach(labName: string): Promise<Lab>;
  down(labName: string): Promise<DownReport>;
  /** Names of this provider's labs on this machine. */
  list(): Promise<string[]>;
  /** Removes what crashed runs left: labs whose state is broken or whose ephemeral owner died. */
  sweep(opts?: { all?: boolean }): Promise<DownReport[]>;
}
