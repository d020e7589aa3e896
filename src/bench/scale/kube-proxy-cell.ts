import type { ApiClient } from '../../controlplane/api-client.js';
import type { ControlPlane } from '../../controlplane/handle.js';
import { deadlineScale, LabError, pollBackoff, scaledDeadline } from '../../exec/index.js';
import type { ProxyState } from '../../proxy/types.js';
import { stats, type Stats } from '../stats.js';
import {
  serviceObjects,
  serviceObjectsOf,
  SERVICES_PATH,
  sliceContent,
  sliceName,
  SLICES_PATH,
  triggerTime,
  type ServiceObjects,
} from './api-objects.js';
import { BENCH_NODE } from './lab.js';
import {
  kubeProxyPid,
  readBenchMetrics,
  readProcessUsage,
  type BenchMetrics,
  type ProcessUsage,
} from './kube-proxy-probe.js';
import { memoryDelta, readKernelMemory, type KernelMemory } from './meminfo.js';
import { oneMoreRep } from './programming.js';
import type { ScaleMutations } from './state.js';

/**
 * Writes in flight while the N Services are loaded: enough to keep the API server busy on 2
 * cores. Under emulation (the VM) fewer, each with a longer deadline: 32 at once left requests
 * unanswered for over 30 s there.
 */
export function apiLoadConcurrency(): number {
  return deadlineScale() > 1 ? 4 : 32;
}
const WRITE_TIMEOUT_MS = () => scaledDeadline(60_000);

/** How the N Services got into the API: not kube-proxy's time, but it bounds what a run can hold. */
export interface ApiLoad {
  services: number;
  /** Services and EndpointSlices written. */
  objects: number;
  ms: number;
  concurrency: number;
  /** The APF priority level the writes were served at (`exempt`: no queueing, no rate limit). */
  priorityLevel: string;
}

/** One timed change: from the API write until the end of the sync that applied it. */
export interface KubeProxyChangeSample {
  /** API write → end of the last sync the change caused (kube-proxy's last_timestamp). */
  applyMs: number;
  /** Time kube-proxy spent in the syncs the change caused (sync duration histogram sum). */
  syncMs: number;
  syncs: number;
  /** kube-proxy's own network_programming_duration for the change (slice writes only). */
  programmingMs: number | null;
  /** CPU of kube-proxy and its reaped children over the change. */
  cpuMs: number;
}

export interface KubeProxyChange {
  reps: number;
  applyMs: Stats;
  syncMs: Stats;
  syncs: Stats;
  programmingMs: Stats;
  cpuMs: Stats;
}

export interface KubeProxyMeasurement {
  apiLoad: ApiLoad;
  /** kube-proxy started with N Services in the API → end of its first sync (kubernetes#130119). */
  startToFirstSyncMs: number;
  /** Duration of that first sync (the histogram; `firstSyncs` > 1 means more ran before it was read). */
  firstSyncMs: number;
  firstSyncs: number;
  firstSyncUsage: ProcessUsage;
  kernelMemory: KernelMemory;
  addOne: KubeProxyChange;
  removeOne: KubeProxyChange;
  changeEndpoints: KubeProxyChange;
  /** After all changes: RSS now and its peak since start. */
  finalUsage: ProcessUsage;
}

/** Runs `jobs` with at most `concurrency` in flight; the first failure fails the whole. */
async function pool<T>(jobs: T[], concurrency: number, fn: (job: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) await fn(jobs[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, worker));
}

async function createService(api: ApiClient, o: ServiceObjects, stamp?: number): Promise<void> {
  const post = (path: string, obj: unknown) =>
    api.request('POST', path, obj, { timeoutMs: WRITE_TIMEOUT_MS() });
  await post(SERVICES_PATH, o.service);
  for (const slice of o.slices)
    await post(
      SLICES_PATH,
      stamp === undefined
        ? slice
        : { ...slice, metadata: { ...slice.metadata, annotations: triggerTime(stamp) } },
    );
}

export async function loadServices(api: ApiClient, lab: string, state: ProxyState) {
  const objects = serviceObjectsOf(lab, state);
  const priorityLevel = await api.priorityLevel();
  const concurrency = apiLoadConcurrency();
  const t0 = Date.now();
  await pool(objects, concurrency, (o) => createService(api, o));
  return {
    services: objects.length,
    objects: objects.reduce((n, o) => n + 1 + o.slices.length, 0),
    ms: Date.now() - t0,
    concurrency,
    priorityLevel,
  } satisfies ApiLoad;
}

/**
 * The real kube-proxy's side of talk table 1 for one mode and N, on a lab whose kubelet runs it:
 * kube-proxy is stopped, the N Services and their EndpointSlices are written through the API,
 * kube-proxy is started (its cold start with everything in place), then one-Service changes are
 * made through the API one at a time, each timed until the sync that applied it has ended.
 *
 * The lab runs kube-proxy with a one-hour syncPeriod, so between changes nothing else syncs:
 * every sync counted is one the change caused.
 */
export async function measureKubeProxy(o: {
  cp: ControlPlane;
  lab: string;
  nodeIP: string;
  base: ProxyState;
  mutations: ScaleMutations;
  maxReps: number;
  /**
   * When the mode's share of the budget ends (epoch ms). kube-proxy's first sync may take up to
   * two thirds of what is left (at 20,000 Services in iptables mode it is a 10-minute restore);
   * the changes, each a small sync, get a third of what is left after it, as svclab's modes do.
   */
  budgetEnd: number;
  onProgress?: (line: string) => void;
}): Promise<KubeProxyMeasurement> {
  const { cp, nodeIP } = o;
  const api = cp.api();
  const log = o.onProgress ?? (() => undefined);
  const left = () => Math.max(0, o.budgetEnd - Date.now());
  const changeDeadline = () => Date.now() + left() / 3;
  const waitLimit = () => Math.max(120_000, changeDeadline() - Date.now());

  await cp.kubelet('stop-proxies', {}, 30_000);
  const apiLoad = await loadServices(api, o.lab, o.base);
  log(
    `API: ${apiLoad.objects} objects in ${(apiLoad.ms / 1000).toFixed(1)} s (${apiLoad.concurrency} in flight, priority level ${apiLoad.priorityLevel})`,
  );

  const mem0 = await readKernelMemory();
  const t0 = Date.now();
  const limit = Math.max(120_000, (left() * 2) / 3);
  await cp.kubelet('restart-proxies', { timeoutMs: limit }, limit + 10_000);
  // Counted once syncProxyRules has returned (see below): wait for it, not just for its rules.
  const first = await waitMetrics(cp, nodeIP, (m) => m.lastSync > 0 && m.syncCount >= 1, limit);
  const kernelMemory = memoryDelta(mem0, await readKernelMemory());
  const pid = await kubeProxyPid(cp, BENCH_NODE);
  const firstSyncUsage = await readProcessUsage(pid);
  const startToFirstSyncMs = first.lastSync * 1000 - t0;
  const firstSyncMs = (first.syncSumSeconds / Math.max(1, first.syncCount)) * 1000;
  log(
    `kube-proxy start → first sync ${(startToFirstSyncMs / 1000).toFixed(1)} s (sync ${firstSyncMs.toFixed(0)} ms), RSS ${(firstSyncUsage.rssKiB / 1024).toFixed(0)} MiB`,
  );

  const timed = async (
    write: (stamp: number) => Promise<void>,
    done: (before: BenchMetrics, m: BenchMetrics) => boolean,
  ): Promise<KubeProxyChangeSample> => {
    const before = await settled(cp, nodeIP, waitLimit());
    const u0 = await readProcessUsage(pid);
    const stamp = Date.now();
    await write(stamp);
    // The sync duration histogram is observed when syncProxyRules returns (a deferred Observe,
    // pkg/proxy/iptables/proxier.go and nftables/proxier.go), after last_timestamp and
    // network_programming_duration were set and after the work that follows the restore
    // (health check servers, stale conntrack entries): at 10,000 Services a change whose rules
    // were in place still had its sync uncounted. So a change is done once every sync seen
    // ending (each new last_timestamp) has also been counted.
    const ended = new Set<number>();
    const after = await waitMetrics(
      cp,
      nodeIP,
      (m) => {
        if (m.lastSync > before.lastSync) ended.add(m.lastSync);
        return done(before, m) && m.syncCount - before.syncCount >= Math.max(1, ended.size);
      },
      waitLimit(),
    );
    const u1 = await readProcessUsage(pid);
    const dc = after.programmingCount - before.programmingCount;
    return {
      applyMs: after.lastSync * 1000 - stamp,
      syncMs: (after.syncSumSeconds - before.syncSumSeconds) * 1000,
      syncs: after.syncCount - before.syncCount,
      programmingMs:
        dc > 0 ? ((after.programmingSumSeconds - before.programmingSumSeconds) / dc) * 1000 : null,
      cpuMs: u1.cpuMs - u0.cpuMs,
    };
  };
  const quiet = (m: BenchMetrics) =>
    m.servicePending === 0 && m.endpointPending === 0 && m.lastSync >= m.lastQueued;

  const perKind = Math.max(0, changeDeadline() - Date.now()) / 3;
  const more = (samples: KubeProxyChangeSample[], started: number) =>
    oneMoreRep(
      samples.map((x) => x.applyMs),
      started,
      o.maxReps,
      perKind,
    );

  // Added Services: the extras svclab's modes add, one at a time, with their slice's trigger time.
  const extra = (k: number) =>
    serviceObjects(
      o.lab,
      o.mutations
        .withExtra({ servicePorts: [] }, k + 1)
        .servicePorts.filter((sp, _, all) => sp.service.name === all.at(-1)!.service.name),
    );
  const add: KubeProxyChangeSample[] = [];
  let started = Date.now();
  while (more(add, started)) {
    const svc = extra(add.length);
    add.push(
      await timed(
        (stamp) => createService(api, svc, stamp),
        (b, m) =>
          m.serviceChanges > b.serviceChanges &&
          m.programmingCount >= b.programmingCount + svc.slices.length &&
          quiet(m),
      ),
    );
  }
  // Removed: the Service goes (its rules with it); its slices are deleted after the measurement.
  const remove: KubeProxyChangeSample[] = [];
  for (let k = add.length - 1; k >= 0; k--) {
    const svc = extra(k);
    remove.push(
      await timed(
        () => api.delete(`${SERVICES_PATH}/${svc.name}`),
        (b, m) => m.serviceChanges > b.serviceChanges && m.syncCount > b.syncCount && quiet(m),
      ),
    );
    for (const s of svc.slices) await api.delete(`${SLICES_PATH}/${s.metadata.name}`);
  }
  // Endpoint changes: the victim's http slice rewritten with another backend set.
  const change: KubeProxyChangeSample[] = [];
  started = Date.now();
  while (more(change, started)) {
    const changed = o.mutations.changeEndpoints(o.base, change.length);
    const victim = changed.servicePorts.find(
      (sp, i) => sp.port.name === 'http' && sp !== o.base.servicePorts[i],
    );
    if (!victim) throw new LabError('the endpoint change changed no Service port');
    change.push(
      await timed(
        (stamp) =>
          api
            .mergePatch(`${SLICES_PATH}/${sliceName(victim)}`, {
              metadata: { annotations: triggerTime(stamp) },
              ...sliceContent(victim),
            })
            .then(() => undefined),
        (b, m) => m.programmingCount > b.programmingCount && quiet(m),
      ),
    );
  }
  const finalUsage = await readProcessUsage(pid);
  const summary = (s: KubeProxyChangeSample[]): KubeProxyChange => ({
    reps: s.length,
    applyMs: stats(s.map((x) => x.applyMs)),
    syncMs: stats(s.map((x) => x.syncMs)),
    syncs: stats(s.map((x) => x.syncs)),
    programmingMs: stats(s.flatMap((x) => (x.programmingMs === null ? [] : [x.programmingMs]))),
    cpuMs: stats(s.map((x) => x.cpuMs)),
  });
  const med = (s: KubeProxyChangeSample[]) => stats(s.map((x) => x.applyMs)).median.toFixed(0);
  log(
    `add ${med(add)} ms, remove ${med(remove)} ms, change ${med(change)} ms API write → synced (${add.length}/${remove.length}/${change.length} reps); RSS ${(finalUsage.rssKiB / 1024).toFixed(0)} MiB, peak ${(finalUsage.hwmKiB / 1024).toFixed(0)} MiB`,
  );
  return {
    apiLoad,
    startToFirstSyncMs,
    firstSyncMs,
    firstSyncs: first.syncCount,
    firstSyncUsage,
    kernelMemory,
    addOne: summary(add),
    removeOne: summary(remove),
    changeEndpoints: summary(change),
    finalUsage,
  };
}

/** Polls kube-proxy's metrics until `done`; kube-proxy's log is in the lab's logs folder. */
async function waitMetrics(
  cp: ControlPlane,
  nodeIP: string,
  done: (m: BenchMetrics) => boolean,
  timeoutMs: number,
): Promise<BenchMetrics> {
  const deadline = Date.now() + timeoutMs;
  const poll = pollBackoff();
  for (;;) {
    const m = await readBenchMetrics(cp, nodeIP);
    if (m && done(m)) return m;
    if (Date.now() > deadline)
      throw new LabError(
        `kube-proxy did not finish the sync in ${(timeoutMs / 1000).toFixed(0)} s (metrics: ${JSON.stringify(m)})`,
      );
    await poll.pause();
  }
}

/** Nothing pending and no sync queued after the last one ended: the next sync is the change's. */
function settled(cp: ControlPlane, nodeIP: string, timeoutMs: number): Promise<BenchMetrics> {
  return waitMetrics(
    cp,
    nodeIP,
    (m) => m.servicePending === 0 && m.endpointPending === 0 && m.lastSync >= m.lastQueued,
    timeoutMs,
  );
}
