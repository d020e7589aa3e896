import type { V1Node } from '@kubernetes/client-node';
import { LabError } from '../../exec/index.js';
import type { Topology } from '../../model/types.js';
import type { ProxyMode } from '../../proxy/types.js';
import { failedUp } from '../common/lab-flow.js';
import { ownLab } from '../owned-labs.js';
import { defaultProgressOutput, runPhases } from '../phases.js';
import type { DownReport, UpOptions } from '../provider.js';
import { claimLabDir, readLabState, removeLabDir, writeLabState, type LabState } from '../state.js';
import type { KubeApi } from './api.js';
import { ClusterBackend, type AgentLocation, type RunIn } from './backend.js';
import { ClusterLab, type ClusterTags } from './cluster-lab.js';
import type { LabCapability } from '../lab.js';
import { planWorkloads, type NodePlacement, type WorkloadOptions } from './manifests.js';
import { createLabNamespace, deleteLabNamespace } from './namespace.js';
import { placeNodes, type Placement, type PlacementSpec } from './placement.js';
import { discoverProxyMode } from './proxy-mode.js';
import {
  createWorkloads,
  deletePod,
  observePods,
  observeServices,
  waitEndpointSlices,
  withAllocatedAddresses,
} from './workloads.js';
import {
  markKubeProxy,
  proxyInputsChanged,
  waitKubeProxySynced,
  type KubeProxyMark,
} from './kube-proxy.js';
import { hostname } from 'node:os';

/** How a provider supplies external hosts once nodes are placed. */
export interface ExternalHosts {
  /** External hosts played by hostNetwork pods: host -> nodeSelector. */
  podPlacement?: NodePlacement | undefined;
  /** Starts what is not a pod (containers, local agents); returns their addresses. */
  start(topo: Topology): Promise<Record<string, string>>;
  location(ext: string): AgentLocation;
}

/** What a cluster provider contributes; the rest of bringing a lab up is shared (this file). */
export interface ClusterSpec {
  provider: 'kind' | 'kubeconfig';
  api: KubeApi;
  namespace: string;
  placement: PlacementSpec;
  externalHosts(placement: Placement, clusterNodes: V1Node[], topo: Topology): ExternalHosts;
  nodeExec(placement: Placement): (node: string) => RunIn;
  nodeRules: boolean;
  /** Restarts kube-proxy on the lab's cluster nodes; absent where svclab may not (see limits). */
  restartKubeProxy?: ((clusterNodes: string[]) => Promise<string[]>) | undefined;
  /** What labs on this provider cannot do, with the reason suites skip with. */
  limits?: Partial<Record<LabCapability, string>> | undefined;
  /** Provider records kept in the lab state (kubeconfig path, context, cluster name...). */
  extra: Record<string, unknown>;
  /** A first phase that makes the cluster (kind); `api` is read only after it. */
  provision?: { title: string; run: () => Promise<string | void> } | undefined;
  /** The namespace goes with the cluster (kind): teardown skips the API calls. */
  namespaceGoesWithCluster?: boolean | undefined;
  /** Provider-specific cleanup after the namespace is gone (containers, the kind cluster). */
  teardown(lab: string): Promise<DownReport>;
  agentFiles(): Record<string, string>;
}

export interface ClusterLabRecord {
  namespace: string;
  placement: Placement;
  tags: ClusterTags;
  workloads: Omit<WorkloadOptions, 'agentFiles'>;
}

function internalIP(n: V1Node | undefined): string {
  return n?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '';
}

/** Pure: replaces the topology's planned addresses with the cluster's (node IPs, pod CIDRs, pod IPs). */
export function observedTopology(
  topo: Topology,
  placement: Placement,
  nodes: V1Node[],
  pods: Map<string, string>,
  externals: Record<string, string>,
): Topology {
  const t = structuredClone(topo);
  const byName = new Map(nodes.map((n) => [n.metadata?.name, n]));
  for (const n of t.nodes) {
    const c = byName.get(placement.nodes[n.name]);
    n.ip = internalIP(c) || n.ip;
    n.podCIDR = c?.spec?.podCIDR ?? n.podCIDR;
  }
  const nodeIP = new Map(t.nodes.map((n) => [n.name, n.ip]));
  for (const p of t.pods)
    p.ip = p.hostNetwork ? (nodeIP.get(p.node) ?? p.ip) : (pods.get(p.name) ?? p.ip);
  for (const e of t.externalHosts) e.ip = externals[e.name] ?? e.ip;
  return t;
}

/** The shared part of `up` for kind and kubeconfig: namespace, workloads, waits, the Lab. */
export async function upClusterLab(
  topology: Topology,
  opts: UpOptions,
  spec: ClusterSpec,
  lab: string,
): Promise<ClusterLab> {
  const dir = await claimLabDir(lab);
  const state: LabState = {
    name: lab,
    provider: spec.provider,
    phase: 'provisioning',
    createdAt: new Date().toISOString(),
    ownerPid: process.pid,
    ephemeral: opts.ephemeral ?? false,
    topologyFile: opts.topologyFile,
    topology,
    proxy: { mode: opts.proxy, options: opts.proxyOptions ?? {} },
    namespaces: [],
    agents: [],
    extra: { ...spec.extra, namespace: spec.namespace },
  };
  await writeLabState(state);
  // From here on there is something to remove if this process is interrupted: an ephemeral lab
  // (a benchmark's, a test's) goes on SIGINT/SIGTERM with its namespace and, for kind, its
  // cluster, as netns and docker labs do (lab-flow.ts).
  if (state.ephemeral) ownLab(lab, () => downClusterLab(spec, lab));
  let result: ClusterLab | undefined;
  try {
    let placement!: Placement;
    let clusterNodes: V1Node[] = [];
    let externals!: ExternalHosts;
    let workloads!: WorkloadOptions;
    let proxy: { mode: ProxyMode | 'unknown'; source: string } = { mode: 'unknown', source: '' };
    let mark!: KubeProxyMark;
    await runPhases(
      [
        ...(spec.provision ? [spec.provision] : []),
        {
          title: 'place nodes',
          run: async () => {
            clusterNodes = (await spec.api.core.listNode()).items;
            placement = placeNodes(topology, clusterNodes, spec.placement);
            externals = spec.externalHosts(placement, clusterNodes, topology);
            return Object.entries(placement.nodes)
              .map(([t, c]) => `${t}=${c}`)
              .join(', ');
          },
        },
        {
          title: `create namespace ${spec.namespace}`,
          run: () =>
            createLabNamespace(spec.api, {
              lab,
              namespace: spec.namespace,
              ephemeral: state.ephemeral,
            }),
        },
        {
          title: 'create workloads',
          run: async () => {
            // Before the first change, so a sync kube-proxy finishes quickly is not missed.
            mark = await markKubeProxy(spec.api, [...new Set(Object.values(placement.nodes))]);
            workloads = {
              lab,
              namespace: spec.namespace,
              placement: placement.selectors,
              externalHostPlacement: externals.podPlacement,
              agentFiles: spec.agentFiles(),
              owner: { host: hostname(), pid: process.pid, ephemeral: state.ephemeral },
            };
            const m = planWorkloads(topology, workloads);
            await createWorkloads(spec.api, topology, m);
            return `${m.pods.length} pods, ${m.services.length} Services`;
          },
        },
        {
          title: 'start external hosts',
          run: async () => {
            const addrs = await externals.start(topology);
            const pods = new Map(
              (await observePods(spec.api, spec.namespace)).map((p) => [p.name, p.podIP]),
            );
            const fromPods = Object.fromEntries(
              Object.keys(externals.podPlacement ?? {}).map((e) => [
                e,
                pods.get(`svclab-ext-${e}`) ?? '',
              ]),
            );
            state.topology = withAllocatedAddresses(
              observedTopology(topology, placement, clusterNodes, pods, {
                ...fromPods,
                ...addrs,
              }),
              await observeServices(spec.api, spec.namespace),
            );
            await writeLabState(state);
          },
        },
        {
          title: 'wait for endpoints and kube-proxy',
          run: async () => {
            const nodes = [...new Set(Object.values(placement.nodes))];
            proxy = await discoverProxyMode(spec.api, nodes);
            await waitEndpointSlices(spec.api, spec.namespace, state.topology);
            // A topology without Services gives kube-proxy nothing to sync.
            const notes = proxyInputsChanged({ services: [], pods: [] }, state.topology)
              ? await waitKubeProxySynced(spec.api, mark)
              : [];
            const tags: ClusterTags = {
              clusterVersion: await spec.api.serverVersion().catch(() => 'unknown'),
              nodeCount: clusterNodes.length,
              proxyMode: proxy.mode,
              proxyModeSource: proxy.source,
              nodes: placement.nodes,
              notes: [...placement.notes, ...notes],
            };
            if (opts.proxy !== 'none' && proxy.mode !== 'unknown' && proxy.mode !== opts.proxy) {
              throw new LabError(
                `the cluster's kube-proxy runs in ${proxy.mode} mode (${proxy.source}), not ${opts.proxy}: results would be mislabelled`,
              );
            }
            const { agentFiles: _omit, ...rest } = workloads;
            state.extra = {
              ...state.extra,
              cluster: {
                namespace: spec.namespace,
                placement,
                tags,
                workloads: rest,
              } satisfies ClusterLabRecord,
            };
            const backend = new ClusterBackend(lab, () => result!.topology, {
              provider: spec.provider,
              api: spec.api,
              namespace: spec.namespace,
              nodeExec: spec.nodeExec(placement),
              external: (e) => externals.location(e),
              teardown: () => downClusterLab(spec, lab),
            });
            result = new ClusterLab(
              backend,
              state.topology,
              proxy.mode === 'unknown' ? 'none' : proxy.mode,
              {
                workloads,
                tags,
                restartKubeProxy: spec.restartKubeProxy,
                limits: spec.limits,
                nodeRules: spec.nodeRules,
              },
            );
            await backend.openBridges();
            return `kube-proxy ${proxy.mode} (${proxy.source}), ${tags.clusterVersion}, ${tags.nodeCount} nodes`;
          },
        },
      ],
      opts.progress ?? defaultProgressOutput(),
    );
    state.phase = 'ready';
    await writeLabState(state);
    return result!;
  } catch (err) {
    return failedUp(lab, err, { keepOnFailure: opts.keepOnFailure, dir }, () =>
      downClusterLab(spec, lab),
    );
  }
}

/** Reconnects to a lab from its state (another process's `svclab up`). */
export async function attachClusterLab(
  spec: ClusterSpec,
  lab: string,
  externals: (placement: Placement) => ExternalHosts,
): Promise<ClusterLab> {
  const state = await readLabState(lab);
  const rec = state.extra?.cluster as ClusterLabRecord | undefined;
  if (!rec)
    throw new LabError(
      `lab ${lab} has no cluster record (it did not finish coming up); run \`svclab down ${lab}\``,
    );
  const ext = externals(rec.placement);
  const backend: ClusterBackend = new ClusterBackend(lab, () => result.topology, {
    provider: spec.provider,
    api: spec.api,
    namespace: rec.namespace,
    nodeExec: spec.nodeExec(rec.placement),
    external: (e) => ext.location(e),
    teardown: () => downClusterLab(spec, lab),
  });
  const result: ClusterLab = new ClusterLab(
    backend,
    state.topology,
    rec.tags.proxyMode === 'unknown' ? 'none' : rec.tags.proxyMode,
    {
      workloads: { ...rec.workloads, agentFiles: spec.agentFiles() },
      tags: rec.tags,
      restartKubeProxy: spec.restartKubeProxy,
      limits: spec.limits,
      nodeRules: spec.nodeRules,
    },
  );
  await backend.openBridges();
  return result;
}

/**
 * Removes a lab: pods first with grace period 0 (terminating pods would otherwise hold the
 * namespace for their hour-long grace period), then the namespace (only if it carries the lab's
 * label; waited for until it is gone, so its nodePorts are free for the next lab), then the
 * provider's own resources, then the local state. Every step runs; failures are collected.
 */
export async function downClusterLab(
  spec: Pick<ClusterSpec, 'api' | 'namespace' | 'teardown' | 'namespaceGoesWithCluster'>,
  lab: string,
): Promise<DownReport> {
  const report: DownReport = { lab, removed: [], errors: [] };
  const step = async (what: string, fn: () => Promise<boolean | void>) => {
    try {
      if ((await fn()) !== false) report.removed.push(what);
    } catch (err) {
      report.errors.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  if (!spec.namespaceGoesWithCluster)
    await step(`pods in ${spec.namespace}`, async () => {
      const pods = await spec.api.core
        .listNamespacedPod({ namespace: spec.namespace })
        .catch(() => undefined);
      if (!pods || pods.items.length === 0) return false;
      await Promise.all(
        pods.items.map((p) =>
          deletePod(spec.api, spec.namespace, p.metadata!.name!, { graceful: false }),
        ),
      );
    });
  if (!spec.namespaceGoesWithCluster)
    await step(`namespace ${spec.namespace}`, () =>
      deleteLabNamespace(spec.api, lab, spec.namespace),
    );
  const extra = await spec.teardown(lab);
  report.removed.push(...extra.removed);
  report.errors.push(...extra.errors);
  await step('lab state', () => removeLabDir(lab));
  return report;
}
