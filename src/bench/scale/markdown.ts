import { METRICS, seriesOf, type ScaleCell, type ScaleReport } from './report.js';
import { TALK_ADD_RULE, TALK_IPERF, TALK_MEMORY } from './talk.js';
import { SCALE_MODES } from './modes.js';
import { fmtKiB, fmtMs, fmtNum, mdTable } from './markdown-format.js';
import { kubeProxySections } from './markdown-kube-proxy.js';

export { fmtMs, mdCell, mdTable } from './markdown-format.js';

const okCells = (r: ScaleReport) => r.cells.filter((c) => c.status === 'ok');
const byMode = (a: ScaleCell, b: ScaleCell) =>
  SCALE_MODES.indexOf(a.mode) - SCALE_MODES.indexOf(b.mode) ||
  (a.kubeVersion ?? '').localeCompare(b.kubeVersion ?? '') ||
  a.services - b.services;

function cellAt(r: ScaleReport, series: string, n: number): ScaleCell | undefined {
  return r.cells.find((c) => seriesOf(c) === series && c.services === n && c.status === 'ok');
}

/** The report's lines (mode, and release for kube-proxy), in report order. */
export function seriesList(r: ScaleReport): string[] {
  return [...new Set([...r.cells].sort(byMode).map(seriesOf))];
}

/** The report as Markdown: environment, the three tables of the talk, planner cost, the talk side by side, nftables cost breakdown. */
export function toMarkdown(r: ScaleReport, o: { charts?: string[] } = {}): string {
  const out: string[] = [];
  const cells = okCells(r).sort(byMode);
  const vm = r.environments.find((e) => e.where === 'vm');
  out.push('# svclab bench scale', '');
  out.push(
    `Run ${r.startedAt}, ${fmtMs(r.durationMs)} in total. Modes ${r.options.modes.join(', ')}; N = ${r.options.services.join(', ')} Services; ${r.options.endpoints} endpoints each; one Service in ${r.options.nodePortEvery} is a NodePort${r.options.quick ? '; --quick' : ''}.`,
    '',
  );
  out.push(
    mdTable(
      ['where', 'kernel', 'machine', 'iptables', 'nft', 'ipvsadm', 'iperf3'],
      r.environments.map((e) => [
        e.where + (e.emulated ? ' (QEMU TCG)' : ''),
        e.kernel,
        e.machine,
        e.tools.iptables,
        e.tools.nft,
        e.tools.ipvsadm,
        e.tools.iperf3,
      ]),
    ),
    '',
  );
  if (vm?.emulated)
    out.push(
      '> IPVS numbers were taken inside a QEMU VM under TCG (software emulation; this host kernel has no IP_VS). Every instruction and every process spawn is several times slower there, so they are **not comparable in absolute terms** with the host modes: compare shapes and ratios within the IPVS mode.',
      '',
    );
  // The TCG note is the blockquote above; other notes as a list.
  const notes = r.notes.filter((n) => !(vm?.emulated && n.startsWith('IPVS was measured inside')));
  for (const n of notes) out.push(`- ${n}`);
  const notOk = r.cells.filter((c) => c.status !== 'ok');
  for (const c of notOk)
    out.push(
      `- ${seriesOf(c)} at ${c.services} Services: ${c.status}${c.reason ? `: ${c.reason}` : ''}`,
    );
  if (notes.length + notOk.length > 0) out.push('');

  out.push('## 1. Programming cost (talk table 1)', '');
  out.push(
    'Wall time of `sync()` as the proxy reports it (median / max over the repetitions), CPU = user+sys of the processes the sync spawned (GNU time), and what the initial sync wrote.',
    '',
  );
  out.push(
    mdTable(
      [
        'mode',
        'N',
        'full sync',
        'add one',
        'remove one',
        'change endpoints',
        'reps',
        'CPU full',
        'CPU change',
        'written (full)',
      ],
      cells.map((c) => {
        const p = c.programming;
        const mm = (s: { median: number; max: number } | undefined) =>
          s ? `${fmtMs(s.median)} / ${fmtMs(s.max)}` : '—';
        return [
          seriesOf(c),
          String(c.services),
          fmtMs(p?.full.ms),
          mm(p?.addOne.ms),
          mm(p?.removeOne.ms),
          mm(p?.changeEndpoints.ms),
          String(p?.addOne.reps ?? '—'),
          fmtMs(p ? p.full.cost.userMs + p.full.cost.sysMs : undefined),
          fmtMs(p?.changeEndpoints.cpuMs.median),
          writtenSummary(p?.full.written),
        ];
      }),
    ),
    '',
  );

  out.push('## 2. Data-path cost (talk table 2)', '');
  out.push(
    `New-connection latency from the client pod (${r.options.connections} sequential connections, TCP connect + one HTTP request, through the svclab agent) and iperf3 throughput (${r.options.iperfSeconds} s, one stream) to the first and the last Service in KUBE-SERVICES order.`,
    '',
  );
  out.push(
    mdTable(
      [
        'mode',
        'N',
        'first: median / p99',
        'last: median / p99',
        'iperf first (Gbit/s)',
        'iperf last (Gbit/s)',
        'failed conns',
      ],
      cells
        .filter((c) => c.dataPath)
        .map((c) => {
          const f = c.dataPath!.find((d) => d.position === 'first');
          const l = c.dataPath!.find((d) => d.position === 'last');
          return [
            seriesOf(c),
            String(c.services),
            `${fmtMs(f?.connectMs.median)} / ${fmtMs(f?.connectMs.p99)}`,
            `${fmtMs(l?.connectMs.median)} / ${fmtMs(l?.connectMs.p99)}`,
            fmtNum(f?.throughputGbps),
            fmtNum(l?.throughputGbps),
            String((f?.failures ?? 0) + (l?.failures ?? 0)),
          ];
        }),
    ),
    '',
  );

  out.push('## 3. Memory (talk table 3)', '');
  out.push(
    'Kernel memory: growth of Slab and VmallocUsed in /proc/meminfo around the initial programming (machine-wide, so other activity is included; small values are noise). Peak RSS: the largest programming process of the sync.',
    '',
  );
  out.push(
    mdTable(
      ['mode', 'N', 'Slab Δ', 'VmallocUsed Δ', 'peak RSS (full)', 'peak RSS (change)'],
      cells.map((c) => [
        seriesOf(c),
        String(c.services),
        fmtKiB(c.programming?.kernelMemory.slabKiB),
        fmtKiB(c.programming?.kernelMemory.vmallocUsedKiB),
        fmtKiB(c.programming?.full.cost.maxRssKiB),
        fmtKiB(c.programming?.changeEndpoints.maxRssKiB),
      ]),
    ),
    '',
  );

  out.push('## 4. Planner cost (pure, no kernel)', '');
  out.push(
    mdTable(
      ['mode', 'N', 'whole ruleset', 'after one change', 'bench CPU in full sync'],
      cells.map((c) => [
        seriesOf(c),
        String(c.services),
        fmtMs(c.planner?.fullMs),
        fmtMs(c.planner?.changeMs),
        fmtMs(c.programming?.full.plannerCpuMs),
      ]),
    ),
    '',
  );

  const series = seriesList(r);
  out.push('## 5. The talk side by side', '');
  out.push('Adding one Service (talk: "adding one rule") with N Services present:', '');
  out.push(
    mdTable(
      ['N', 'talk iptables', 'talk IPVS', ...series],
      TALK_ADD_RULE.map((t) => [
        String(t.services),
        t.iptables,
        t.ipvs,
        ...series.map((m) => fmtMs(cellAt(r, m, t.services)?.programming?.addOne.ms.median)),
      ]),
    ),
    '',
  );
  out.push(
    'Throughput to the first / last Service (talk: iperf, unit not printed; here Gbit/s):',
    '',
  );
  out.push(
    mdTable(
      ['N', 'talk iptables', 'talk IPVS', ...series],
      TALK_IPERF.map((t) => [
        String(t.services),
        `${t.iptablesFirst} / ${t.iptablesLast}`,
        `${t.ipvsFirst} / ${t.ipvsLast}`,
        ...series.map((m) => {
          const c = cellAt(r, m, t.services);
          const f = c?.dataPath?.find((d) => d.position === 'first')?.throughputGbps;
          const l = c?.dataPath?.find((d) => d.position === 'last')?.throughputGbps;
          return c?.dataPath ? `${fmtNum(f, 1)} / ${fmtNum(l, 1)}` : '—';
        }),
      ]),
    ),
    '',
  );
  out.push(
    "Memory (talk: node memory, method not stated; here for svclab's modes kernel Slab+Vmalloc growth + peak RSS of the programming process; for kube-proxy its own RSS after the first sync, its peak after the changes, and the kernel growth of its first sync) and CPU. The talk measured kube-proxy: its iptables and IPVS columns are the kube-proxy-iptables and kube-proxy-ipvs columns' peers:",
    '',
  );
  out.push(
    mdTable(
      ['N', 'talk iptables', 'talk IPVS', 'talk CPU iptables / IPVS', ...series],
      TALK_MEMORY.map((t) => [
        String(t.services),
        t.iptables,
        t.ipvs,
        `${t.cpuIptables} / ${t.cpuIpvs}`,
        ...series.map((m) => {
          const c = cellAt(r, m, t.services);
          const p = c?.programming;
          if (c?.kubeProxy)
            return `${fmtKiB(c.kubeProxy.firstSyncUsage.rssKiB)} RSS (peak ${fmtKiB(c.kubeProxy.finalUsage.hwmKiB)}); kernel ${fmtKiB(c.kubeProxy.kernelMemory.slabKiB + c.kubeProxy.kernelMemory.vmallocUsedKiB)}`;
          return p
            ? `${fmtKiB(p.kernelMemory.slabKiB + p.kernelMemory.vmallocUsedKiB)} + ${fmtKiB(p.full.cost.maxRssKiB)}`
            : '—';
        }),
      ]),
    ),
    '',
  );

  out.push('## 6. Shapes', '');
  out.push(
    'Growth of each metric from the smallest to the largest N measured for a mode (×: ratio of the two values; N grows by the factor in brackets). The baseline is the smallest N of at least 1,000 when there is one: below that, process start-up dominates every sync.',
    '',
  );
  const shapeMetrics = [
    'full_sync_ms',
    'add_one_ms_median',
    'change_endpoints_ms_median',
    'conn_last_ms_median',
    'iperf_last_gbps',
    'planner_full_ms',
  ];
  out.push(
    mdTable(
      ['mode', 'N range', ...shapeMetrics],
      series.map((m) => {
        const all = cells.filter((c) => seriesOf(c) === m);
        const cs =
          all.some((c) => c.services >= 1000) && all.filter((c) => c.services >= 1000).length > 1
            ? all.filter((c) => c.services >= 1000)
            : all;
        const lo = cs[0];
        const hi = cs[cs.length - 1];
        if (!lo || !hi || lo === hi) return [m, '—', ...shapeMetrics.map(() => '—')];
        return [
          m,
          `${lo.services} → ${hi.services} (×${(hi.services / lo.services).toFixed(0)})`,
          ...shapeMetrics.map((k) => {
            const pick = METRICS.find((x) => x.metric === k)!.pick;
            const a = pick(lo);
            const b = pick(hi);
            return a && b && Number.isFinite(a) && Number.isFinite(b)
              ? `×${(b / a).toPrecision(2)}`
              : '—';
          }),
        ];
      }),
    ),
    '',
  );

  const nft = cells.filter((c) => c.nftBreakdown);
  if (nft.length > 0) {
    const b0 = nft[0]!.nftBreakdown!;
    out.push('## 7. nftables cost breakdown', '');
    out.push(
      `Where the time of one \`nft\` process goes with N Services programmed: one-element transactions on the table, each its own \`nft -f -\` under strace (only execve and sendmsg traced), median of ${b0.reps}. Add \`${b0.key}\` to \`service-ips\` with \`goto\` an existing service chain, delete it; the same with \`drop\` into \`no-endpoint-services\`. Wall: the goto add's process, execve to exit. Kernel: the one sendmsg that carries the batch, in which the kernel processes it, commit included. Userspace = wall − kernel: mostly \`nft\` dumping the existing table (chains, sets) into its cache before every command, which grows with N whatever applier runs \`nft\`. A goto/jump verdict makes the commit re-validate the table's whole chain graph (nft_table_validate), so that grows with N too, also over netlink without \`nft\`; \`drop\` is the same transaction without it.`,
      '',
    );
    out.push(
      mdTable(
        [
          'mode',
          'N',
          'nft process (wall)',
          'of which userspace (reading the table)',
          'kernel: add with goto (whole-table validation)',
          'kernel: add with drop',
          'kernel: delete',
        ],
        nft.map((c) => {
          const b = c.nftBreakdown!;
          return [
            seriesOf(c),
            String(c.services),
            fmtMs(b.addGoto.wallMs.median),
            fmtMs(b.addGoto.userspaceMs.median),
            fmtMs(b.addGoto.kernelMs.median),
            fmtMs(b.addDrop.kernelMs.median),
            fmtMs(b.deleteGoto.kernelMs.median),
          ];
        }),
      ),
      '',
    );
  }

  out.push(...kubeProxySections(cells));

  if (o.charts?.length) {
    out.push('## Charts', '');
    for (const c of o.charts) out.push(`![${c}](${c})`, '');
  }
  return out.join('\n') + '\n';
}

function writtenSummary(w: Record<string, number> | undefined): string {
  if (!w) return '—';
  const keys = [
    'rules',
    'chains',
    'chainsWritten',
    'elementsAdded',
    'virtualServers',
    'realServers',
    'ipsetEntries',
  ];
  return (
    keys
      .filter((k) => w[k] !== undefined)
      .map((k) => `${k} ${w[k]}`)
      .join(', ') || '—'
  );
}
