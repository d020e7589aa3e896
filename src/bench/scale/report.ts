import * as z from 'zod';
import type { Stats } from '../stats.js';
import type { DataPathResult } from './datapath.js';
import type { KernelMemory } from './meminfo.js';
import { SCALE_MODES, type ScaleMode } from './modes.js';
import type { NftBreakdown } from './nft-breakdown.js';
import type { PlannerTiming } from './planner.js';
import type { ChangeCost, ProgrammingResult, SyncSample } from './programming.js';
import type { KubeProxyChange, KubeProxyMeasurement } from './kube-proxy-cell.js';

/** Where and with what a part of the run was measured: numbers mean nothing without it. */
export interface Environment {
  where: 'host' | 'vm';
  /** QEMU TCG: absolute numbers are not comparable with the host's. */
  emulated: boolean;
  kernel: string;
  machine: string;
  tools: { iptables: string; nft: string; ipvsadm: string; iperf3: string };
}

/** One mode at one N. */
export interface ScaleCell {
  mode: ScaleMode;
  services: number;
  where: 'host' | 'vm';
  status: 'ok' | 'skipped' | 'failed';
  reason?: string | undefined;
  planner?: PlannerTiming | undefined;
  programming?: ProgrammingSummary | undefined;
  dataPath?: DataPathResult[] | undefined;
  /** nftables modes: where the time of one `nft` process goes (absent in older reports). */
  nftBreakdown?: NftBreakdown | undefined;
  /** kube-proxy modes: the Kubernetes release whose kube-proxy ran. */
  kubeVersion?: string | undefined;
  /** kube-proxy modes: what was measured from kube-proxy's metrics, /proc and the API. */
  kubeProxy?: KubeProxyMeasurement | undefined;
  durationMs: number;
}

/** A line in the tables and charts: a mode, and for the real kube-proxy its release. */
export function seriesOf(c: { mode: ScaleMode; kubeVersion?: string | undefined }): string {
  return c.kubeVersion ? `${c.mode} ${c.kubeVersion}` : c.mode;
}

/**
 * kube-proxy's figures in the programming summary's terms, so every table and chart has them
 * beside svclab's: the full sync is its first sync after a start with N Services, its CPU that of
 * kube-proxy since start (informers included); a change's time is API write → synced.
 */
export function programmingOfKubeProxy(k: KubeProxyMeasurement): ProgrammingSummary {
  const change = (c: KubeProxyChange): ChangeSummary => ({
    reps: c.reps,
    ms: c.applyMs,
    cpuMs: c.cpuMs,
    maxRssKiB: k.finalUsage.hwmKiB,
    strategy: 'kube-proxy',
    written: {},
  });
  return {
    full: {
      ms: k.firstSyncMs,
      strategy: 'full',
      cost: {
        commands: 0,
        userMs: k.firstSyncUsage.userMs,
        sysMs: k.firstSyncUsage.sysMs,
        maxRssKiB: k.firstSyncUsage.hwmKiB,
        wallMs: k.startToFirstSyncMs,
      },
      plannerCpuMs: 0,
      written: {},
    },
    kernelMemory: k.kernelMemory,
    addOne: change(k.addOne),
    removeOne: change(k.removeOne),
    changeEndpoints: change(k.changeEndpoints),
  };
}

export interface ProgrammingSummary {
  full: SyncSample;
  kernelMemory: KernelMemory;
  addOne: ChangeSummary;
  removeOne: ChangeSummary;
  changeEndpoints: ChangeSummary;
}

export interface ChangeSummary {
  reps: number;
  ms: Stats;
  cpuMs: Stats;
  maxRssKiB: number;
  strategy: string;
  written: Record<string, number>;
}

export function summarizeProgramming(p: ProgrammingResult): ProgrammingSummary {
  const change = (c: ChangeCost): ChangeSummary => ({
    reps: c.samples.length,
    ms: c.ms,
    cpuMs: c.cpuMs,
    maxRssKiB: Math.max(0, ...c.samples.map((s) => s.cost.maxRssKiB)),
    strategy: c.samples[0]?.strategy ?? 'none',
    written: c.samples[0]?.written ?? {},
  });
  return {
    full: p.full,
    kernelMemory: p.kernelMemory,
    addOne: change(p.addOne),
    removeOne: change(p.removeOne),
    changeEndpoints: change(p.changeEndpoints),
  };
}

export interface ScaleOptionsRecord {
  modes: ScaleMode[];
  services: number[];
  endpoints: number;
  nodePortEvery: number;
  quick: boolean;
  budgetSeconds: number;
  connections: number;
  iperfSeconds: number;
  /** Releases whose kube-proxy the kube-proxy modes ran (each mode once per release). */
  kubeVersions?: string[] | undefined;
}

export interface ScaleReport {
  schemaVersion: 1;
  benchmark: 'scale';
  startedAt: string;
  durationMs: number;
  options: ScaleOptionsRecord;
  environments: Environment[];
  cells: ScaleCell[];
  rows: Row[];
  notes: string[];
}

/** One line of the CSV: one mode x N x metric, with the environment it was measured in. */
export interface Row {
  mode: ScaleMode;
  /** The kube-proxy release ('' for svclab's modes). */
  kubeVersion: string;
  services: number;
  metric: string;
  unit: string;
  value: number | null;
  where: 'host' | 'vm';
  emulated: boolean;
  kernel: string;
  iptables: string;
  nft: string;
  ipvsadm: string;
  machine: string;
}

/** The metrics that get a chart and a column in the Markdown tables, in report order. */
export const METRICS: {
  metric: string;
  unit: string;
  title: string;
  pick: (c: ScaleCell) => number | null | undefined;
}[] = [
  {
    metric: 'full_sync_ms',
    unit: 'ms',
    title: 'Initial full programming',
    pick: (c) => c.programming?.full.ms,
  },
  {
    metric: 'full_sync_cpu_ms',
    unit: 'ms',
    title: 'CPU of programming processes, full sync',
    pick: (c) => cpu(c.programming?.full),
  },
  {
    metric: 'full_sync_peak_rss_kib',
    unit: 'KiB',
    title: 'Peak RSS of programming processes, full sync',
    pick: (c) => c.programming?.full.cost.maxRssKiB,
  },
  {
    metric: 'add_one_ms_median',
    unit: 'ms',
    title: 'Add one Service (median)',
    pick: (c) => c.programming?.addOne.ms.median,
  },
  {
    metric: 'add_one_ms_max',
    unit: 'ms',
    title: 'Add one Service (max)',
    pick: (c) => c.programming?.addOne.ms.max,
  },
  {
    metric: 'add_one_cpu_ms_median',
    unit: 'ms',
    title: 'CPU of programming processes, add one Service (median)',
    pick: (c) => c.programming?.addOne.cpuMs.median,
  },
  {
    metric: 'remove_one_ms_median',
    unit: 'ms',
    title: 'Remove one Service (median)',
    pick: (c) => c.programming?.removeOne.ms.median,
  },
  {
    metric: 'remove_one_ms_max',
    unit: 'ms',
    title: 'Remove one Service (max)',
    pick: (c) => c.programming?.removeOne.ms.max,
  },
  {
    metric: 'change_endpoints_ms_median',
    unit: 'ms',
    title: "Change one Service's endpoints (median)",
    pick: (c) => c.programming?.changeEndpoints.ms.median,
  },
  {
    metric: 'change_endpoints_ms_max',
    unit: 'ms',
    title: "Change one Service's endpoints (max)",
    pick: (c) => c.programming?.changeEndpoints.ms.max,
  },
  {
    metric: 'change_endpoints_cpu_ms_median',
    unit: 'ms',
    title: 'CPU of programming processes, endpoint change (median)',
    pick: (c) => c.programming?.changeEndpoints.cpuMs.median,
  },
  {
    metric: 'conn_first_ms_median',
    unit: 'ms',
    title: 'New connection to the first Service (median)',
    pick: (c) => dp(c, 'first')?.connectMs.median,
  },
  {
    metric: 'conn_first_ms_p99',
    unit: 'ms',
    title: 'New connection to the first Service (p99)',
    pick: (c) => dp(c, 'first')?.connectMs.p99,
  },
  {
    metric: 'conn_last_ms_median',
    unit: 'ms',
    title: 'New connection to the last Service (median)',
    pick: (c) => dp(c, 'last')?.connectMs.median,
  },
  {
    metric: 'conn_last_ms_p99',
    unit: 'ms',
    title: 'New connection to the last Service (p99)',
    pick: (c) => dp(c, 'last')?.connectMs.p99,
  },
  {
    metric: 'iperf_first_gbps',
    unit: 'Gbit/s',
    title: 'iperf3 throughput to the first Service',
    pick: (c) => dp(c, 'first')?.throughputGbps,
  },
  {
    metric: 'iperf_last_gbps',
    unit: 'Gbit/s',
    title: 'iperf3 throughput to the last Service',
    pick: (c) => dp(c, 'last')?.throughputGbps,
  },
  {
    metric: 'kernel_slab_delta_kib',
    unit: 'KiB',
    title: 'Kernel Slab growth, initial programming',
    pick: (c) => c.programming?.kernelMemory.slabKiB,
  },
  {
    metric: 'kernel_vmalloc_delta_kib',
    unit: 'KiB',
    title: 'Kernel VmallocUsed growth, initial programming',
    pick: (c) => c.programming?.kernelMemory.vmallocUsedKiB,
  },
  {
    metric: 'planner_full_ms',
    unit: 'ms',
    title: 'Planner (pure), whole ruleset',
    pick: (c) => c.planner?.fullMs,
  },
  {
    metric: 'planner_change_ms',
    unit: 'ms',
    title: 'Planner (pure), after one Service changed',
    pick: (c) => c.planner?.changeMs,
  },
  // kube-proxy modes: the sync itself (its duration histogram) beside the end-to-end times
  // above, and what svclab's modes have no counterpart for. For svclab's modes the sync is the
  // whole change, so its `*_sync_ms_median` is the change's time.
  {
    metric: 'add_one_sync_ms_median',
    unit: 'ms',
    title: 'Add one Service: time in the sync itself (median)',
    pick: (c) => (c.kubeProxy ? c.kubeProxy.addOne.syncMs.median : c.programming?.addOne.ms.median),
  },
  {
    metric: 'remove_one_sync_ms_median',
    unit: 'ms',
    title: 'Remove one Service: time in the sync itself (median)',
    pick: (c) =>
      c.kubeProxy ? c.kubeProxy.removeOne.syncMs.median : c.programming?.removeOne.ms.median,
  },
  {
    metric: 'change_endpoints_sync_ms_median',
    unit: 'ms',
    title: "Change one Service's endpoints: time in the sync itself (median)",
    pick: (c) =>
      c.kubeProxy
        ? c.kubeProxy.changeEndpoints.syncMs.median
        : c.programming?.changeEndpoints.ms.median,
  },
  {
    metric: 'network_programming_ms_median',
    unit: 'ms',
    title: "kube-proxy's network_programming_duration, endpoint change (median)",
    pick: (c) => c.kubeProxy?.changeEndpoints.programmingMs.median,
  },
  {
    metric: 'start_to_first_sync_ms',
    unit: 'ms',
    title: 'kube-proxy start with N Services → end of its first sync',
    pick: (c) => c.kubeProxy?.startToFirstSyncMs,
  },
  {
    metric: 'kube_proxy_rss_kib',
    unit: 'KiB',
    title: 'kube-proxy RSS after its first sync',
    pick: (c) => c.kubeProxy?.firstSyncUsage.rssKiB,
  },
  {
    metric: 'kube_proxy_peak_rss_kib',
    unit: 'KiB',
    title: 'kube-proxy peak RSS (VmHWM) after the changes',
    pick: (c) => c.kubeProxy?.finalUsage.hwmKiB,
  },
  {
    metric: 'api_load_ms',
    unit: 'ms',
    title: 'Writing the N Services and EndpointSlices through the API (not the proxy)',
    pick: (c) => c.kubeProxy?.apiLoad.ms,
  },
  // nftables modes only: one `nft` process adding one element with a goto verdict, split into
  // its kernel part (the batch's sendmsg) and the rest (mostly reading the table).
  {
    metric: 'nft_process_wall_ms_median',
    unit: 'ms',
    title: 'One nft process, add one goto element: wall (median)',
    pick: (c) => c.nftBreakdown?.addGoto.wallMs.median,
  },
  {
    metric: 'nft_userspace_ms_median',
    unit: 'ms',
    title: 'One nft process, add one goto element: userspace incl. reading the table (median)',
    pick: (c) => c.nftBreakdown?.addGoto.userspaceMs.median,
  },
  {
    metric: 'nft_kernel_commit_goto_ms_median',
    unit: 'ms',
    title: 'Kernel batch + commit, add one element with goto (median)',
    pick: (c) => c.nftBreakdown?.addGoto.kernelMs.median,
  },
  {
    metric: 'nft_kernel_commit_drop_ms_median',
    unit: 'ms',
    title: 'Kernel batch + commit, add one element with drop (median)',
    pick: (c) => c.nftBreakdown?.addDrop.kernelMs.median,
  },
  {
    metric: 'nft_kernel_delete_ms_median',
    unit: 'ms',
    title: 'Kernel batch + commit, delete the goto element (median)',
    pick: (c) => c.nftBreakdown?.deleteGoto.kernelMs.median,
  },
];

function cpu(s: SyncSample | undefined): number | undefined {
  return s ? s.cost.userMs + s.cost.sysMs : undefined;
}

function dp(c: ScaleCell, position: 'first' | 'last'): DataPathResult | undefined {
  return c.dataPath?.find((d) => d.position === position);
}

/** Flattens cells into CSV rows: the chart metrics plus what the initial full sync wrote. */
export function toRows(cells: readonly ScaleCell[], environments: readonly Environment[]): Row[] {
  const rows: Row[] = [];
  for (const c of cells) {
    if (c.status !== 'ok') continue;
    const env = environments.find((e) => e.where === c.where);
    const base = {
      mode: c.mode,
      kubeVersion: c.kubeVersion ?? '',
      services: c.services,
      where: c.where,
      emulated: env?.emulated ?? false,
      kernel: env?.kernel ?? '',
      iptables: env?.tools.iptables ?? '',
      nft: env?.tools.nft ?? '',
      ipvsadm: env?.tools.ipvsadm ?? '',
      machine: env?.machine ?? '',
    };
    for (const m of METRICS) {
      const v = m.pick(c);
      if (v === undefined) continue;
      rows.push({
        ...base,
        metric: m.metric,
        unit: m.unit,
        value: v === null || !Number.isFinite(v) ? null : round(v),
      });
    }
    for (const [k, v] of Object.entries(c.programming?.full.written ?? {})) {
      rows.push({ ...base, metric: `full_written_${snake(k)}`, unit: 'count', value: v });
    }
  }
  return rows;
}

function round(v: number): number {
  return Math.abs(v) >= 100 ? Math.round(v * 10) / 10 : Math.round(v * 1000) / 1000;
}

function snake(s: string): string {
  return s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

const ROW_COLUMNS = [
  'mode',
  'kubeVersion',
  'services',
  'metric',
  'unit',
  'value',
  'where',
  'emulated',
  'kernel',
  'iptables',
  'nft',
  'ipvsadm',
  'machine',
] as const;

/** RFC 4180: quote fields with commas, quotes or line breaks; double embedded quotes. */
export function csvField(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function toCsv(rows: readonly Row[]): string {
  const lines = [ROW_COLUMNS.join(',')];
  for (const r of rows) lines.push(ROW_COLUMNS.map((c) => csvField(r[c])).join(','));
  return lines.join('\r\n') + '\r\n';
}

// ---- JSON schema of the report (validated by the tests and before writing) ----

const statsSchema = z.object({
  n: z.number().int(),
  min: z.number().nullable(),
  median: z.number().nullable(),
  p99: z.number().nullable(),
  max: z.number().nullable(),
  mean: z.number().nullable(),
});
const costSchema = z.object({
  commands: z.number().int(),
  userMs: z.number(),
  sysMs: z.number(),
  maxRssKiB: z.number(),
  wallMs: z.number(),
});
const sampleSchema = z.object({
  ms: z.number(),
  strategy: z.string(),
  cost: costSchema,
  plannerCpuMs: z.number(),
  written: z.record(z.string(), z.number()),
});
const changeSchema = z.object({
  reps: z.number().int().min(1),
  ms: statsSchema,
  cpuMs: statsSchema,
  maxRssKiB: z.number(),
  strategy: z.string(),
  written: z.record(z.string(), z.number()),
});
const nftTransactionSchema = z.object({
  wallMs: statsSchema,
  kernelMs: statsSchema,
  userspaceMs: statsSchema,
});
const modeSchema = z.enum(SCALE_MODES);
const usageSchema = z.object({
  rssKiB: z.number().positive(),
  hwmKiB: z.number().positive(),
  cpuMs: z.number().min(0),
  userMs: z.number().min(0),
  sysMs: z.number().min(0),
});
const kubeProxyChangeSchema = z.object({
  reps: z.number().int().min(1),
  applyMs: statsSchema,
  syncMs: statsSchema,
  syncs: statsSchema,
  programmingMs: statsSchema,
  cpuMs: statsSchema,
});
const kubeProxySchema = z.object({
  apiLoad: z.object({
    services: z.number().int().positive(),
    objects: z.number().int().positive(),
    ms: z.number().positive(),
    concurrency: z.number().int().positive(),
    priorityLevel: z.string().min(1),
  }),
  startToFirstSyncMs: z.number().positive(),
  firstSyncMs: z.number().positive(),
  firstSyncs: z.number().int().min(1),
  firstSyncUsage: usageSchema,
  kernelMemory: z.object({
    slabKiB: z.number(),
    sUnreclaimKiB: z.number(),
    vmallocUsedKiB: z.number(),
  }),
  addOne: kubeProxyChangeSchema,
  removeOne: kubeProxyChangeSchema,
  changeEndpoints: kubeProxyChangeSchema,
  finalUsage: usageSchema,
});
const whereSchema = z.enum(['host', 'vm']);

export const scaleReportSchema = z.strictObject({
  schemaVersion: z.literal(1),
  benchmark: z.literal('scale'),
  startedAt: z.string(),
  durationMs: z.number(),
  options: z.object({
    modes: z.array(modeSchema).min(1),
    services: z.array(z.number().int().positive()).min(1),
    endpoints: z.number().int().positive(),
    nodePortEvery: z.number().int().min(0),
    quick: z.boolean(),
    budgetSeconds: z.number().positive(),
    connections: z.number().int().positive(),
    iperfSeconds: z.number().positive(),
    kubeVersions: z.array(z.string()).optional(),
  }),
  environments: z
    .array(
      z.object({
        where: whereSchema,
        emulated: z.boolean(),
        kernel: z.string().min(1),
        machine: z.string().min(1),
        tools: z.object({
          iptables: z.string(),
          nft: z.string(),
          ipvsadm: z.string(),
          iperf3: z.string(),
        }),
      }),
    )
    .min(1),
  cells: z.array(
    z.object({
      mode: modeSchema,
      services: z.number().int().positive(),
      where: whereSchema,
      status: z.enum(['ok', 'skipped', 'failed']),
      reason: z.string().optional(),
      planner: z.object({ fullMs: z.number(), changeMs: z.number() }).optional(),
      programming: z
        .object({
          full: sampleSchema,
          kernelMemory: z.object({
            slabKiB: z.number(),
            sUnreclaimKiB: z.number(),
            vmallocUsedKiB: z.number(),
          }),
          addOne: changeSchema,
          removeOne: changeSchema,
          changeEndpoints: changeSchema,
        })
        .optional(),
      dataPath: z
        .array(
          z.object({
            position: z.enum(['first', 'last']),
            service: z.string(),
            connectMs: statsSchema,
            failures: z.number().int().min(0),
            throughputGbps: z.number().nullable(),
            iperfError: z.string().optional(),
          }),
        )
        .optional(),
      nftBreakdown: z
        .object({
          reps: z.number().int().min(1),
          key: z.string(),
          gotoChain: z.string(),
          addGoto: nftTransactionSchema,
          deleteGoto: nftTransactionSchema,
          addDrop: nftTransactionSchema,
          deleteDrop: nftTransactionSchema,
        })
        .optional(),
      kubeVersion: z.string().optional(),
      kubeProxy: kubeProxySchema.optional(),
      durationMs: z.number(),
    }),
  ),
  rows: z.array(
    z.object({
      mode: modeSchema,
      // Absent in reports written before the kube-proxy modes.
      kubeVersion: z.string().default(''),
      services: z.number().int().positive(),
      metric: z.string().regex(/^[a-z0-9_]+$/),
      unit: z.string(),
      value: z.number().nullable(),
      where: whereSchema,
      emulated: z.boolean(),
      kernel: z.string(),
      iptables: z.string(),
      nft: z.string(),
      ipvsadm: z.string(),
      machine: z.string(),
    }),
  ),
  notes: z.array(z.string()),
});

/** JSON of the report; NaN (stats of nothing) becomes null so the file stays valid JSON. */
export function toJson(report: ScaleReport): string {
  return (
    JSON.stringify(
      report,
      (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v),
      2,
    ) + '\n'
  );
}
