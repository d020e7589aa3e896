import type Docker from 'dockerode';
import { mapLimit } from '../../exec/index.js';
import type { ExternalHostSpec, NodeSpec, Topology } from '../../model/types.js';
import {
  NODE_SYSCTLS,
  nodeRoutingBatch,
  podInterfaceBatch,
  podsWithNetns,
  sysctlScript,
} from '../common/pod-network.js';
import { podVethName } from '../common/names.js';
import { docker } from './client.js';
import { containerExec } from './exec.js';
import { externalRoutesScript, planExternalContainer, startExternalHost } from './external.js';
import { containerName } from './labels.js';
import { createLabNetwork, planNetwork } from './network.js';
import { planNodeContainer, type ContainerPlanOptions } from './node.js';

/** A pod's network namespace inside its node container (`ip netns exec <pod> ...` there). */
export function podNetns(pod: string): string {
  return pod;
}

/**
 * Everything a docker lab will create, as data: the network, one container per node with the
 * shell that wires its pods, one container per external host with its routes.
 */
export interface DockerLabPlan {
  network: Docker.NetworkCreateOptions;
  nodes: { node: NodeSpec; container: Docker.ContainerCreateOptions; wiring: string }[];
  externals: { ext: ExternalHostSpec; container: Docker.ContainerCreateOptions; routes: string }[];
}

export function planDockerLab(
  lab: string,
  topo: Topology,
  opts: ContainerPlanOptions,
): DockerLabPlan {
  return {
    network: planNetwork(lab, topo),
    nodes: topo.nodes.map((node) => ({
      node,
      container: planNodeContainer(lab, node, opts),
      wiring: nodeWiringScript(topo, node),
    })),
    externals: topo.externalHosts.map((ext) => ({
      ext,
      container: planExternalContainer(lab, ext, opts),
      routes: externalRoutesScript(ext),
    })),
  };
}

/**
 * Run inside a node container (Docker already put `eth0` with the node IP on the lab network):
 * one namespace and veth pair per pod, the node's sysctls (after the veths exist, so the
 * rp_filter glob covers them), then the same routing as the netns lab
 * (src/cluster/common/pod-network.ts), one `ip -batch` per namespace.
 */
export function nodeWiringScript(topo: Topology, node: NodeSpec): string {
  const pods = podsWithNetns(topo, node.name);
  const heredoc = (cmd: string, lines: string[]) =>
    lines.length > 0 ? [`${cmd} <<'EOF'`, ...lines, 'EOF'] : [];
  return [
    'set -e',
    ...heredoc(
      'ip -batch -',
      pods.flatMap((p) => [
        `netns add ${podNetns(p.name)}`,
        `link add eth0 netns ${podNetns(p.name)} type veth peer name ${podVethName(p.name)}`,
      ]),
    ),
    ...sysctlScript(NODE_SYSCTLS),
    ...heredoc('ip -batch -', nodeRoutingBatch(topo, node)),
    ...pods.flatMap((p) => heredoc(`ip -n ${podNetns(p.name)} -batch -`, podInterfaceBatch(p))),
  ].join('\n');
}

/** Container ids by target, recorded in the lab state as they are created. */
export interface DockerLabRecord {
  network?: { id: string; name: string } | undefined;
  containers: Record<string, { id: string; name: string; role: 'node' | 'ext' }>;
}

/**
 * Creates the network, the node containers (wired in parallel) and the external hosts.
 * `record` is called after each object exists so a failure part-way leaves a state that says what
 * to remove (and everything is labelled besides).
 */
export async function provisionDockerLab(
  lab: string,
  topo: Topology,
  opts: ContainerPlanOptions,
  record: (r: DockerLabRecord) => Promise<void>,
): Promise<string> {
  const plan = planDockerLab(lab, topo, opts);
  const rec: DockerLabRecord = { containers: {} };
  rec.network = await createLabNetwork(lab, topo);
  await record(rec);

  await mapLimit(plan.nodes, 4, async ({ node, container }) => {
    const c = await docker().createContainer(container);
    rec.containers[node.name] = { id: c.id, name: containerName(lab, node.name), role: 'node' };
    await c.start();
  });
  await record(rec);
  await mapLimit(plan.nodes, 4, ({ node, wiring }) =>
    containerExec(containerName(lab, node.name), 'sh', ['-c', wiring], { lab }),
  );

  await mapLimit(plan.externals, 4, async ({ ext, routes }) => {
    const started = await startExternalHost(lab, ext, opts);
    rec.containers[ext.name] = {
      id: started.getId(),
      name: containerName(lab, ext.name),
      role: 'ext',
    };
    await containerExec(containerName(lab, ext.name), 'sh', ['-c', routes], { lab });
  });
  await record(rec);
  const pods = podsWithNetns(topo).length;
  return `network ${plan.network.Name}, ${plan.nodes.length} nodes with ${pods} pods, ${plan.externals.length} external hosts`;
}
