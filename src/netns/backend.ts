import { readFile } from 'node:fs/promises';
import { LabError, run, type ExecOptions } from '../exec/index.js';
import { nodeZone, type Topology } from '../model/types.js';
import type { NodeContext } from '../proxy/types.js';
import type { DownReport, LabBackend, LabTarget } from '../cluster/provider.js';
import { agentLogsOf, agentSocketOf, type LabState } from '../cluster/state.js';
import { labTargets } from '../cluster/common/lab-targets.js';
import { agentServiceHealth } from '../cluster/common/service-health.js';
import { netnsName } from './names.js';
import { teardownLab } from './teardown.js';
import { killAll } from './processes.js';
import { controlPlaneOf, type ControlPlane } from '../controlplane/handle.js';

/** The netns provider's view of one lab: every target is a network namespace on this host. */
export class NetnsBackend implements LabBackend {
  readonly provider = 'netns';

  constructor(
    readonly labName: string,
    private readonly topo: () => Topology,
    private readonly state: () => LabState,
  ) {}

  targets(): LabTarget[] {
    return labTargets(this.topo());
  }

  netnsOf(target: string): string {
    const t = this.targets().find((x) => x.name === target);
    if (!t)
      throw new LabError(`no node, pod or external host named "${target}" in lab ${this.labName}`);
    if (t.kind === 'node') return netnsName(this.labName, 'node', t.name);
    if (t.kind === 'external') return netnsName(this.labName, 'ext', t.name);
    return t.hostNetwork
      ? netnsName(this.labName, 'node', t.node!)
      : netnsName(this.labName, 'pod', t.name);
  }

  exec(
    target: string,
    file: string,
    args: readonly string[],
    opts: Omit<ExecOptions, 'netns'> = {},
  ) {
    return run(file, args, { ...opts, netns: this.netnsOf(target) });
  }

  nodeContext(node: string): NodeContext {
    const n = this.topo().nodes.find((x) => x.name === node);
    if (!n) throw new LabError(`no node "${node}" in lab ${this.labName}`);
    const netns = this.netnsOf(node);
    const net = this.topo().networking;
    return {
      nodeName: n.name,
      nodeIP: n.ip,
      podCIDR: n.podCIDR,
      clusterCIDR: net.podSubnet,
      serviceCIDR: net.serviceSubnet,
      zone: nodeZone(n),
      exec: (file, args, opts) => run(file, args, { ...opts, netns }),
      // /proc/net is per network namespace of the reader: read through the node's agent-free path.
      readFile: async (path) => (await run('cat', [path], { netns })).stdout,
      syncServiceHealth: agentServiceHealth(n.name, () => this.agentSocket(n.name)),
    };
  }

  agentSocket(target: string): string {
    return agentSocketOf(this.state(), target);
  }

  agentLogs(): Record<string, string> {
    return agentLogsOf(this.state());
  }

  async networkDump(target: string): Promise<Record<string, string>> {
    const netns = this.netnsOf(target);
    const show = async (args: string[]) =>
      (await run('ip', ['-n', netns, ...args], { allowFailure: true })).stdout;
    const [addr, route, neigh, link] = await Promise.all([
      show(['addr', 'show']),
      show(['route', 'show', 'table', 'all']),
      show(['neigh', 'show']),
      show(['-s', 'link', 'show']),
    ]);
    return { 'ip-addr': addr, 'ip-route': route, 'ip-neigh': neigh, 'ip-link': link };
  }

  async deletePod({ name: pod }: LabTarget): Promise<void> {
    const st = this.state();
    const agent = st.agents.find((a) => a.target === pod);
    if (agent) {
      await killAll([agent.pid]);
      st.agents = st.agents.filter((a) => a !== agent);
    }
    const netns = netnsName(this.labName, 'pod', pod);
    await run('ip', ['netns', 'del', netns], { allowFailure: true });
    st.namespaces = st.namespaces.filter((n) => n !== netns);
  }

  teardown(): Promise<DownReport> {
    this.cp?.close();
    return teardownLab(this.labName);
  }

  private cp: ControlPlane | undefined;
  controlPlane(): ControlPlane | undefined {
    this.cp ??= controlPlaneOf(this.labName, this.state().extra);
    return this.cp;
  }

  static async readLog(path: string): Promise<string> {
    return readFile(path, 'utf8').catch(() => '');
  }
}
