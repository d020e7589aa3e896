import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Node } from '@kubernetes/client-node';
import { LabError } from '../../exec/index.js';
import type { Topology } from '../../model/types.js';
import type { ProxyMode } from '../../proxy/types.js';
import type { Lab } from '../lab.js';
import type { DownReport, Provider, UpOptions } from '../provider.js';
import { DryRunComplete } from '../dry-run.js';
import { isPidAlive, labDir, listLabDirs, readLabState, removeLabDir } from '../state.js';
import { agentFiles } from '../kubeconfig/agent-files.js';
import { KubeApi } from '../kubeconfig/api.js';
import {
  attachClusterLab,
  downClusterLab,
  upClusterLab,
  type ClusterSpec,
} from '../kubeconfig/cluster-up.js';
import {
  checkPinnedClusterIPs,
  kubeadmDnsIP,
  type TakenAddress,
} from '../kubeconfig/cluster-addresses.js';
import { debugPodExec } from '../kubeconfig/debug-pod.js';
import { restartKubeProxyPods } from '../kubeconfig/kube-proxy.js';
import {
  AGENT_IMAGE,
  AGNHOST_IMAGE,
  labNamespace,
  TOPOLOGY_NODE_LABEL,
} from '../kubeconfig/names.js';
import { CLUSTER_VERSIONS } from '../versions.js';
import { KindCli } from './cli.js';
import { kindConfigYaml } from './config.js';
import { dockerExec, hasLocalImage, removeLabContainers } from './docker.js';
import { preloadImages } from './images.js';
import { nodeExecWithFallback } from './node-exec.js';
import { externalSocket, kindExternalHosts } from './external-hosts.js';
import { kindClusterName, labOfKindCluster, externalContainerName } from './names.js';
import { formatKindPlan, planKindLab } from './plan.js';

export interface KindProviderOptions {
  /** Print what would run and create nothing. */
  dryRun?: boolean | undefined;
  nodeImage?: string | undefined;
  kind?: KindCli | undefined;
  print?: ((text: string) => void) | undefined;
}

export { DryRunComplete };

function internalIPs(nodes: V1Node[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of nodes) {
    const t = n.metadata?.labels?.[TOPOLOGY_NODE_LABEL];
    const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    if (t && ip) out[t] = ip;
  }
  return out;
}

/**
 * `--provider kind`: one kind cluster per lab (kube-proxy in the requested mode, the topology's
 * subnets, one kind node per topology node), then the kubeconfig provider's workload logic in it.
 * Not exercised on the machine this was written on (no Docker, no node image): unit tests cover
 * the kind config, the manifests and the dry run; .github/workflows/kind.yml runs it for real.
 */
export class KindProvider implements Provider {
  readonly name = 'kind';
  private readonly kind: KindCli;

  constructor(
    private readonly opts: KindProviderOptions = {
      dryRun: process.env.SVCLAB_DRY_RUN === '1',
      nodeImage: process.env.SVCLAB_KIND_NODE_IMAGE,
    },
  ) {
    this.kind = opts.kind ?? new KindCli({ dryRun: opts.dryRun });
  }

  /** The pinned node image of the pinned kind release (cluster-versions.json) unless overridden. */
  private get nodeImage(): string {
    return this.opts.nodeImage ?? CLUSTER_VERSIONS.nodeImage;
  }

  private spec(lab: string, ephemeral: boolean): ClusterSpec {
    const cluster = kindClusterName(lab);
    let client: KubeApi | undefined;
    // Read lazily: on `up` the kubeconfig exists only after the "create kind cluster" phase.
    const api = () => (client ??= KubeApi.load({ kubeconfig: join(labDir(lab), 'kubeconfig') }));
    return {
      provider: 'kind',
      get api() {
        return api();
      },
      namespace: labNamespace(lab),
      placement: { kind: 'label', label: TOPOLOGY_NODE_LABEL },
      externalHosts: () =>
        kindExternalHosts(
          lab,
          async () => internalIPs((await api().core.listNode()).items),
          ephemeral,
        ),
      // kind node containers are named like the nodes; what their image lacks (ipvsadm, ipset)
      // runs in a debug pod on the node (the cluster is the lab's own).
      nodeExec: (placement) => (node) => {
        const clusterNode = placement.nodes[node] ?? node;
        let debug: ReturnType<typeof debugPodExec> | undefined;
        return nodeExecWithFallback(
          dockerExec(clusterNode),
          () => (debug ??= debugPodExec(api(), labNamespace(lab), clusterNode)),
        );
      },
      nodeRules: true,
      restartKubeProxy: (nodes) => restartKubeProxyPods(api(), nodes),
      extra: { cluster },
      namespaceGoesWithCluster: true,
      teardown: (l) => this.removeCluster(l),
      agentFiles,
    };
  }

  async up(topology: Topology, opts: UpOptions): Promise<Lab> {
    const lab = opts.name ?? topology.name;
    if (opts.proxy === 'none')
      throw new LabError(
        '--provider kind runs the real kube-proxy: pick --proxy iptables, ipvs or nftables',
      );
    const cluster = kindClusterName(lab);
    checkPinnedClusterIPs(topology, kindTakenAddresses(topology));
    if (this.opts.dryRun) {
      (this.opts.print ?? ((t) => process.stdout.write(t + '\n')))(
        formatKindPlan(
          planKindLab(topology, { lab, proxyMode: opts.proxy, nodeImage: this.nodeImage }),
        ),
      );
      throw new DryRunComplete(lab);
    }
    const spec = this.spec(lab, opts.ephemeral ?? false);
    spec.provision = {
      title: `create kind cluster ${cluster} (kube-proxy ${opts.proxy})`,
      run: async () => {
        await this.kind.createCluster(
          cluster,
          kindConfigYaml(topology, {
            clusterName: cluster,
            proxyMode: opts.proxy as ProxyMode,
            nodeImage: this.nodeImage,
          }),
        );
        await writeFile(join(labDir(lab), 'kubeconfig'), await this.kind.kubeconfig(cluster), {
          mode: 0o600,
        });
        const { loaded, notes } = await preloadImages(
          this.kind,
          cluster,
          [AGENT_IMAGE, AGNHOST_IMAGE],
          hasLocalImage,
        );
        // The phase's status line says what was copied and what the nodes pull themselves.
        return [...(loaded.length > 0 ? [`loaded ${loaded.join(', ')}`] : []), ...notes].join('; ');
      },
    };
    // On failure upClusterLab tears down through spec.teardown, which deletes the cluster.
    return upClusterLab(topology, opts, spec, lab);
  }

  private async removeCluster(lab: string): Promise<DownReport> {
    const report: DownReport = { lab, removed: [], errors: [] };
    try {
      report.removed.push(...(await removeLabContainers(lab)));
    } catch (err) {
      report.errors.push(
        `external-host containers: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    const cluster = kindClusterName(lab);
    try {
      if ((await this.kind.getClusters()).includes(cluster)) {
        await this.kind.deleteCluster(cluster);
        report.removed.push(`kind cluster ${cluster}`);
      }
    } catch (err) {
      report.errors.push(
        `kind cluster ${cluster}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    return report;
  }

  async attach(lab: string): Promise<Lab> {
    const st = await readLabState(lab);
    if (st.provider !== this.name)
      throw new LabError(`lab ${lab} belongs to provider ${st.provider}`);
    const spec = this.spec(lab, st.ephemeral);
    return attachClusterLab(spec, lab, () => ({
      start: async () => ({}),
      location: (ext) => ({
        kind: 'socket',
        path: externalSocket(lab, ext),
        exec: dockerExec(externalContainerName(lab, ext)),
        ip: st.topology.externalHosts.find((e) => e.name === ext)?.ip ?? '',
      }),
    }));
  }

  /** The whole cluster goes, namespace and all. */
  async down(lab: string): Promise<DownReport> {
    return downClusterLab(this.spec(lab, false), lab);
  }

  async list(): Promise<string[]> {
    const clusters = await this.kind.getClusters().catch(() => []);
    return clusters
      .map(labOfKindCluster)
      .filter((l): l is string => l !== undefined)
      .sort();
  }

  /** kind clusters named svclab-* whose lab state is gone, or whose ephemeral owner died (all with `all`). */
  async sweep(opts: { all?: boolean } = {}): Promise<DownReport[]> {
    const local = new Set(await listLabDirs());
    const reports: DownReport[] = [];
    for (const lab of await this.list()) {
      const st = local.has(lab) ? await readLabState(lab).catch(() => undefined) : undefined;
      const orphan = !st || (st.ephemeral && !isPidAlive(st.ownerPid));
      if (opts.all || orphan) {
        const report = await this.removeCluster(lab);
        await removeLabDir(lab);
        reports.push(report);
      }
    }
    return reports;
  }
}

/**
 * Addresses a kind cluster holds before any lab object exists: kube-dns's (kubeadm gives it the
 * 10th address of the service range; kind passes the topology's serviceSubnet to kubeadm).
 */
export function kindTakenAddresses(topo: Topology): TakenAddress[] {
  const dns = kubeadmDnsIP(topo.networking.serviceSubnet);
  return dns
    ? [{ ip: dns, owner: 'kube-dns (kubeadm gives it the 10th address of serviceSubnet)' }]
    : [];
}
