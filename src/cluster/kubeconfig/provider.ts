import { hostname } from 'node:os';
import type { V1Node } from '@kubernetes/client-node';
import { LabError } from '../../exec/index.js';
import type { Topology } from '../../model/types.js';
import type { Lab } from '../lab.js';
import type { DownReport, Provider, UpOptions } from '../provider.js';
import { listLabDirs, readLabState } from '../state.js';
import { agentFiles } from './agent-files.js';
import { KubeApi, type KubeconfigOptions } from './api.js';
import type { RunIn } from './backend.js';
import {
  attachClusterLab,
  downClusterLab,
  upClusterLab,
  type ClusterSpec,
  type ExternalHosts,
} from './cluster-up.js';
import { AGENT_CONTAINER, externalAgentPod, labNamespace, nodeAgentPod } from './names.js';
import { listLabNamespaces, sweepCandidates } from './namespace.js';
import {
  hostnameSelector,
  parsePlacement,
  type Placement,
  type PlacementSpec,
} from './placement.js';
import { debugPodExec } from './debug-pod.js';
import { checkPinnedClusterIPs, clusterDnsAddresses } from './cluster-addresses.js';
import { restartKubeProxyPods } from './kube-proxy.js';

/**
 * External hosts on a cluster svclab does not own: a hostNetwork agent pod on a node that runs
 * none of the lab's pods (`pod`), or nowhere (`none`, the default: suites that need one are told
 * why). A client on this machine would need routes to node IPs that svclab may not add here.
 */
export type ExternalHostMode = 'pod' | 'none';

export interface KubeconfigProviderOptions extends KubeconfigOptions {
  /** Namespace to create (must not exist); default svclab-<lab>. */
  namespace?: string | undefined;
  placement?: PlacementSpec | undefined;
  externalHosts?: ExternalHostMode | undefined;
  /** Allow a privileged hostNetwork/hostPID debug pod per node, for rule dumps (--privileged-debug). */
  privilegedDebug?: boolean | undefined;
  /**
   * Allow restarting kube-proxy on the lab's nodes by deleting its DaemonSet pods in kube-system
   * (--allow-proxy-restart): the one change outside the lab's namespace svclab makes, and only
   * when told to. Without it the persistence suite's proxy-restart case skips with the reason.
   */
  allowProxyRestart?: boolean | undefined;
}

/** Why a lab on an existing cluster does not restart kube-proxy unless allowed. */
export const PROXY_RESTART_NOT_ALLOWED =
  'restarting kube-proxy means deleting its pods in kube-system, outside the lab: svclab does that on a cluster it did not create only with --allow-proxy-restart (SVCLAB_ALLOW_PROXY_RESTART=1)';

/**
 * Why an external host on an existing cluster is not a client outside the cluster: it is a
 * hostNetwork pod on a cluster node, whose own kube-proxy rewrites traffic to external IPs and
 * LoadBalancer IPs before it leaves the node, so it never arrives at the node it is routed to.
 */
export function outsideClientLimit(mode: ExternalHostMode): string {
  return mode === 'pod'
    ? 'external hosts on --provider kubeconfig are hostNetwork pods on a cluster node, whose own kube-proxy captures traffic to external and LoadBalancer IPs before it leaves the node: this needs a client outside the cluster (--provider kind, docker or netns)'
    : 'no external host on this cluster (pass --external-hosts pod / SVCLAB_EXTERNAL_HOSTS=pod)';
}

/** The CLI flags' environment equivalents, resolved once. */
export function kubeconfigOptionsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): KubeconfigProviderOptions {
  const ext = env.SVCLAB_EXTERNAL_HOSTS ?? 'none';
  if (ext !== 'pod' && ext !== 'none')
    throw new LabError(`SVCLAB_EXTERNAL_HOSTS must be pod or none, got "${ext}"`);
  return {
    kubeconfig: env.SVCLAB_KUBECONFIG,
    context: env.SVCLAB_KUBE_CONTEXT,
    namespace: env.SVCLAB_KUBE_NAMESPACE,
    placement: parsePlacement(env.SVCLAB_NODES),
    externalHosts: ext,
    privilegedDebug: env.SVCLAB_PRIVILEGED_DEBUG === '1',
    allowProxyRestart: env.SVCLAB_ALLOW_PROXY_RESTART === '1',
  };
}

/** Nodes that run none of the topology's pods (by name): where an external host can stand without being an endpoint. */
export function nodesWithoutEndpoints(
  topo: Topology,
  placement: Placement,
  clusterNodes: V1Node[],
): V1Node[] {
  const used = new Set(topo.pods.map((p) => placement.nodes[p.node]));
  const name = (n: V1Node) => n.metadata?.name ?? '';
  return clusterNodes
    .filter((n) => name(n) && !used.has(name(n)))
    .sort((a, b) => name(a).localeCompare(name(b)));
}

export function externalHostsOnCluster(
  mode: ExternalHostMode,
  free: V1Node[] | undefined,
  topo: Pick<Topology, 'externalHosts'>,
): ExternalHosts {
  const unavailable = (ext: string): never => {
    throw new LabError(
      mode === 'none'
        ? `external host ${ext} is not available on --provider kubeconfig without --external-hosts pod (SVCLAB_EXTERNAL_HOSTS=pod)`
        : `external host ${ext}: every cluster node runs a lab pod, so none can act as an outside client`,
    );
  };
  const podPlacement =
    mode === 'pod' && free && free.length > 0
      ? Object.fromEntries(
          topo.externalHosts.map((e, i) => [e.name, hostnameSelector(free[i % free.length]!)]),
        )
      : undefined;
  return {
    podPlacement,
    start: async () => ({}),
    location: (ext) =>
      podPlacement?.[ext] ? { kind: 'pod', pod: externalAgentPod(ext) } : unavailable(ext),
  };
}

/**
 * `--provider kubeconfig`: a lab on an existing cluster. Everything lives in one namespace it
 * creates and labels `svclab.lab=<lab>`; it changes nothing else in the cluster (no node
 * changes; kube-proxy restarts and node rule dumps only when explicitly allowed).
 */
export class KubeconfigProvider implements Provider {
  readonly name = 'kubeconfig';

  constructor(private readonly opts: KubeconfigProviderOptions = kubeconfigOptionsFromEnv()) {}

  spec(
    lab: string,
    api: KubeApi,
    namespace = this.opts.namespace ?? labNamespace(lab),
  ): ClusterSpec {
    const mode = this.opts.externalHosts ?? 'none';
    return {
      provider: 'kubeconfig',
      api,
      namespace,
      placement: this.opts.placement ?? { kind: 'spread' },
      externalHosts: (placement, nodes, topo) =>
        externalHostsOnCluster(mode, nodesWithoutEndpoints(topo, placement, nodes), topo),
      nodeExec: (placement) => (node) => this.nodeExec(api, namespace, placement, node),
      nodeRules: this.opts.privilegedDebug ?? false,
      restartKubeProxy: this.opts.allowProxyRestart
        ? (nodes) => restartKubeProxyPods(api, nodes)
        : undefined,
      limits: {
        'outside-client': outsideClientLimit(mode),
        ...(this.opts.allowProxyRestart ? {} : { 'proxy-restart': PROXY_RESTART_NOT_ALLOWED }),
      },
      extra: {
        kubeconfig: this.opts.kubeconfig,
        context: this.opts.context,
        server: api.server,
        externalHosts: mode,
      },
      teardown: async (l) => ({ lab: l, removed: [], errors: [] }),
      agentFiles,
    };
  }

  /** Unprivileged by default (the node's agent pod shares its network namespace, not its privileges). */
  private nodeExec(api: KubeApi, namespace: string, placement: Placement, node: string): RunIn {
    if (this.opts.privilegedDebug)
      return debugPodExec(api, namespace, placement.nodes[node] ?? node);
    return (file, args, o) =>
      api.exec(namespace, nodeAgentPod(node), AGENT_CONTAINER, [file, ...args], o);
  }

  async up(topology: Topology, opts: UpOptions): Promise<Lab> {
    const lab = opts.name ?? topology.name;
    const api = KubeApi.load(this.opts);
    // Before anything exists: a pinned clusterIP that kube-dns holds is the file's mistake.
    checkPinnedClusterIPs(topology, await clusterDnsAddresses(api));
    return upClusterLab(topology, opts, this.spec(lab, api), lab);
  }

  private async stateSpec(lab: string): Promise<ClusterSpec> {
    const st = await readLabState(lab);
    if (st.provider !== this.name)
      throw new LabError(`lab ${lab} belongs to provider ${st.provider}`);
    const extra = st.extra ?? {};
    const api = KubeApi.load({
      kubeconfig: extra.kubeconfig as string | undefined,
      context: extra.context as string | undefined,
    });
    return this.spec(lab, api, extra.namespace as string);
  }

  async attach(lab: string): Promise<Lab> {
    const spec = await this.stateSpec(lab);
    const st = await readLabState(lab);
    const mode = (st.extra?.externalHosts as ExternalHostMode | undefined) ?? 'none';
    return attachClusterLab(spec, lab, () => ({
      start: async () => ({}),
      location: (ext) =>
        mode === 'pod'
          ? { kind: 'pod', pod: externalAgentPod(ext) }
          : externalHostsOnCluster(mode, [], st.topology).location(ext),
    }));
  }

  async down(lab: string): Promise<DownReport> {
    return downClusterLab(await this.stateSpec(lab), lab);
  }

  async list(): Promise<string[]> {
    const labs: string[] = [];
    for (const l of await listLabDirs()) {
      const st = await readLabState(l).catch(() => undefined);
      if (st?.provider === this.name) labs.push(l);
    }
    return labs;
  }

  /** Removes lab namespaces this machine created whose owner is gone (or all of them with `all`). */
  async sweep(opts: { all?: boolean } = {}): Promise<DownReport[]> {
    const api = KubeApi.load(this.opts);
    const local = new Set(await listLabDirs());
    const candidates = sweepCandidates(await listLabNamespaces(api), {
      all: opts.all,
      host: hostname(),
      hasLocalState: (l) => local.has(l),
    });
    const reports: DownReport[] = [];
    for (const c of candidates) {
      reports.push(
        await downClusterLab(
          {
            api,
            namespace: c.namespace,
            teardown: async (l) => ({ lab: l, removed: [], errors: [] }),
          },
          c.lab,
        ),
      );
    }
    return reports;
  }
}
