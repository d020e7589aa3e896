import { agentServiceHealth } from '../common/service-health.js';
import { LabError, type ExecOptions, type ExecResult } from '../../exec/index.js';
import type { Topology } from '../../model/types.js';
import type { NodeContext } from '../../proxy/types.js';
import { labTargets } from '../common/lab-targets.js';
import type { DownReport, LabBackend, LabTarget } from '../provider.js';
import { agentLogsOf, agentSocketOf, isAgentOf, type LabState } from '../state.js';
import { containerExec } from './exec.js';
import { containerName } from './labels.js';
import { dockerNodeContext } from './node.js';
import { podNetns } from './provision.js';
import { teardownDockerLab } from './teardown.js';

/** The docker provider's view of one lab: nodes and external hosts are containers, pods are namespaces in their node's container. */
export class DockerBackend implements LabBackend {
  readonly provider = 'docker';

  constructor(
    readonly labName: string,
    private readonly topo: () => Topology,
    private readonly state: () => LabState,
  ) {}

  targets(): LabTarget[] {
    return labTargets(this.topo());
  }

  /** The container a target lives in, and for a pod its namespace there (hostNetwork pods: none). */
  placeOf(target: string | LabTarget): { container: string; netns?: string | undefined } {
    const t = typeof target === 'string' ? this.targets().find((x) => x.name === target) : target;
    if (!t)
      throw new LabError(`no node, pod or external host named "${target}" in lab ${this.labName}`);
    if (t.kind !== 'pod') return { container: containerName(this.labName, t.name) };
    return {
      container: containerName(this.labName, t.node!),
      netns: t.hostNetwork ? undefined : podNetns(t.name),
    };
  }

  exec(
    target: string,
    file: string,
    args: readonly string[],
    opts: Omit<ExecOptions, 'netns'> = {},
  ): Promise<ExecResult> {
    const { container, netns } = this.placeOf(target);
    return containerExec(container, file, args, { ...opts, netns, lab: this.labName });
  }

  nodeContext(node: string): NodeContext {
    const topo = this.topo();
    const n = topo.nodes.find((x) => x.name === node);
    if (!n) throw new LabError(`no node "${node}" in lab ${this.labName}`);
    return {
      ...dockerNodeContext(this.labName, topo, n),
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
    const show = async (args: string[]) =>
      (await this.exec(target, 'ip', args, { allowFailure: true })).stdout;
    const [addr, route, neigh, link] = await Promise.all([
      show(['addr', 'show']),
      show(['route', 'show', 'table', 'all']),
      show(['neigh', 'show']),
      show(['-s', 'link', 'show']),
    ]);
    return { 'ip-addr': addr, 'ip-route': route, 'ip-neigh': neigh, 'ip-link': link };
  }

  /** Stops the pod's agent and deletes its namespace in the node container (its veth and /32 route go with it). */
  async deletePod(target: LabTarget): Promise<void> {
    const pod = target.name;
    const st = this.state();
    const { container, netns } = this.placeOf(target);
    const agent = st.agents.find((a) => a.target === pod);
    if (agent) {
      if (isAgentOf(agent.pid, this.labName)) process.kill(agent.pid, 'SIGKILL');
      st.agents = st.agents.filter((a) => a !== agent);
    }
    if (netns)
      await containerExec(container, 'ip', ['netns', 'del', netns], {
        lab: this.labName,
        allowFailure: true,
      });
  }

  teardown(): Promise<DownReport> {
    return teardownDockerLab(this.labName);
  }
}
