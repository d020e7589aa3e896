import { LabError, mapLimit } from '../exec/index.js';
import type { Topology } from '../model/types.js';
import {
  createNodeProxy,
  type NodeProxy,
  type ProxyMode,
  type ProxyOptions,
  type ProxyState,
  type SyncResult,
} from '../proxy/index.js';
import { AgentClient } from '../traffic/agent-client.js';
import type { Attempt, L4 } from '../traffic/protocol.js';
import { computeProxyState } from './endpoints.js';
import { writeDump, type DumpOptions } from './dump.js';
import { tearDownOwned } from './owned-labs.js';
import type { DownReport, LabBackend, LabTarget } from './provider.js';
import {
  parseDestination,
  serviceAddresses,
  type Destination,
  type ServiceAddresses,
} from './targets.js';
import { readLabState, writeLabState } from './state.js';
import type { ControlPlane } from '../controlplane/handle.js';
import { applyTopologyChange, deletePodAndWait, topologyFromApi } from '../controlplane/changes.js';

export interface ProbeOptions {
  count?: number;
  concurrency?: number;
  timeoutMs?: number;
  sourcePort?: number;
  intervalMs?: number;
}

/** What a probe saw: every attempt, with where it came from and where it went. */
export interface Observation {
  from: string;
  to: Destination;
  attempts: Attempt[];
}

/**
 * Behaviours a suite may need that not every lab can give:
 * - `proxy-restart`: restart every node's Service proxy (Lab.restartProxies);
 * - `outside-client`: an external host whose traffic no Service proxy touches before it reaches a
 *   node (a client outside the cluster).
 */
export type LabCapability = 'proxy-restart' | 'outside-client';

/**
 * A running lab: nodes with their Service proxies, pods and external hosts with their agents.
 * Provider-independent; the backend knows where things live. Disposable: `await using lab = ...`
 * tears it down.
 */
export class Lab implements AsyncDisposable {
  private proxies = new Map<string, NodeProxy>();
  private agents = new Map<string, Promise<AgentClient>>();
  private state: ProxyState;
  private closed = false;

  constructor(
    readonly backend: LabBackend,
    private topo: Topology,
    readonly proxyMode: ProxyMode | 'none',
    readonly proxyOptions: ProxyOptions,
  ) {
    this.state = computeProxyState(topo);
  }

  get name(): string {
    return this.backend.labName;
  }

  get topology(): Topology {
    return this.topo;
  }

  get proxyState(): ProxyState {
    return this.state;
  }

  targets(): LabTarget[] {
    return this.backend.targets();
  }

  target(name: string): LabTarget {
    const t = this.backend.targets().find((x) => x.name === name);
    if (!t)
      throw new LabError(
        `no node, pod or external host named "${name}" in lab ${this.name} (have: ${this.backend
          .targets()
          .map((x) => x.name)
          .join(', ')})`,
      );
    return t;
  }

  /**
   * Why this lab cannot give `what`, or undefined when it can. Suites skip with this reason (an
   * expected skip, not a pass) instead of failing on what the provider cannot do.
   */
  cannot(what: LabCapability): string | undefined {
    void what;
    return undefined;
  }

  /**
   * The source addresses a backend may see for traffic `node` masqueraded. Here: the node IP,
   * which masquerading picks on the netns and docker providers, same node or not (the hairpin and
   * nodeport suites show it); cluster labs add the node's pod-network address.
   */
  masqueradeAddresses(node: string): string[] {
    return [this.target(node).ip];
  }

  service(name: string, namespace = 'default'): ServiceAddresses {
    return serviceAddresses(this.topo, name, namespace);
  }

  destination(spec: string, protocol?: L4): Destination {
    return parseDestination(this.topo, spec, protocol);
  }

  /** The lab's control plane, if it has one: then the API is how the lab changes. */
  get controlPlane(): ControlPlane | undefined {
    return this.backend.controlPlane?.();
  }

  /**
   * With a control plane, the API is the truth: reread Services and pod conditions (after
   * attaching from another process, changes made with kubectl are seen).
   */
  async refreshFromApi(): Promise<void> {
    const cp = this.controlPlane;
    if (!cp) return;
    await this.adoptTopology(await topologyFromApi(cp, this.topo));
  }

  /** Takes the topology as the API server completed it (allocated ClusterIPs, NodePorts). */
  async adoptTopology(t: Topology): Promise<void> {
    this.topo = t;
    this.state = computeProxyState(t);
    await this.persist();
  }

  /** Creates each node's proxy, installs it and programs the current state (the "install proxy" phase). */
  async installProxies(): Promise<SyncResult[]> {
    // With a control plane the lab kubelet runs the proxies (svclab's planners from the API's
    // objects, or the real kube-proxy on every node).
    const cp = this.controlPlane;
    if (cp) return cp.restartProxies();
    if (this.proxyMode === 'none') return [];
    for (const node of this.topo.nodes) {
      this.proxies.set(
        node.name,
        createNodeProxy(this.proxyMode, this.backend.nodeContext(node.name), this.proxyOptions),
      );
    }
    return this.forEachProxy(async (node, proxy) => {
      await proxy.install().catch((err) => {
        throw new LabError(`failed to install ${this.proxyMode} proxy on node ${node}`, {
          cause: err,
        });
      });
      return proxy.sync(this.state, { full: true });
    });
  }

  /** Reprograms every node from the current desired state (`full` forces a full rewrite). */
  async sync(opts: { full?: boolean } = {}): Promise<SyncResult[]> {
    const cp = this.controlPlane;
    if (cp) return cp.sync(opts.full ?? false);
    await this.ensureProxies();
    return this.forEachProxy((_node, proxy) => proxy.sync(this.state, opts));
  }

  /**
   * Changes the desired state (Services, pods) and syncs every node, as an API update followed by
   * kube-proxy's sync would. The mutator edits a copy of the topology. `sync: false` leaves the
   * proxies alone: for a caller that waits for their sync itself (svclab fidelity fences after
   * reading the API), or that syncs several changes at once.
   */
  async update(
    mutate: (draft: Topology) => void,
    opts: { full?: boolean; sync?: boolean } = {},
  ): Promise<SyncResult[]> {
    const draft = structuredClone(this.topo);
    mutate(draft);
    const cp = this.controlPlane;
    if (cp) {
      // Through the API: then wait until the controllers made the EndpointSlices the change
      // implies, and the proxies synced them.
      const before = this.topo;
      const allocated = await applyTopologyChange(cp, this.name, before, draft, (pod) =>
        this.agent(pod.hostNetwork ? pod.node : pod.name),
      );
      // New objects in a new list: the mutator may have handed in Services it keeps using.
      if (allocated.size > 0)
        draft.services = draft.services.map((s) => allocated.get(`${s.namespace}/${s.name}`) ?? s);
      await cp.waitForTopology(draft);
    }
    this.topo = draft;
    this.state = computeProxyState(draft);
    await this.persist();
    return opts.sync === false ? [] : this.sync(opts);
  }

  /** Simulates a kube-proxy restart: new proxy instances that know nothing and program from scratch. */
  async restartProxies(): Promise<SyncResult[]> {
    const cp = this.controlPlane;
    if (cp) return cp.restartProxies();
    this.proxies.clear();
    return this.installProxies();
  }

  private async ensureProxies(): Promise<void> {
    const mode = this.dataplaneMode;
    if (mode === 'none' || this.proxies.size > 0) return;
    // Attached from another process: new proxy instances, whose first sync is a full one. On a
    // lab with the real kube-proxy they only read the kernel for dumps (syncs go to the lab
    // kubelet, see sync()): the same sections svclab's mode of that name shows.
    for (const node of this.topo.nodes) {
      this.proxies.set(
        node.name,
        createNodeProxy(mode, this.backend.nodeContext(node.name), this.proxyOptions),
      );
    }
  }

  /** The real kube-proxy's mode when it runs on the nodes (then proxyMode is 'none'). */
  get kubeProxyMode(): ProxyMode | undefined {
    return this.controlPlane?.record.kubeProxy?.mode as ProxyMode | undefined;
  }

  /** The mode that programs the nodes' dataplane: svclab's planner, or the real kube-proxy's. */
  get dataplaneMode(): ProxyMode | 'none' {
    return this.proxyMode !== 'none' ? this.proxyMode : (this.kubeProxyMode ?? 'none');
  }

  private forEachProxy<R>(fn: (node: string, proxy: NodeProxy) => Promise<R>): Promise<R[]> {
    return mapLimit([...this.proxies], 8, ([node, proxy]) => fn(node, proxy));
  }

  private async persist(): Promise<void> {
    const st = await readLabState(this.name).catch(() => undefined);
    if (st) await writeLabState({ ...st, topology: this.topo });
  }

  /** The agent of a target (a hostNetwork pod's agent is its node's). */
  agent(targetName: string): Promise<AgentClient> {
    const t = this.target(targetName);
    const owner = t.kind === 'pod' && t.hostNetwork ? t.node! : t.name;
    let client = this.agents.get(owner);
    if (!client) {
      client = AgentClient.connect(this.backend.agentSocket(owner), { name: owner });
      this.agents.set(owner, client);
      client.catch(() => this.agents.delete(owner));
    }
    return client;
  }

  /** Sends `count` requests or datagrams from a target to a destination and returns what each saw. */
  async probe(
    from: string,
    to: Destination | string,
    opts: ProbeOptions = {},
  ): Promise<Observation> {
    const dest = typeof to === 'string' ? this.destination(to) : to;
    const agent = await this.agent(from);
    const count = opts.count ?? 1;
    const timeoutMs = opts.timeoutMs ?? 2000;
    const result = await agent.probe(
      {
        host: dest.host,
        port: dest.port,
        protocol: dest.protocol,
        count,
        concurrency: opts.concurrency ?? 1,
        timeoutMs,
        sourcePort: opts.sourcePort,
        intervalMs: opts.intervalMs,
      },
      {
        timeoutMs: Math.max(
          10_000,
          (count * (timeoutMs + (opts.intervalMs ?? 0))) / (opts.concurrency ?? 1) + 5_000,
        ),
      },
    );
    return { from, to: dest, attempts: result.attempts };
  }

  exec(
    target: string,
    argv: string[],
    opts?: { input?: string; allowFailure?: boolean; timeoutMs?: number },
  ) {
    if (argv.length === 0) throw new LabError('exec: no command given');
    return this.backend.exec(target, argv[0]!, argv.slice(1), opts);
  }

  /** Writes a diagnostic dump (rules, sets, IPVS, routes, conntrack, agent logs, commands) and returns its folder. */
  async dump(opts: DumpOptions = {}): Promise<string> {
    await this.ensureProxies();
    return writeDump(this, opts);
  }

  /** One node's proxy state (rules, sets, IPVS table, conntrack) as text sections. */
  async proxyDump(node: string): Promise<Record<string, string>> {
    await this.ensureProxies();
    const proxy = this.proxies.get(node);
    const sections = proxy ? await proxy.dump() : {};
    const kp = await this.controlPlane?.kubeProxyDump(node, this.target(node).ip);
    if (kp) {
      sections['kube-proxy.log'] = kp.log;
      sections['kube-proxy.metrics'] = kp.metrics;
      sections['kube-proxy.config'] = kp.config;
    }
    return sections;
  }

  async deletePod(pod: string): Promise<SyncResult[]> {
    const cp = this.controlPlane;
    if (cp) {
      // As a user would: DELETE, and the lab kubelet stops the pod within its grace period.
      this.target(pod);
      const agent = this.agents.get(pod);
      this.agents.delete(pod);
      await agent?.then((a) => a.close()).catch(() => undefined);
      await deletePodAndWait(cp, pod, 30);
      const draft = structuredClone(this.topo);
      draft.pods = draft.pods.filter((p) => p.name !== pod);
      await cp.waitForTopology(draft);
      this.topo = draft;
      this.state = computeProxyState(draft);
      await this.persist();
      return this.sync();
    }
    if (!this.backend.deletePod)
      throw new LabError(`provider ${this.backend.provider} cannot delete pods`);
    // As in Kubernetes: the endpoint goes first (API update + sync), then the pod's processes.
    // The target is resolved before the update removes it from the topology.
    const target = this.target(pod);
    const results = await this.update((t) => {
      t.pods = t.pods.filter((p) => p.name !== pod);
    });
    const agent = this.agents.get(pod);
    this.agents.delete(pod);
    await agent?.then((a) => a.close()).catch(() => undefined);
    await this.backend.deletePod(target);
    return results;
  }

  /** Closes agent connections; the lab keeps running (for labs attached by the CLI). */
  async detach(): Promise<void> {
    const agents = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(agents.map((a) => a.then((c) => c.close()).catch(() => undefined)));
  }

  async down(): Promise<DownReport> {
    if (this.closed) return { lab: this.name, removed: [], errors: [] };
    this.closed = true;
    await this.detach();
    return tearDownOwned(this.name, this.backend.teardown());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const report = await this.down();
    if (report.errors.length > 0)
      throw new LabError(
        `teardown of lab ${this.name} was incomplete:\n${report.errors.join('\n')}`,
      );
  }
}
