import { pollBackoff, scaledDeadline } from '../exec/index.js';
/**
 * The lab kubelet: the one svclab process that runs for the life of a lab with a control plane,
 * inside its control-plane namespace (`--lab <name>` labels it for sweeps). It does what a kubelet
 * and a little more would do for nodes that are network namespaces:
 *
 * - forwards a Unix socket in the lab folder to kube-apiserver, so the CLI and tests in the
 *   host's namespace reach the API server without anything listening there;
 * - keeps each Pod's status true to the lab: Running with its IP, Ready from its agent's
 *   readiness (probed every period, or at once on `probe-now`);
 * - follows deletions made through the API: a Pod with a deletionTimestamp runs its preStop
 *   sleep (annotation svclab.dev/pre-stop-sleep-seconds), gets SIGTERM, and after it exits or its
 *   grace period ends, its network namespace goes and the Pod object is removed (grace 0, as the
 *   kubelet does once containers are gone);
 * - runs svclab's own proxies (iptables, nftables, ipvs planners) from the API: Services and
 *   EndpointSlices are watched and every change syncs each node, as kube-proxy would.
 */
import net from 'node:net';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../exec/index.js';
import { readLabState, writeLabState, isPidAlive, type LabState } from '../cluster/state.js';
import { NetnsBackend } from '../netns/backend.js';
import { netnsName } from '../netns/names.js';
import { killAll } from '../netns/processes.js';
import { createNodeProxy, type NodeProxy, type SyncResult } from '../proxy/index.js';
import { AgentClient } from '../traffic/agent-client.js';
import { ApiClient, type KubeObject } from '../controlplane/api-client.js';
import {
  LAB_LABEL,
  POD_NAMESPACE,
  PRE_STOP_SLEEP_ANNOTATION,
  podStatus,
  proxyStateFromApi,
  proxyStateKey,
} from '../controlplane/objects.js';
import { serveControl, type KubeletRequest } from './control.js';
import type { KubeletConfig } from './config.js';
import {
  readSyncMetrics,
  startKubeProxy,
  stopKubeProxy,
  type RunningKubeProxy,
  type SyncMetrics,
} from './kube-proxy.js';

function parseArgs(argv: string[]): { lab: string; config: string } {
  const get = (flag: string) => {
    const i = argv.indexOf(flag);
    const v = i >= 0 ? argv[i + 1] : undefined;
    if (!v) throw new Error(`usage: kubelet --lab <lab> --config <kubelet.json> (missing ${flag})`);
    return v;
  };
  return { lab: get('--lab'), config: get('--config') };
}

const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);

/** Runs `fn` once at a time; calls while it runs coalesce into one more run after it. */
function serialized<T>(fn: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  let queued: Promise<T> | undefined;
  return () => {
    if (!running) {
      running = fn().finally(() => (running = undefined));
      return running;
    }
    queued ??= running
      .catch(() => undefined)
      .then(() => {
        queued = undefined;
        running = fn().finally(() => (running = undefined));
        return running;
      });
    return queued;
  };
}

class LabKubelet {
  private readonly api: ApiClient;
  private apiReady = false;
  private readonly written = new Map<string, string>();
  private readonly terminating = new Set<string>();
  private readonly agents = new Map<string, AgentClient>();
  private proxies = new Map<string, NodeProxy>();
  private proxy = { syncs: 0, key: '', lastSyncAt: '', lastError: '' };
  private podReconciles = 0;

  constructor(private readonly cfg: KubeletConfig) {
    this.api = new ApiClient({
      server: cfg.server,
      caFile: cfg.caFile,
      certFile: cfg.certFile,
      keyFile: cfg.keyFile,
    });
  }

  start(): void {
    this.forwardApiserver();
    serveControl(this.cfg.controlSocket, (req) => this.handle(req), log);
    void this.loop();
  }

  /** TLS passes through untouched: the CLI checks the API server's own certificate. */
  private forwardApiserver(): void {
    const url = new URL(this.cfg.server);
    const server = net.createServer((client) => {
      const upstream = net.connect(Number(url.port), url.hostname);
      client.pipe(upstream).pipe(client);
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close);
      upstream.on('error', close);
    });
    server.listen(this.cfg.apiserverSocket);
  }

  private async handle(req: KubeletRequest): Promise<unknown> {
    switch (req.op) {
      case 'status':
        return {
          pid: process.pid,
          kubeProxy: [...this.kubeProxies.values()].map((p) => ({
            node: p.node.name,
            pid: p.child.pid,
            log: p.log,
            exit: p.exit,
          })),
          apiserver: this.apiReady,
          podReconciles: this.podReconciles,
          terminating: [...this.terminating],
          proxy: { ...this.proxy, nodes: [...this.proxies.keys()] },
        };
      case 'http-get':
        // A component not listening yet is an answer (status 0), not an error to log.
        return httpGet(
          String(req['url']),
          this.cfg.caFile,
          Math.min(Number(req['limit']) || 4000, 8 * 1024 * 1024),
        ).catch((err: Error) => ({
          status: 0,
          body: err.message,
        }));
      case 'probe-now':
        await this.reconcilePods();
        return { podReconciles: this.podReconciles };
      case 'sync':
        return this.cfg.kubeProxy ? this.kubeProxySynced() : this.syncProxies(req['full'] === true);
      case 'restart-proxies':
        return this.cfg.kubeProxy
          ? this.restartKubeProxies(Number(req['timeoutMs']) || undefined)
          : this.restartProxies();
      case 'stop-proxies':
        // The scale bench loads N Services with no kube-proxy running, then starts it: the
        // first sync is then a cold start with everything in place (kubernetes#130119).
        if (!this.cfg.kubeProxy) throw new Error('stop-proxies: this lab runs no kube-proxy');
        await this.stopKubeProxies();
        return { stopped: true };
    }
    throw new Error(`unknown op ${JSON.stringify(req.op)}`);
  }

  /** Waits for the API server (it starts after this process), then watches and probes. */
  private async loop(): Promise<void> {
    for (;;) {
      const r = await httpGet(`${this.cfg.server}/readyz`, this.cfg.caFile).catch(() => undefined);
      if (r?.status === 200) break;
      await sleep(100);
    }
    this.apiReady = true;
    log('API server ready: following Pods, Services and EndpointSlices');
    void this.watchLoop(`/api/v1/namespaces/${POD_NAMESPACE}/pods`, () => this.reconcilePods());
    void this.watchLoop('/api/v1/services', () => this.proxyChanged());
    void this.watchLoop('/apis/discovery.k8s.io/v1/endpointslices', () => this.proxyChanged());
    // The readiness probe: every period, as the kubelet's prober workers do.
    for (;;) {
      await this.reconcilePods().catch((err) => log(`pods: ${String(err)}`));
      await sleep(this.cfg.probePeriodMs);
    }
  }

  /** List, then watch from the list's resourceVersion; any event triggers `onChange`. Relists when a watch ends. */
  private async watchLoop(path: string, onChange: () => Promise<unknown>): Promise<void> {
    for (;;) {
      try {
        const list = await this.api.list(path);
        void onChange().catch((err) => log(`${path}: ${String(err)}`));
        await this.api.watch(path, list.metadata.resourceVersion, (ev) => {
          if (ev.type === 'BOOKMARK') return;
          void onChange().catch((err) => log(`${path}: ${String(err)}`));
        });
      } catch (err) {
        log(`watch ${path}: ${String(err)}; relisting`);
        await sleep(200);
      }
    }
  }

  private agent(socket: string): Promise<AgentClient> {
    const c = this.agents.get(socket);
    if (c) return Promise.resolve(c);
    return AgentClient.connect(socket, { name: socket }).then((a) => {
      this.agents.set(socket, a);
      return a;
    });
  }

  /** The readiness probe: the agent answers and says it is ready (not draining, not set unready). */
  private async probeReady(st: LabState, target: string): Promise<boolean> {
    const rec = st.agents.find((a) => a.target === target);
    if (!rec || !isPidAlive(rec.pid)) return false;
    try {
      const info = await (await this.agent(rec.socket)).info({ timeoutMs: 1000 });
      return info.ready !== false && !info.draining;
    } catch {
      this.agents.get(rec.socket)?.close();
      this.agents.delete(rec.socket);
      return false;
    }
  }

  readonly reconcilePods = serialized(async () => {
    if (!this.apiReady) return;
    const st = await readLabState(this.cfg.lab);
    const pods = await this.api.list(`/api/v1/namespaces/${POD_NAMESPACE}/pods`);
    await Promise.all(
      pods.items
        .filter((p) => p.metadata.annotations?.[LAB_LABEL] === this.cfg.lab)
        .map((p) => this.reconcilePod(st, p)),
    );
    this.podReconciles++;
  });

  private async reconcilePod(st: LabState, pod: KubeObject): Promise<void> {
    const spec = st.topology.pods.find((p) => p.name === pod.metadata.name);
    const node = spec && st.topology.nodes.find((n) => n.name === spec.node);
    if (!spec || !node) return; // not one of the lab's pods: no sandbox, stays Pending
    if (pod.metadata.deletionTimestamp && !this.terminating.has(pod.metadata.uid!)) {
      this.terminating.add(pod.metadata.uid!);
      void this.terminate(pod).catch((err) =>
        log(`terminate ${pod.metadata.name}: ${String(err)}`),
      );
    }
    const ready = await this.probeReady(st, spec.hostNetwork ? spec.node : spec.name);
    const status = podStatus(spec, ready, node.ip, pod.metadata['creationTimestamp'] as string);
    const key = `${pod.metadata.uid}:${JSON.stringify(status)}`;
    const current = pod.status?.conditions?.find((c: { type: string }) => c.type === 'Ready');
    if (
      this.written.get(pod.metadata.name) === key &&
      current?.status === (ready ? 'True' : 'False')
    )
      return;
    await this.api.mergePatch(
      `/api/v1/namespaces/${POD_NAMESPACE}/pods/${pod.metadata.name}/status`,
      status,
    );
    this.written.set(pod.metadata.name, key);
    log(`pod ${pod.metadata.name}: Running, Ready=${ready}, podIP=${spec.ip}`);
  }

  /**
   * A deleted pod, as the kubelet kills it: preStop, SIGTERM, wait for exit within the grace
   * period, SIGKILL, then the sandbox (network namespace) goes and the Pod object is removed.
   */
  private async terminate(pod: KubeObject): Promise<void> {
    const name = pod.metadata.name;
    const grace = (pod.metadata.deletionGracePeriodSeconds ?? 30) * 1000;
    const deadline = Date.now() + grace;
    const preStop = Number(pod.metadata.annotations?.[PRE_STOP_SLEEP_ANNOTATION] ?? 0) * 1000;
    log(`pod ${name}: deleted (grace ${grace / 1000} s, preStop sleep ${preStop / 1000} s)`);
    // The preStop hook is a sleep (KEP-3960 sleep action): this wait is the behaviour modelled.
    if (preStop > 0) await sleep(Math.min(preStop, grace));
    let st = await readLabState(this.cfg.lab);
    const spec = st.topology.pods.find((p) => p.name === name);
    const agent = spec && !spec.hostNetwork ? st.agents.find((a) => a.target === name) : undefined;
    if (agent && isPidAlive(agent.pid)) {
      process.kill(agent.pid, 'SIGTERM');
      while (isPidAlive(agent.pid) && Date.now() < deadline) await sleep(50);
      if (isPidAlive(agent.pid)) await killAll([agent.pid], 0);
    }
    const netns = netnsName(this.cfg.lab, 'pod', name);
    if (spec && !spec.hostNetwork) await run('ip', ['netns', 'del', netns], { allowFailure: true });
    st = await readLabState(this.cfg.lab);
    st.agents = st.agents.filter((a) => a.target !== name);
    st.namespaces = st.namespaces.filter((n) => n !== netns);
    st.topology = { ...st.topology, pods: st.topology.pods.filter((p) => p.name !== name) };
    await writeLabState(st);
    await this.api
      .request('DELETE', `/api/v1/namespaces/${POD_NAMESPACE}/pods/${name}`, {
        kind: 'DeleteOptions',
        apiVersion: 'v1',
        gracePeriodSeconds: 0,
        preconditions: { uid: pod.metadata.uid },
      })
      .catch((err) => log(`pod ${name}: final delete: ${String(err)}`));
    this.terminating.delete(pod.metadata.uid!);
    this.written.delete(name);
    log(`pod ${name}: gone (agent stopped, namespace ${netns} deleted)`);
  }

  private async proxyChanged(): Promise<void> {
    if (this.proxies.size === 0) return;
    await this.syncProxies(false);
  }

  /** One sync of every node from a fresh list of Services and EndpointSlices. */
  private readonly syncAll = async (full: boolean): Promise<SyncResult[]> => {
    const [services, slices] = await Promise.all([
      this.api.list('/api/v1/services'),
      this.api.list('/apis/discovery.k8s.io/v1/endpointslices'),
    ]);
    const state = proxyStateFromApi(services.items, slices.items);
    try {
      const results = await Promise.all(
        [...this.proxies.values()].map((p) => p.sync(state, { full })),
      );
      this.proxy = {
        syncs: this.proxy.syncs + 1,
        key: proxyStateKey(state),
        lastSyncAt: new Date().toISOString(),
        lastError: '',
      };
      return results;
    } catch (err) {
      this.proxy.lastError = String((err as Error).stack ?? err);
      throw err;
    }
  };

  private syncChain: Promise<unknown> = Promise.resolve();
  private syncProxies(full: boolean): Promise<SyncResult[]> {
    const next = this.syncChain.catch(() => undefined).then(() => this.syncAll(full));
    this.syncChain = next;
    return next;
  }

  /** New proxy instances that know nothing: install, then a full sync (a kube-proxy restart). */
  private async restartProxies(): Promise<SyncResult[]> {
    const st = await readLabState(this.cfg.lab);
    const mode = st.proxy.mode;
    if (mode === 'none') return [];
    const backend = new NetnsBackend(
      this.cfg.lab,
      () => st.topology,
      () => st,
    );
    const proxies = new Map(
      st.topology.nodes.map((n) => [
        n.name,
        createNodeProxy(mode, backend.nodeContext(n.name), st.proxy.options),
      ]),
    );
    const next = this.syncChain
      .catch(() => undefined)
      .then(async () => {
        await Promise.all([...proxies.values()].map((p) => p.install()));
        this.proxies = proxies;
        return this.syncAll(true);
      });
    this.syncChain = next;
    return next;
  }
  private readonly kubeProxies = new Map<string, RunningKubeProxy>();
  private fence = 0;

  /** Stops every kube-proxy (if running), starts new ones, and waits for each one's first sync. */
  private async restartKubeProxies(timeoutMs?: number): Promise<SyncResult[]> {
    const kp = this.cfg.kubeProxy!;
    await this.stopKubeProxies();
    const t0 = Date.now();
    for (const node of kp.nodes)
      this.kubeProxies.set(node.name, await startKubeProxy(kp, node, log));
    await this.waitKubeProxies('its first sync', (m) => m.lastSync > 0, timeoutMs);
    return this.kubeProxyResults(t0);
  }

  private async stopKubeProxies(): Promise<void> {
    await Promise.all([...this.kubeProxies.values()].map((p) => stopKubeProxy(p)));
    this.kubeProxies.clear();
  }

  private kubeProxyResults(t0: number): SyncResult[] {
    return [...this.kubeProxies.values()].map((p) => ({
      mode: this.cfg.kubeProxy!.mode,
      strategy: 'full' as const,
      durationMs: Date.now() - t0,
      written: {},
      commands: 0,
      notes: [`kube-proxy pid ${p.child.pid} on ${p.node.name}`],
    }));
  }

  /** Waits until every kube-proxy's metrics satisfy `done`; an exited kube-proxy fails the wait. */
  private async waitKubeProxies(
    what: string,
    done: (m: SyncMetrics, node: string) => boolean,
    timeoutMs = scaledDeadline(60_000),
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const poll = pollBackoff();
    for (;;) {
      const states = await Promise.all(
        [...this.kubeProxies.values()].map(async (p) => {
          if (p.exit)
            throw new Error(
              `kube-proxy on ${p.node.name} exited (code ${p.exit.code}); log ${p.log}:\n${p.exit.tail}`,
            );
          const m = await readSyncMetrics(p.node);
          return m !== undefined && done(m, p.node.name);
        }),
      );
      if (states.every(Boolean)) return;
      if (Date.now() > deadline)
        throw new Error(`kube-proxy did not reach ${what} in ${(timeoutMs / 1000).toFixed(0)} s`);
      await poll.pause();
    }
  }

  /**
   * Waits for the sync that follows every change made so far, with two fences: an ExternalName
   * Service and an EndpointSlice of svclab's own, bumped after the change (kube-proxy counts every
   * event in *_changes_total, pkg/proxy/servicechangetracker.go and endpointschangetracker.go).
   *
   * 1. Bump; wait until both totals moved (everything before the fence was received: a watch
   *    delivers one resource type in order) and nothing is pending: the change has been checked
   *    out by some sync S.
   * 2. Bump again; wait until that was received and a sync ended after it was queued
   *    (last_timestamp >= last_queued_timestamp). Syncs run one at a time, so S has ended.
   *
   * One fence is not enough: with nothing pending and the last sync newer than the last queued
   * one, S may have checked the change out and still be running (seen with IPVS in the VM).
   *
   * Two are not proof either. "Received" means the counters moved, and they also move for events
   * still on their way when the wait began (the previous call's second bump, the change itself):
   * in the VM, fidelity read kube-proxy's kernel before its sync of a set three times in 200 sets
   * (seed 11, sets 78, 119 and 129), so `svclab fidelity` checks the ClusterIPs it read and fences
   * again (src/fidelity/cluster-ips.ts). Metrics cannot tell one event from another; a fence that cannot
   * be mistaken needs something kube-proxy writes to the kernel for that bump alone (a fence
   * Service whose port and endpoint port carry the bump number, found in the node's rules).
   */
  private async kubeProxySynced(): Promise<SyncResult[]> {
    const t0 = Date.now();
    const scrape = async () => {
      const m = new Map<string, SyncMetrics>();
      for (const p of this.kubeProxies.values()) {
        const x = await readSyncMetrics(p.node);
        if (x) m.set(p.node.name, x);
      }
      return m;
    };
    const received = (b: SyncMetrics | undefined, m: SyncMetrics) =>
      b !== undefined &&
      m.serviceChanges > b.serviceChanges &&
      m.endpointChanges > b.endpointChanges;
    const before = await scrape();
    await this.bumpFence();
    await this.waitKubeProxies(
      'the sync that took the last change',
      (m, node) =>
        received(before.get(node), m) && m.servicePending === 0 && m.endpointPending === 0,
    );
    const checkedOut = await scrape();
    await this.bumpFence();
    await this.waitKubeProxies(
      'the end of that sync',
      (m, node) => received(checkedOut.get(node), m) && m.lastSync >= m.lastQueued,
    );
    return this.kubeProxyResults(t0);
  }

  private async bumpFence(): Promise<void> {
    const ns = 'svclab-system';
    const name = 'svclab-sync-fence';
    const n = String(++this.fence) + '-' + Date.now();
    const annotations = { 'svclab.dev/fence': n };
    await this.api
      .create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
      .catch(() => undefined);
    const svc = `/api/v1/namespaces/${ns}/services/${name}`;
    if (await this.api.find(svc)) await this.api.mergePatch(svc, { metadata: { annotations } });
    else
      await this.api.create(`/api/v1/namespaces/${ns}/services`, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace: ns, annotations },
        spec: { type: 'ExternalName', externalName: 'fence.svclab.invalid' },
      });
    const slice = `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices/${name}`;
    if (await this.api.find(slice)) await this.api.mergePatch(slice, { metadata: { annotations } });
    else
      await this.api.create(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name,
          namespace: ns,
          annotations,
          labels: {
            'kubernetes.io/service-name': name,
            // Not the controller's: it leaves a slice managed by someone else alone.
            'endpointslice.kubernetes.io/managed-by': 'svclab.dev',
          },
        },
        addressType: 'IPv4',
        endpoints: [],
        ports: [],
      });
  }
}

/**
 * GET with the lab CA (the controller manager's self-signed serving certificate is accepted). The
 * body is cut at `limit` characters: health checks need a line, a dump the whole metrics page.
 */
function httpGet(
  url: string,
  caFile: string,
  limit = 4000,
): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  if (u.protocol === 'http:') {
    return fetch(url, { signal: AbortSignal.timeout(5000) }).then(async (r) => ({
      status: r.status,
      body: (await r.text()).slice(0, limit),
    }));
  }
  return new Promise((resolve, reject) => {
    const req = https.get(
      url,
      { ca: readFileSync(caFile), rejectUnauthorized: u.port === '6443', timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.slice(0, limit) }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.on('error', reject);
  });
}

const args = parseArgs(process.argv.slice(2));
const cfg = JSON.parse(readFileSync(args.config, 'utf8')) as KubeletConfig;
process.on('uncaughtException', (err) => log(`uncaught exception: ${err.stack ?? String(err)}`));
process.on('unhandledRejection', (err) => log(`unhandled rejection: ${String(err)}`));
process.on('SIGTERM', () => process.exit(0));
new LabKubelet(cfg).start();
log(`lab kubelet of ${args.lab} started (pid ${process.pid})`);
