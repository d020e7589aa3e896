import type { NodeProxy, ProxyState, SyncResult } from '../../proxy/types.js';
import { stats, type Stats } from '../stats.js';
import { memoryDelta, readKernelMemory, type KernelMemory } from './meminfo.js';
import type { ScaleMutations } from './state.js';
import type { ProcessCost, RusageContext } from './timed-exec.js';

/** One timed sync: wall time as the proxy reports it, plus what its processes cost. */
export interface SyncSample {
  ms: number;
  strategy: SyncResult['strategy'];
  cost: ProcessCost;
  /** CPU time of the bench process itself during the sync (planning, diffing, writing input). */
  plannerCpuMs: number;
  written: Record<string, number>;
}

export interface ChangeCost {
  samples: SyncSample[];
  ms: Stats;
  /** user+sys CPU of the programming processes per sync. */
  cpuMs: Stats;
}

export interface ProgrammingResult {
  install: ProcessCost;
  full: SyncSample;
  /** Kernel memory growth around the initial programming (global /proc/meminfo). */
  kernelMemory: KernelMemory;
  addOne: ChangeCost;
  removeOne: ChangeCost;
  changeEndpoints: ChangeCost;
}

async function timedSync(
  proxy: NodeProxy,
  rc: RusageContext,
  state: ProxyState,
  opts?: { full?: boolean },
): Promise<SyncSample> {
  rc.take();
  const cpu0 = process.cpuUsage();
  const r = await proxy.sync(state, opts);
  const cpu = process.cpuUsage(cpu0);
  return {
    ms: r.durationMs,
    strategy: r.strategy,
    cost: rc.take(),
    plannerCpuMs: (cpu.user + cpu.system) / 1000,
    written: r.written,
  };
}

/**
 * Whether a kind of change gets one more repetition: always a first one, never more than
 * `maxReps`, and otherwise while one more (taken to last as long as the last one) still ends
 * within `shareMs` of `started`.
 */
export function oneMoreRep(
  samplesMs: readonly number[],
  started: number,
  maxReps: number,
  shareMs: number,
): boolean {
  if (samplesMs.length === 0) return true;
  if (samplesMs.length >= maxReps) return false;
  return Date.now() - started + samplesMs[samplesMs.length - 1]! < shareMs;
}

function summarize(samples: SyncSample[]): ChangeCost {
  return {
    samples,
    ms: stats(samples.map((s) => s.ms)),
    cpuMs: stats(samples.map((s) => s.cost.userMs + s.cost.sysMs)),
  };
}

/**
 * Talk table 1 for one mode and N: the initial full programming, then one-Service changes with
 * the mode's own sync strategy (what kube-proxy would do after one API change): Services added
 * one at a time, the same removed one at a time, then endpoint changes of one Service. Each
 * kind repeats up to `maxReps` times while it fits in a third of the time until `deadline()`
 * (asked once, after the full sync); at least once.
 */
export async function measureProgramming(o: {
  proxy: NodeProxy;
  rc: RusageContext;
  base: ProxyState;
  mutations: ScaleMutations;
  maxReps: number;
  deadline: () => number;
  onProgress?: (line: string) => void;
}): Promise<ProgrammingResult> {
  const { proxy, rc, base, mutations } = o;
  rc.take();
  await proxy.install();
  const install = rc.take();

  const mem0 = await readKernelMemory();
  const full = await timedSync(proxy, rc, base, { full: true });
  const kernelMemory = memoryDelta(mem0, await readKernelMemory());
  const perKind = Math.max(0, o.deadline() - Date.now()) / 3;
  const more = (samples: SyncSample[], t0: number) =>
    oneMoreRep(
      samples.map((x) => x.ms),
      t0,
      o.maxReps,
      perKind,
    );

  const add: SyncSample[] = [];
  let t0 = Date.now();
  // The removes that follow take about as long as the adds: together two thirds of the time.
  while (more(add, t0))
    add.push(await timedSync(proxy, rc, mutations.withExtra(base, add.length + 1)));
  const remove: SyncSample[] = [];
  for (let k = add.length - 1; k >= 0; k--)
    remove.push(await timedSync(proxy, rc, mutations.withExtra(base, k)));
  const change: SyncSample[] = [];
  t0 = Date.now();
  while (more(change, t0))
    change.push(await timedSync(proxy, rc, mutations.changeEndpoints(base, change.length)));
  o.onProgress?.(
    `full ${full.ms.toFixed(0)} ms; add ${median(add)} ms, remove ${median(remove)} ms, change ${median(change)} ms (${add.length}/${remove.length}/${change.length} reps)`,
  );
  return {
    install,
    full,
    kernelMemory,
    addOne: summarize(add),
    removeOne: summarize(remove),
    changeEndpoints: summarize(change),
  };
}

function median(samples: SyncSample[]): string {
  return stats(samples.map((s) => s.ms)).median.toFixed(1);
}
