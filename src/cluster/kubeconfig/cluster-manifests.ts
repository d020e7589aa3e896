import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { KubernetesObject, V1Pod, V1ServiceStatus } from '@kubernetes/client-node';
import { packageRoot } from '../../cli/package-root.js';
import { loadTopology } from '../../model/index.js';
import type { Topology } from '../../model/types.js';
import { debugPodManifest } from './debug-pod.js';
import { loadBalancerStatus, planWorkloads, type NodePlacement } from './manifests.js';
import { labNamespace, TOPOLOGY_NODE_LABEL } from './names.js';

export interface ClusterManifestOptions {
  provider: 'kind' | 'kubeconfig';
  /** Lab name (namespace svclab-<lab>); default `manifests`. */
  lab?: string | undefined;
  /** ConfigMap data for the agent; a placeholder by default (`up` reads dist/traffic). */
  agentFiles?: Record<string, string> | undefined;
  owner?: { host: string; pid: number; ephemeral: boolean } | undefined;
}

/** A write to a status subresource after the object exists (the API server resets status on create). */
export interface StatusUpdate {
  apiVersion: 'v1';
  kind: 'Service';
  namespace: string;
  name: string;
  status: V1ServiceStatus;
}

export interface ClusterManifests {
  namespace: string;
  /** Namespace, ConfigMap, Services, Pods, in the order `up` creates them. */
  objects: KubernetesObject[];
  /** status.loadBalancer of the LoadBalancer Services, written once they exist. */
  statusUpdates: StatusUpdate[];
  /**
   * Privileged debug pods, one per cluster node, created only on demand: kubeconfig with
   * --privileged-debug, kind for the node tools its node image lacks (ipvsadm, ipset).
   */
  debugPods: V1Pod[];
}

/**
 * Pure: every object the kind or kubeconfig provider would create in the cluster for a topology,
 * with the placement each provider uses (kind: nodes labelled `svclab.dev/node`; kubeconfig:
 * `kubernetes.io/hostname` of cluster nodes named like the topology's nodes, plus one node
 * `svclab-external` for external hosts as hostNetwork pods). Meant to be applied to a real API
 * server (with kube-dns holding the range's 10th address, as kind has) to show it accepts them.
 */
export function clusterManifests(topo: Topology, opts: ClusterManifestOptions): ClusterManifests {
  const lab = opts.lab ?? 'manifests';
  const namespace = labNamespace(lab);
  const hostname = (n: string): Record<string, string> => ({ 'kubernetes.io/hostname': n });
  const placement: NodePlacement = Object.fromEntries(
    topo.nodes.map((n) => [
      n.name,
      opts.provider === 'kind' ? { [TOPOLOGY_NODE_LABEL]: n.name } : hostname(n.name),
    ]),
  );
  const externalHostPlacement =
    opts.provider === 'kubeconfig' && topo.externalHosts.length > 0
      ? Object.fromEntries(topo.externalHosts.map((e) => [e.name, hostname('svclab-external')]))
      : undefined;
  const m = planWorkloads(topo, {
    lab,
    namespace,
    placement,
    externalHostPlacement,
    agentFiles: opts.agentFiles ?? {
      'agent.js': '// dist/traffic/*.js, read when the lab comes up',
    },
    owner: opts.owner ?? { host: 'svclab', pid: 1, ephemeral: false },
  });
  const statusUpdates = topo.services.flatMap((s): StatusUpdate[] => {
    const status = loadBalancerStatus(s);
    return status ? [{ apiVersion: 'v1', kind: 'Service', namespace, name: s.name, status }] : [];
  });
  return {
    namespace,
    objects: [m.namespace, m.configMap, ...m.services, ...m.pods],
    statusUpdates,
    debugPods: topo.nodes.map((n) => debugPodManifest(lab, namespace, n.name)),
  };
}

/** The topologies svclab ships (topologies/*.yaml), resolved. */
export async function shippedTopologies(): Promise<{ file: string; topology: Topology }[]> {
  const dir = join(packageRoot(), 'topologies');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
  return Promise.all(
    files.map(async (f) => ({ file: f, topology: await loadTopology(join(dir, f)) })),
  );
}
