import { labTargets } from '../common/lab-targets.js';
import { join } from 'node:path';
import { LabError, type ExecOptions, type ExecResult } from '../../exec/index.js';
import type { Topology } from '../../model/types.js';
import type { NodeContext } from '../../proxy/types.js';
import type { DownReport, LabBackend, LabTarget } from '../provider.js';
import { labDir } from '../state.js';
import type { KubeApi } from './api.js';
import { AgentBridge } from './exec-bridge.js';
import { AGENT_CONTAINER, nodeAgentPod } from './names.js';

export type RunIn = (
  file: string,
  args: readonly string[],
  opts?: Omit<ExecOptions, 'netns'>,
) => Promise<ExecResult>;

/** Where an agent runs: in a lab pod (reached through an exec bridge) or behind a local socket. */
export type AgentLocation =
  { kind: 'pod'; pod: string } | { kind: 'socket'; path: string; exec: RunIn; ip: string };

/** What differs between the cluster providers; everything else is shared. */
export interface ClusterEnvironment {
  provider: 'kind' | 'kubeconfig';
  api: KubeApi;
  namespace: string;
  /** Runs a command on a node (kind: in the node container; kubeconfig: in its agent pod, or a privileged debug pod). */
  nodeExec(node: string): RunIn;
  /** External hosts: where their agents are, or why there are none. */
  external(ext: string): AgentLocation;
  /** Removes what the lab created; the namespace is removed by the caller. */
  teardown(): Promise<DownReport>;
}

/**
 * A lab on a Kubernetes cluster: pods are agnhost pods with an agent sidecar, nodes are reached
 * through a hostNetwork agent pod each, external hosts depend on the provider. Addresses are the
 * cluster's (observed), not the topology file's.
 */
export class ClusterBackend implements LabBackend {
  private readonly bridges = new Map<string, AgentBridge>();

  constructor(
    readonly labName: string,
    private readonly topo: () => Topology,
    readonly env: ClusterEnvironment,
  ) {}

  get provider(): string {
    return this.env.provider;
  }

  targets(): LabTarget[] {
    return labTargets(this.topo());
  }

  private target(name: string): LabTarget {
    const t = this.targets().find((x) => x.name === name);
    if (!t)
      throw new LabError(`no node, pod or external host named "${name}" in lab ${this.labName}`);
    return t;
  }

  /** The agent of a target: pods have their own, hostNetwork pods and nodes share the node's. */
  location(name: string): AgentLocation {
    const t = this.target(name);
    if (t.kind === 'external') return this.env.external(name);
    if (t.kind === 'node') return { kind: 'pod', pod: nodeAgentPod(name) };
    return t.hostNetwork ? { kind: 'pod', pod: nodeAgentPod(t.node!) } : { kind: 'pod', pod: name };
  }

  exec(
    target: string,
    file: string,
    args: readonly string[],
    opts: Omit<ExecOptions, 'netns'> = {},
  ): Promise<ExecResult> {
    const t = this.target(target);
    if (t.kind === 'node') return this.env.nodeExec(target)(file, args, opts);
    const loc = this.location(target);
    if (loc.kind === 'socket') return loc.exec(file, args, opts);
    return this.env.api.exec(this.env.namespace, loc.pod, AGENT_CONTAINER, [file, ...args], opts);
  }

  nodeContext(node: string): NodeContext {
    const n = this.topo().nodes.find((x) => x.name === node);
    if (!n) throw new LabError(`no node "${node}" in lab ${this.labName}`);
    const net = this.topo().networking;
    const exec = this.env.nodeExec(node);
    return {
      nodeName: n.name,
      nodeIP: n.ip,
      podCIDR: n.podCIDR,
      clusterCIDR: net.podSubnet,
      serviceCIDR: net.serviceSubnet,
      exec,
      readFile: async (path) => (await exec('cat', [path])).stdout,
    };
  }

  /** Opens a local socket per agent; call before the Lab is used (agentSocket is synchronous). */
  async openBridges(): Promise<void> {
    const pods = new Set<string>();
    for (const t of this.targets()) {
      const loc = this.location(t.name);
      if (loc.kind === 'pod') pods.add(loc.pod);
    }
    for (const pod of pods) {
      if (this.bridges.has(pod)) continue;
      const path = join(labDir(this.labName), 'agents', `${pod}.${process.pid}.sock`);
      this.bridges.set(
        pod,
        await AgentBridge.open(
          this.env.api,
          { namespace: this.env.namespace, pod, container: AGENT_CONTAINER },
          path,
        ),
      );
    }
  }

  agentSocket(target: string): string {
    const loc = this.location(target);
    if (loc.kind === 'socket') return loc.path;
    const bridge = this.bridges.get(loc.pod);
    if (!bridge)
      throw new LabError(
        `no agent bridge for ${target} (pod ${loc.pod}) in lab ${this.labName}: was the lab synced?`,
      );
    return bridge.path;
  }

  async networkDump(target: string): Promise<Record<string, string>> {
    const show = async (args: string[]) =>
      (await this.exec(target, 'ip', args, { allowFailure: true })).stdout;
    return {
      'ip-addr': await show(['addr', 'show']),
      'ip-route': await show(['route', 'show', 'table', 'all']),
      'ip-neigh': await show(['neigh', 'show']),
    };
  }

  /** Agent logs are container logs here; dumps collect them from the API (diagnostics.ts). */
  agentLogs(): Record<string, string> {
    return {};
  }

  async deletePod({ name: pod }: LabTarget): Promise<void> {
    // The pod itself went with Lab.update (ClusterLab.sync); only its bridge is left.
    const bridge = this.bridges.get(pod);
    this.bridges.delete(pod);
    await bridge?.close();
  }

  async closeBridges(): Promise<void> {
    const all = [...this.bridges.values()];
    this.bridges.clear();
    await Promise.all(all.map((b) => b.close()));
  }

  async teardown(): Promise<DownReport> {
    await this.closeBridges();
    return this.env.teardown();
  }
}
