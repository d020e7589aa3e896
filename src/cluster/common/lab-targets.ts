import type { Topology } from '../../model/types.js';
import type { LabTarget } from '../provider.js';

/** Every node, pod and external host of a topology as lab targets (the same for every provider). */
export function labTargets(t: Topology): LabTarget[] {
  return [
    ...t.nodes.map((n): LabTarget => ({ name: n.name, kind: 'node', ip: n.ip })),
    ...t.pods.map((p): LabTarget => ({
      name: p.name,
      kind: 'pod',
      ip: p.ip,
      node: p.node,
      hostNetwork: p.hostNetwork,
    })),
    ...t.externalHosts.map((e): LabTarget => ({ name: e.name, kind: 'external', ip: e.ip })),
  ];
}
