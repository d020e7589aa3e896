import { fmtMs, mdTable } from './markdown-format.js';
import { isKubeProxyMode, PEER_MODE } from './modes.js';
import { METRICS, seriesOf, type ScaleCell } from './report.js';

function fmtMiB(k: number | null | undefined): string {
  return k === undefined || k === null || !Number.isFinite(k)
    ? '—'
    : `${(k / 1024).toFixed(0)} MiB`;
}

/** `a / b (×a/b)`; the ratio is svclab ÷ kube-proxy (below 1: svclab is faster or smaller). */
function pair(a: number | undefined | null, b: number | undefined | null, fmt = fmtMs): string {
  if (a === undefined || a === null || b === undefined || b === null) return '—';
  return `${fmt(a)} / ${fmt(b)} (${ratio(a, b)})`;
}

function ratio(a: number, b: number): string {
  return b > 0 && Number.isFinite(a / b) ? `×${(a / b).toPrecision(2)}` : '—';
}

/** A chart metric's value for a cell: the same pick serves svclab's cells and kube-proxy's. */
const metric = (name: string) => METRICS.find((m) => m.metric === name)!.pick;

/**
 * The figures set side by side, each read the same way from svclab's cell and from kube-proxy's
 * (report.ts maps kube-proxy's measurement into the programming summary and the `*_sync_*`
 * metrics pick each side's sync time).
 */
export const SIDE_BY_SIDE: {
  key: string;
  title: string;
  pick: (c: ScaleCell) => number | null | undefined;
  fmt?: (v: number | null | undefined) => string;
}[] = [
  { key: 'full', title: 'full sync', pick: metric('full_sync_ms') },
  { key: 'add', title: 'add one: sync', pick: metric('add_one_sync_ms_median') },
  { key: 'remove', title: 'remove one: sync', pick: metric('remove_one_sync_ms_median') },
  {
    key: 'change',
    title: 'change endpoints: sync',
    pick: metric('change_endpoints_sync_ms_median'),
  },
  {
    // svclab's planning runs in the bench process, not in the programming processes: counted here
    // so that both sides are the whole proxy's CPU.
    key: 'cpu',
    title: 'CPU, full sync',
    pick: (c) =>
      c.kubeProxy
        ? c.kubeProxy.firstSyncUsage.cpuMs
        : c.programming &&
          c.programming.full.cost.userMs +
            c.programming.full.cost.sysMs +
            c.programming.full.plannerCpuMs,
  },
  { key: 'conn', title: 'conn to last Service', pick: metric('conn_last_ms_median') },
  { key: 'slab', title: 'kernel Slab Δ', pick: metric('kernel_slab_delta_kib'), fmt: fmtMiB },
];

/** Each figure for svclab's cell and kube-proxy's, with the ratio svclab ÷ kube-proxy. */
export function sideBySide(
  svclab: ScaleCell,
  kubeProxy: ScaleCell,
): { key: string; svclab?: number | undefined; kubeProxy?: number | undefined; ratio?: number }[] {
  return SIDE_BY_SIDE.map((f) => {
    const a = f.pick(svclab) ?? undefined;
    const b = f.pick(kubeProxy) ?? undefined;
    return {
      key: f.key,
      svclab: a,
      kubeProxy: b,
      ...(a !== undefined && b !== undefined && b > 0 ? { ratio: a / b } : {}),
    };
  });
}

/** The sections about the real kube-proxy: its own figures, beside svclab's peer, and across releases. */
export function kubeProxySections(cells: ScaleCell[]): string[] {
  const kp = cells.filter((c) => c.kubeProxy);
  if (kp.length === 0) return [];
  const out: string[] = [];
  out.push('## 8. The real kube-proxy, through the API', '');
  out.push(
    "kube-proxy ran in the node's namespace, supervised by the lab kubelet, against the lab's kube-apiserver; the N Services (the same ClusterIPs, NodePorts and endpoints as svclab's modes get) and their EndpointSlices were written through the API while kube-proxy was stopped, then kube-proxy was started. **API load**: writing them (not kube-proxy's time), with the API Priority and Fairness level they were served at. **start → first sync**: kube-proxy's start until its first sync ended (kubernetes#130119's restart cost: informers listing N objects, then the full sync). **first sync**: that sync's own duration (`sync_proxy_rules_duration_seconds`). Changes: API write → end of the sync that applied it (`sync_proxy_rules_last_timestamp_seconds`), the time kube-proxy spent syncing for it, and the syncs it caused (a new Service and its slice arrive on two watches, often two syncs). **programming**: kube-proxy's own `network_programming_duration_seconds` from the slice's trigger-time annotation. RSS and CPU of the kube-proxy process from /proc (CPU includes the children it reaped).",
    '',
  );
  out.push(
    mdTable(
      [
        'mode',
        'N',
        'API load',
        'start → first sync',
        'first sync',
        'add: API→synced / sync / syncs',
        'remove: API→synced / sync',
        'change: API→synced / sync / programming',
        'RSS / peak',
        'CPU start→first sync',
      ],
      kp.map((c) => {
        const k = c.kubeProxy!;
        return [
          seriesOf(c),
          String(c.services),
          `${k.apiLoad.objects} objects in ${fmtMs(k.apiLoad.ms)} (${k.apiLoad.priorityLevel})`,
          fmtMs(k.startToFirstSyncMs),
          fmtMs(k.firstSyncMs) + (k.firstSyncs > 1 ? ` (${k.firstSyncs} syncs)` : ''),
          `${fmtMs(k.addOne.applyMs.median)} / ${fmtMs(k.addOne.syncMs.median)} / ${k.addOne.syncs.median}`,
          `${fmtMs(k.removeOne.applyMs.median)} / ${fmtMs(k.removeOne.syncMs.median)}`,
          `${fmtMs(k.changeEndpoints.applyMs.median)} / ${fmtMs(k.changeEndpoints.syncMs.median)} / ${fmtMs(k.changeEndpoints.programmingMs.median)}`,
          `${fmtMiB(k.firstSyncUsage.rssKiB)} / ${fmtMiB(k.finalUsage.hwmKiB)}`,
          fmtMs(k.firstSyncUsage.cpuMs),
        ];
      }),
    ),
    '',
  );

  out.push("## 9. svclab's planners beside the real kube-proxy", '');
  out.push(
    "Each cell: svclab's mode with kube-proxy's layout / the real kube-proxy (×ratio svclab ÷ kube-proxy; below 1 svclab is faster or smaller), at the same N in the same run. Peers: iptables-partial ↔ kube-proxy-iptables (partial sync since 1.26), nftables ↔ kube-proxy-nftables, ipvs ↔ kube-proxy-ipvs. Sync times compare like with like: svclab's `sync()` against kube-proxy's sync duration histogram (neither includes the API). svclab's CPU is that of its programming processes plus its own planning; kube-proxy's is its process since start (informers included).",
    '',
  );
  const peers = [...new Set(kp.map(seriesOf))];
  const slower: string[] = [];
  for (const s of peers) {
    const mine = kp.filter((c) => seriesOf(c) === s);
    const mode = mine[0]!.mode;
    if (!isKubeProxyMode(mode)) continue;
    const peer = PEER_MODE[mode];
    const rows: string[][] = [];
    for (const c of mine) {
      const p = cells.find((x) => x.mode === peer && x.services === c.services);
      if (!p) continue;
      const figures = sideBySide(p, c);
      rows.push([
        String(c.services),
        ...figures.map((x, i) => pair(x.svclab, x.kubeProxy, SIDE_BY_SIDE[i]!.fmt)),
      ]);
      for (const x of figures)
        if (
          x.ratio !== undefined &&
          x.ratio > 1.5 &&
          ['full', 'add', 'remove', 'change'].includes(x.key)
        )
          slower.push(`${peer} vs ${s} at ${c.services}: ${x.key} ×${x.ratio.toPrecision(2)}`);
    }
    out.push(`### ${peer} / ${s}`, '');
    out.push(
      rows.length > 0
        ? mdTable(['N', ...SIDE_BY_SIDE.map((f) => f.title)], rows)
        : `No N at which both ${peer} and ${s} were measured.`,
      '',
    );
  }
  if (slower.length > 0)
    out.push(
      'Where svclab is more than 1.5× slower than kube-proxy (docs/bench/README.md says why):',
      '',
      ...slower.map((l) => `- ${l}`),
      '',
    );

  const versions = [...new Set(kp.map((c) => c.kubeVersion ?? ''))].sort();
  if (versions.length > 1) {
    out.push('## 10. kube-proxy releases', '');
    out.push(
      `The same mode and N with each release's kube-proxy (${versions.join(' / ')}; ×: the last release ÷ the first).`,
      '',
    );
    // Only modes measured with more than one release have something to compare.
    const modes = [...new Set(kp.map((c) => c.mode))].filter(
      (m) => new Set(kp.filter((c) => c.mode === m).map((c) => c.kubeVersion)).size > 1,
    );
    for (const m of modes) {
      const ns = [...new Set(kp.filter((c) => c.mode === m).map((c) => c.services))].sort(
        (a, b) => a - b,
      );
      const at = (v: string, n: number) =>
        kp.find((c) => c.mode === m && c.kubeVersion === v && c.services === n)?.kubeProxy;
      const fig = (
        name: string,
        pick: (k: NonNullable<ScaleCell['kubeProxy']>) => number,
        fmt = fmtMs,
      ) =>
        ns.map((n) => {
          const vals = versions.map((v) => at(v, n));
          const first = vals[0];
          const last = vals[vals.length - 1];
          return [
            String(n),
            name,
            ...vals.map((k) => (k ? fmt(pick(k)) : '—')),
            first && last ? ratio(pick(last), pick(first)) : '—',
          ];
        });
      out.push(`### ${m}`, '');
      out.push(
        mdTable(
          ['N', 'figure', ...versions, '×'],
          [
            ...fig('start → first sync', (k) => k.startToFirstSyncMs),
            ...fig('first sync', (k) => k.firstSyncMs),
            ...fig('add one: sync', (k) => k.addOne.syncMs.median),
            ...fig('change endpoints: sync', (k) => k.changeEndpoints.syncMs.median),
            ...fig('RSS after first sync', (k) => k.firstSyncUsage.rssKiB, fmtMiB),
          ].sort((a, b) => Number(a[0]) - Number(b[0])),
        ),
        '',
      );
    }
  }
  return out;
}
