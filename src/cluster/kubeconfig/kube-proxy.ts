import type { V1Pod } from '@kubernetes/client-node';
import { LabError } from '../../exec/index.js';
import type { Topology } from '../../model/types.js';
import { computeProxyState } from '../endpoints.js';
import type { KubeApi } from './api.js';
import { waitFor } from './wait.js';

/**
 * What kube-proxy's metrics (port 10249, `/metrics`) say about its sync loop. Its `/healthz` cannot
 * say it: a healthy kube-proxy answers `lastUpdated` = `currentTime` whatever it last synced
 * (pkg/proxy/healthcheck/proxy_health.go keeps that for compatibility), so "a sync finished
 * after now" passes at once. The metrics keep the real timestamps and the pending-change counts.
 */
export interface KubeProxySyncState {
  /** kubeproxy_sync_proxy_rules_last_timestamp_seconds, per IP family ('' when unlabelled). */
  lastSynced: Record<string, number>;
  /** kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds, per IP family. */
  lastQueued: Record<string, number>;
  /** Service and EndpointSlice changes received and not yet taken by a sync (summed). */
  pending: number;
  /** process_start_time_seconds: tells a restarted kube-proxy from the one before. */
  startTime: number | undefined;
}

const SYNCED = 'kubeproxy_sync_proxy_rules_last_timestamp_seconds';
const QUEUED = 'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds';
const PENDING = [
  'kubeproxy_sync_proxy_rules_service_changes_pending',
  'kubeproxy_sync_proxy_rules_endpoint_changes_pending',
];
const START = 'process_start_time_seconds';

/** Pure: the sync state from a Prometheus text exposition; throws when kube-proxy's gauges are missing. */
export function parseKubeProxyMetrics(text: string): KubeProxySyncState {
  const state: KubeProxySyncState = {
    lastSynced: {},
    lastQueued: {},
    pending: 0,
    startTime: undefined,
  };
  let seen = false;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const [, name, labels = '', raw] = m;
    const value = Number(raw);
    if (!Number.isFinite(value)) continue;
    const family = /ip_family="([^"]*)"/.exec(labels)?.[1] ?? '';
    if (name === SYNCED) {
      state.lastSynced[family] = value;
      seen = true;
    } else if (name === QUEUED) state.lastQueued[family] = value;
    else if (PENDING.includes(name!)) state.pending += value;
    else if (name === START) state.startTime = value;
  }
  if (!seen) throw new Error(`no ${SYNCED} in the metrics: not kube-proxy's /metrics`);
  return state;
}

/**
 * Pure: whether kube-proxy has programmed every change it received, and received one since
 * `mark` (its state before svclab changed anything). Without a mark (a kube-proxy that just
 * started) it must have finished a first sync instead. Why this is enough: a change bumps
 * lastQueued and the pending count when it arrives; a sync takes the pending changes when it
 * starts (pending back to 0) and sets lastSynced when it ends, so "nothing pending and lastSynced
 * >= lastQueued" holds only once the sync that took the last change has finished.
 */
export function kubeProxySynced(
  now: KubeProxySyncState,
  mark?: KubeProxySyncState,
): string | undefined {
  if (now.pending > 0) return `${now.pending} changes pending`;
  const families = Object.keys(now.lastSynced);
  for (const f of families) {
    const synced = now.lastSynced[f] ?? 0;
    const queued = now.lastQueued[f] ?? 0;
    const label = f ? ` (${f})` : '';
    if (mark) {
      if (queued <= (mark.lastQueued[f] ?? 0))
        return `no change received since svclab's update${label}`;
    } else if (synced <= 0) return `no sync yet${label}`;
    if (synced < queued)
      return `last sync ${synced} is older than the last change ${queued}${label}`;
  }
  return undefined;
}

/**
 * Pure: whether a topology edit changes anything kube-proxy reads (Service ports as its
 * ServicePortMap holds them, endpoints with their conditions). kube-proxy queues a sync only for
 * such changes, so only then is there a sync to wait for: a pod label edit that selects the same
 * pods, or a pod no Service selects, changes nothing there.
 */
export function proxyInputsChanged(
  prev: Pick<Topology, 'services' | 'pods'>,
  next: Pick<Topology, 'services' | 'pods'>,
): boolean {
  const view = (t: Pick<Topology, 'services' | 'pods'>) =>
    JSON.stringify(
      // The zones are the cluster's own Nodes' labels, which the topology does not know: only
      // node hints (PreferSameNode) are predicted here.
      computeProxyState({ ...t, nodes: [] })
        .servicePorts.map(({ name, service: s, port, endpoints }) => ({
          name,
          type: s.type,
          clusterIP: s.clusterIP,
          port: [port.protocol, port.port, port.nodePort ?? 0],
          // Fields kube-proxy ignores in a state are left out, or their edits would be waited for.
          affinity: s.sessionAffinity === 'ClientIP' ? s.sessionAffinityTimeoutSeconds : 'None',
          externalIPs: [...s.externalIPs].sort(),
          loadBalancerIPs: s.type === 'LoadBalancer' ? [...s.loadBalancerIPs].sort() : [],
          loadBalancerSourceRanges: s.type === 'LoadBalancer' ? s.loadBalancerSourceRanges : [],
          policies: [
            s.type !== 'ClusterIP' || s.externalIPs.length > 0 ? s.externalTrafficPolicy : '',
            s.internalTrafficPolicy,
          ],
          endpoints: endpoints
            .map(
              (e) =>
                `${e.ip}:${e.port} ${e.nodeName} ${e.ready} ${e.serving} ${e.terminating} ${e.nodeHints?.join(',') ?? ''}`,
            )
            .sort(),
        }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    );
  return view(prev) !== view(next);
}

async function metrics(api: KubeApi, node: string): Promise<KubeProxySyncState> {
  return parseKubeProxyMetrics(await api.nodeProxyGet(node, 10249, '/metrics'));
}

/** kube-proxy's sync state on each node, taken before a change; nodes whose metrics cannot be read are noted. */
export interface KubeProxyMark {
  states: Map<string, KubeProxySyncState>;
  notes: string[];
}

/**
 * Reads each node's kube-proxy metrics before svclab changes Services or pods. Where they cannot
 * be read (metricsBindAddress is 127.0.0.1:10249 by default; kind clusters made by svclab and by
 * the workflows bind 0.0.0.0), the lab cannot know when the rules changed and says so instead of
 * sleeping.
 */
export async function markKubeProxy(api: KubeApi, nodes: string[]): Promise<KubeProxyMark> {
  const mark: KubeProxyMark = { states: new Map(), notes: [] };
  for (const node of nodes) {
    try {
      mark.states.set(node, await metrics(api, node));
    } catch (err) {
      mark.notes.push(
        `could not confirm that kube-proxy on ${node} synced (its /metrics through the node proxy: ${err instanceof Error ? err.message : String(err)})`,
      );
    }
  }
  return mark;
}

/**
 * Waits until kube-proxy on every node with a readable mark has received a change after the mark
 * and programmed it (see kubeProxySynced). The mark is taken before the change, so a change
 * kube-proxy synced quickly is never missed and nothing waits for the periodic resync; call it
 * only when the change touched what kube-proxy reads (see proxyInputsChanged), or nothing arrives.
 * Returns the mark's notes.
 */
export async function waitKubeProxySynced(
  api: KubeApi,
  mark: KubeProxyMark,
  timeoutMs = 60_000,
): Promise<string[]> {
  await waitFor(
    `kube-proxy to program the change on ${mark.states.size} nodes`,
    async () => {
      for (const [node, before] of mark.states) {
        const missing = kubeProxySynced(await metrics(api, node), before);
        if (missing) return `${node}: ${missing}`;
      }
      return undefined;
    },
    { timeoutMs, intervalMs: 250 },
  );
  return mark.notes;
}

const KUBE_PROXY_NAMESPACE = 'kube-system';
/** The label kubeadm (and kind) put on kube-proxy's DaemonSet pods. */
export const KUBE_PROXY_SELECTOR = 'k8s-app=kube-proxy';

function isReady(p: V1Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/**
 * A real kube-proxy restart on the given cluster nodes: delete their kube-proxy pods (the
 * DaemonSet's, in kube-system); the DaemonSet brings new ones, which start with no memory and
 * program everything in a first full sync. Waits for a new Ready pod on every node, then (where
 * the metrics are readable) for a new process that finished its first sync with nothing pending.
 */
export async function restartKubeProxyPods(api: KubeApi, nodes: string[]): Promise<string[]> {
  const list = async () =>
    (
      await api.core.listNamespacedPod({
        namespace: KUBE_PROXY_NAMESPACE,
        labelSelector: KUBE_PROXY_SELECTOR,
      })
    ).items.filter((p) => nodes.includes(p.spec?.nodeName ?? ''));
  const before = await list();
  const missing = nodes.filter((n) => !before.some((p) => p.spec?.nodeName === n));
  if (missing.length > 0)
    throw new LabError(
      `no kube-proxy pod (${KUBE_PROXY_NAMESPACE}, ${KUBE_PROXY_SELECTOR}) on ${missing.join(', ')}: kube-proxy does not run as kubeadm's DaemonSet here, so svclab cannot restart it`,
    );
  const oldUids = new Set(before.map((p) => p.metadata?.uid));
  const mark = await markKubeProxy(api, nodes);
  await Promise.all(
    before.map((p) =>
      api.core.deleteNamespacedPod({
        name: p.metadata!.name!,
        namespace: KUBE_PROXY_NAMESPACE,
        gracePeriodSeconds: 0,
      }),
    ),
  );
  await waitFor(
    `new kube-proxy pods on ${nodes.join(', ')}`,
    async () => {
      const fresh = (await list()).filter((p) => !oldUids.has(p.metadata?.uid) && isReady(p));
      const without = nodes.filter((n) => !fresh.some((p) => p.spec?.nodeName === n));
      return without.length > 0
        ? `no new Ready kube-proxy pod on ${without.join(', ')}`
        : undefined;
    },
    { timeoutMs: 120_000 },
  );
  await waitFor(
    `restarted kube-proxy to finish its first sync on ${mark.states.size} nodes`,
    async () => {
      for (const [node, old] of mark.states) {
        const now = await metrics(api, node);
        // Pods are deleted with grace period 0: the old process may still answer for a moment.
        if (now.startTime === old.startTime) return `${node}: the old kube-proxy still answers`;
        const missing = kubeProxySynced(now);
        if (missing) return `${node}: ${missing}`;
      }
      return undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  return mark.notes;
}
