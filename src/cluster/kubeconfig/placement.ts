import type { V1Node } from '@kubernetes/client-node';
import { LabError } from '../../exec/index.js';
import type { Topology } from '../../model/types.js';
import type { NodePlacement } from './manifests.js';

/**
 * How topology nodes map onto a real cluster's nodes:
 * - `names`: topology node -> cluster node name, given by the user;
 * - `label`: the cluster nodes carry `<label>=<topology node name>` (kind's nodes do, with
 *   `svclab.dev/node`);
 * - `spread`: topology nodes go round-robin over the Ready, schedulable cluster nodes, sorted by
 *   name (with fewer cluster nodes than topology nodes, several topology nodes share one, and
 *   cross-node paths become same-node ones: the lab reports it).
 */
export type PlacementSpec =
  | { kind: 'names'; names: Record<string, string> }
  | { kind: 'label'; label: string }
  | { kind: 'spread' };

export interface Placement {
  /** Topology node -> cluster node name. */
  nodes: Record<string, string>;
  /** Topology node -> nodeSelector for its pods. */
  selectors: NodePlacement;
  notes: string[];
}

function usable(n: V1Node): boolean {
  const ready =
    n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  return ready && !n.spec?.unschedulable;
}

const HOSTNAME = 'kubernetes.io/hostname';

/**
 * The nodeSelector that pins a pod to this Node: its `kubernetes.io/hostname` label, which is the
 * kubelet's hostname and not always the Node's name (--hostname-override, cloud providers that
 * name Nodes), so selecting by the name would select nothing there.
 */
export function hostnameSelector(n: V1Node): Record<string, string> {
  return { [HOSTNAME]: n.metadata?.labels?.[HOSTNAME] ?? n.metadata?.name ?? '' };
}

/** Pure: maps topology nodes onto the listed cluster nodes; throws naming every problem. */
export function placeNodes(topo: Topology, clusterNodes: V1Node[], spec: PlacementSpec): Placement {
  const byName = new Map(clusterNodes.map((n) => [n.metadata?.name ?? '', n]));
  const nodes: Record<string, string> = {};
  const problems: string[] = [];
  const notes: string[] = [];
  if (spec.kind === 'names') {
    for (const t of topo.nodes) {
      const name = spec.names[t.name];
      if (!name)
        problems.push(`topology node ${t.name} has no cluster node (give ${t.name}=<node>)`);
      else if (!byName.has(name))
        problems.push(`cluster node ${name} (for ${t.name}) does not exist`);
      else nodes[t.name] = name;
    }
  } else if (spec.kind === 'label') {
    for (const t of topo.nodes) {
      const match = clusterNodes.filter((n) => n.metadata?.labels?.[spec.label] === t.name);
      if (match.length !== 1)
        problems.push(
          `${match.length} cluster nodes are labelled ${spec.label}=${t.name} (want exactly 1)`,
        );
      else nodes[t.name] = match[0]!.metadata!.name!;
    }
  } else {
    const pool = clusterNodes
      .filter(usable)
      .map((n) => n.metadata!.name!)
      .sort();
    if (pool.length === 0) problems.push('the cluster has no Ready, schedulable node');
    topo.nodes.forEach((t, i) => {
      if (pool.length > 0) nodes[t.name] = pool[i % pool.length]!;
    });
    if (pool.length > 0 && pool.length < topo.nodes.length) {
      notes.push(
        `${topo.nodes.length} topology nodes share ${pool.length} cluster nodes: some cross-node paths are same-node paths here`,
      );
    }
  }
  if (problems.length > 0)
    throw new LabError(
      `cannot place the topology's nodes on the cluster:\n  ${problems.join('\n  ')}`,
    );
  const selectors: NodePlacement = {};
  for (const [t, name] of Object.entries(nodes)) {
    const n = byName.get(name);
    selectors[t] =
      spec.kind === 'label' ? { [spec.label]: t } : n ? hostnameSelector(n) : { [HOSTNAME]: name };
  }
  return { nodes, selectors, notes };
}

/** Parses `node-a=worker1,node-b=worker2`, `label:<key>` or `spread` (the CLI's --nodes). */
export function parsePlacement(value: string | undefined): PlacementSpec {
  if (!value || value === 'spread') return { kind: 'spread' };
  if (value.startsWith('label:')) return { kind: 'label', label: value.slice('label:'.length) };
  const names: Record<string, string> = {};
  for (const pair of value.split(',')) {
    const [t, n] = pair.split('=');
    if (!t || !n)
      throw new LabError(
        `bad --nodes item "${pair}": want <topology node>=<cluster node>, label:<key> or spread`,
      );
    names[t.trim()] = n.trim();
  }
  return { kind: 'names', names };
}
