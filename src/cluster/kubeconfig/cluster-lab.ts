import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from '../../exec/index.js';
import type { Topology } from '../../model/types.js';
import type { ProxyMode, SyncResult } from '../../proxy/types.js';
import { writeDump, type DumpOptions } from '../dump.js';
import { Lab, type LabCapability, type Observation, type ProbeOptions } from '../lab.js';
import type { Destination } from '../targets.js';
import { readLabState, writeLabState } from '../state.js';
import type { ClusterBackend } from './backend.js';
import { clusterDiagnostics, ruleDumpCommands } from './diagnostics.js';
import type { WorkloadOptions } from './manifests.js';
import { clusterMasqueradeAddresses } from './cluster-addresses.js';
import { markKubeProxy, proxyInputsChanged, waitKubeProxySynced } from './kube-proxy.js';
import {
  applyChanges,
  describeChanges,
  diffWorkloads,
  observePods,
  observeServices,
  waitEndpointSlices,
  withAllocatedAddresses,
} from './workloads.js';

/** Facts about the cluster a lab ran on; dumps and results carry them. */
export interface ClusterTags {
  clusterVersion: string;
  nodeCount: number;
  proxyMode: ProxyMode | 'unknown';
  proxyModeSource: string;
  /** Topology node -> cluster node. */
  nodes: Record<string, string>;
  notes: string[];
}

export interface ClusterLabOptions {
  workloads: WorkloadOptions;
  tags: ClusterTags;
  /**
   * Restarts kube-proxy on the given cluster nodes (kind; kubeconfig only when the user allowed
   * it: svclab does not touch what it did not create unless told to).
   */
  restartKubeProxy?: ((clusterNodes: string[]) => Promise<string[]>) | undefined;
  /** What this lab cannot do, with the reason (see Lab.cannot). */
  limits?: Partial<Record<LabCapability, string>> | undefined;
  /** Whether node rule dumps may run (kind: always; kubeconfig: only with the privileged-debug flag). */
  nodeRules: boolean;
}

/**
 * A Lab whose Service proxy is the cluster's own kube-proxy. `update` edits the topology as
 * everywhere; `sync` turns the edit into API calls, waits for the EndpointSlices to say what the
 * topology implies and for kube-proxy to finish a later sync, then returns. Probe answers from
 * hostNetwork backends carry the cluster node's hostname; they are reported under the topology's
 * node name so suites read the same on every provider.
 */
export class ClusterLab extends Lab {
  /** What the cluster holds now (the last synced topology). */
  private applied: Topology;

  constructor(
    readonly cluster: ClusterBackend,
    topo: Topology,
    proxyMode: ProxyMode | 'none',
    private readonly opts: ClusterLabOptions,
  ) {
    super(cluster, topo, proxyMode, {});
    this.applied = structuredClone(topo);
  }

  get tags(): ClusterTags {
    return this.opts.tags;
  }

  /** kube-proxy came with the cluster. */
  override async installProxies(): Promise<SyncResult[]> {
    return [];
  }

  override async sync(): Promise<SyncResult[]> {
    const started = performance.now();
    const next = this.topology;
    const changes = diffWorkloads(this.applied, next);
    const api = this.cluster.env.api;
    // Read before the change: a sync kube-proxy finishes before we look is still seen.
    const mark = await markKubeProxy(api, this.clusterNodes());
    await applyChanges(api, this.opts.workloads, next, changes);
    await this.observeAddresses(next);
    await waitEndpointSlices(api, this.opts.workloads.namespace, next);
    // kube-proxy queues a sync only for what it reads; for other edits there is none to wait for.
    const notes = proxyInputsChanged(this.applied, next)
      ? await waitKubeProxySynced(api, mark)
      : ['nothing kube-proxy reads changed: no sync to wait for'];
    this.applied = structuredClone(next);
    await this.cluster.openBridges();
    const st = await readLabState(this.name).catch(() => undefined);
    if (st) await writeLabState({ ...st, topology: next });
    if (this.proxyMode === 'none') return [];
    const written = {
      services:
        changes.servicesCreated.length +
        changes.servicesReplaced.length +
        changes.servicesDeleted.length,
      pods: changes.podsCreated.length + changes.podsDeleted.length + changes.podsRecreated.length,
    };
    return [
      {
        mode: this.proxyMode,
        strategy: 'partial',
        durationMs: Math.round(performance.now() - started),
        written,
        commands: 0,
        notes: [`API: ${describeChanges(changes)}; kube-proxy decides full or partial`, ...notes],
      },
    ];
  }

  /** Cluster nodes the lab's topology nodes run on, each once. */
  private clusterNodes(): string[] {
    return [...new Set(Object.values(this.opts.tags.nodes))];
  }

  /**
   * Addresses are the cluster's: new pods' IPs, and the clusterIPs and nodePorts the API server
   * allocated to new Services, go into the topology the suites read.
   */
  private async observeAddresses(topo: Topology): Promise<void> {
    const api = this.cluster.env.api;
    const ns = this.opts.workloads.namespace;
    const observed = new Map((await observePods(api, ns)).map((p) => [p.name, p]));
    for (const p of topo.pods) {
      const o = observed.get(p.name);
      if (o?.podIP) p.ip = o.podIP;
    }
    topo.services = withAllocatedAddresses(topo, await observeServices(api, ns)).services;
  }

  override cannot(what: LabCapability): string | undefined {
    if (what === 'proxy-restart' && !this.opts.restartKubeProxy)
      return (
        this.opts.limits?.['proxy-restart'] ??
        `provider ${this.cluster.provider} cannot restart kube-proxy`
      );
    return this.opts.limits?.[what];
  }

  /** The node IP or the node's pod-network address (see clusterMasqueradeAddresses). */
  override masqueradeAddresses(node: string): string[] {
    const n = this.topology.nodes.find((x) => x.name === node);
    return n ? clusterMasqueradeAddresses(n) : super.masqueradeAddresses(node);
  }

  override async restartProxies(): Promise<SyncResult[]> {
    const why = this.cannot('proxy-restart');
    if (why || !this.opts.restartKubeProxy) throw new LabError(why ?? 'no kube-proxy restart');
    const started = performance.now();
    const notes = await this.opts.restartKubeProxy(this.clusterNodes());
    if (this.proxyMode === 'none') return [];
    return [
      {
        mode: this.proxyMode,
        strategy: 'full',
        durationMs: Math.round(performance.now() - started),
        written: {},
        commands: 0,
        notes: [
          'kube-proxy pods deleted; the DaemonSet started new ones, which synced from scratch',
          ...notes,
        ],
      },
    ];
  }

  override async probe(
    from: string,
    to: Destination | string,
    opts: ProbeOptions = {},
  ): Promise<Observation> {
    const obs = await super.probe(from, to, opts);
    const byHostname = new Map(Object.entries(this.opts.tags.nodes).map(([t, c]) => [c, t]));
    for (const a of obs.attempts)
      if (a.backend && byHostname.has(a.backend)) a.backend = byHostname.get(a.backend);
    return obs;
  }

  override async proxyDump(node: string): Promise<Record<string, string>> {
    if (!this.opts.nodeRules)
      return {
        note: 'node rule dumps need a privileged debug pod: pass --privileged-debug (SVCLAB_PRIVILEGED_DEBUG=1)',
      };
    const exec = this.cluster.env.nodeExec(node);
    const out: Record<string, string> = {};
    for (const [name, argv] of Object.entries(ruleDumpCommands(this.proxyMode))) {
      const r = await exec(argv[0]!, argv.slice(1), { allowFailure: true }).catch(
        (err: unknown) => ({ stdout: '', stderr: String(err), exitCode: -1 }),
      );
      out[name] = r.exitCode === 0 ? r.stdout : `exit ${r.exitCode}: ${r.stderr}\n${r.stdout}`;
    }
    return out;
  }

  override async dump(opts: DumpOptions = {}): Promise<string> {
    const dir = await writeDump(this, opts);
    const write = async (sub: string, sections: Record<string, string>) => {
      await mkdir(join(dir, sub), { recursive: true });
      for (const [name, text] of Object.entries(sections))
        await writeFile(join(dir, sub, `${name}.txt`), text);
    };
    await writeFile(join(dir, 'cluster.json'), JSON.stringify(this.opts.tags, null, 2));
    await write(
      'cluster',
      await clusterDiagnostics(this.cluster.env.api, this.opts.workloads.namespace),
    );
    return dir;
  }
}
