import { describe, expect, it } from 'vitest';
import { toMarkdown, mdTable } from './markdown.js';
import { parseBenchMetrics, parseProcessUsage } from './kube-proxy-probe.js';
import { sideBySide } from './markdown-kube-proxy.js';
import {
  csvField,
  programmingOfKubeProxy,
  scaleReportSchema,
  seriesOf,
  toCsv,
  toJson,
  toRows,
  type ScaleCell,
  type ScaleReport,
} from './report.js';
import { parseRusage } from './timed-exec.js';
import { parseMeminfo } from './meminfo.js';
import { parseIperf } from './datapath.js';
import { chartsOf } from './write.js';
import { mergeReports } from './merge.js';
import { versionLine } from './environment.js';
import type { NftBreakdown } from './nft-breakdown.js';

const stats = (v: number) => ({ n: 3, min: v, median: v, p99: v, max: v, mean: v });
const sample = (ms: number) => ({
  ms,
  strategy: 'full' as const,
  cost: { commands: 2, userMs: 10, sysMs: 20, maxRssKiB: 4096, wallMs: ms },
  plannerCpuMs: 1,
  written: { rules: 22, chains: 15 },
});
const change = (ms: number) => ({
  reps: 3,
  ms: stats(ms),
  cpuMs: stats(1),
  maxRssKiB: 3000,
  strategy: 'partial',
  written: { rules: 3 },
});

function cell(mode: ScaleCell['mode'], services: number, where: 'host' | 'vm' = 'host'): ScaleCell {
  return {
    mode,
    services,
    where,
    status: 'ok',
    planner: { fullMs: services / 100, changeMs: 0.5 },
    programming: {
      full: sample(services),
      kernelMemory: { slabKiB: services, sUnreclaimKiB: 1, vmallocUsedKiB: 2 },
      addOne: change(services / 10),
      removeOne: change(services / 20),
      changeEndpoints: change(services / 30),
    },
    dataPath: [
      {
        position: 'first',
        service: 'svc-00000',
        connectMs: stats(1),
        failures: 0,
        throughputGbps: 10,
      },
      {
        position: 'last',
        service: 'svc-00099',
        connectMs: stats(1 + services / 1000),
        failures: 1,
        throughputGbps: null,
        iperfError: 'unable to connect, "x"',
      },
    ],
    durationMs: 1000,
  };
}

function report(): ScaleReport {
  const environments = [
    {
      where: 'host' as const,
      emulated: false,
      kernel: '6.18.0',
      machine: 'AMD EPYC, 2 CPUs, 24 GiB',
      tools: {
        iptables: 'iptables v1.8.9 (nf_tables)',
        nft: 'nftables v1.0.6',
        ipvsadm: 'ipvsadm 1:1.31',
        iperf3: 'iperf 3.12',
      },
    },
    {
      where: 'vm' as const,
      emulated: true,
      kernel: '6.1.0-vm',
      machine: 'QEMU, 2 CPUs, 2 GiB',
      tools: {
        iptables: 'v1.8.9',
        nft: 'v1.0.6',
        ipvsadm: 'ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)',
        iperf3: 'iperf 3.12',
      },
    },
  ];
  const cells: ScaleCell[] = [
    cell('iptables-partial', 1),
    cell('iptables-partial', 5000),
    cell('ipvs', 1, 'vm'),
    cell('ipvs', 5000, 'vm'),
    {
      mode: 'nftables',
      services: 5000,
      where: 'host',
      status: 'skipped',
      reason: 'over the time budget',
      durationMs: 0,
    },
  ];
  return {
    schemaVersion: 1,
    benchmark: 'scale',
    startedAt: '2026-11-25T00:00:00.000Z',
    durationMs: 5000,
    options: {
      modes: ['iptables-partial', 'nftables', 'ipvs'],
      services: [1, 5000],
      endpoints: 2,
      nodePortEvery: 10,
      quick: true,
      budgetSeconds: 110,
      connections: 30,
      iperfSeconds: 1,
    },
    environments,
    cells,
    rows: toRows(cells, environments),
    notes: ['a note | with a pipe'],
  };
}

/** What the probe measures at N: the userspace part and the goto commit grow with N. */
function breakdown(services: number): NftBreakdown {
  const txn = (userspace: number, kernel: number) => ({
    wallMs: stats(userspace + kernel),
    kernelMs: stats(kernel),
    userspaceMs: stats(userspace),
  });
  return {
    reps: 3,
    key: '10.111.255.254 . tcp . 9',
    gotoChain: 'service-YCMZ66QZ-default/svc-00000/tcp/http',
    addGoto: txn(2 + services / 40, 0.07 + services / 430),
    deleteGoto: txn(8 + services / 30, 0.05),
    addDrop: txn(2 + services / 40, 0.02),
    deleteDrop: txn(8 + services / 30, 0.05),
  };
}

/** The report with nftables measured at 1 and 50,000 Services, breakdown included. */
function nftReport(): ScaleReport {
  const r = report();
  const nft = [1, 50_000].map((n) => ({ ...cell('nftables', n), nftBreakdown: breakdown(n) }));
  r.cells = [...r.cells.filter((c) => c.mode !== 'nftables'), ...nft];
  r.rows = toRows(r.cells, r.environments);
  return r;
}

/** A minimal RFC 4180 reader: enough to prove the writer's quoting round-trips. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += ch;
  }
  return rows;
}

describe('scale report JSON', () => {
  it('matches the schema, including NaN statistics written as null', () => {
    const r = report();
    r.cells[0]!.dataPath![0]!.connectMs = {
      n: 0,
      min: NaN,
      median: NaN,
      p99: NaN,
      max: NaN,
      mean: 0,
    };
    const parsed = JSON.parse(toJson(r)) as unknown;
    expect(scaleReportSchema.safeParse(parsed).success).toBe(true);
    expect((parsed as ScaleReport).cells[0]!.dataPath![0]!.connectMs.median).toBeNull();
  });

  it('rejects unknown fields, unknown modes and rows with bad metric names', () => {
    const extra = { ...report(), surprise: 1 };
    expect(scaleReportSchema.safeParse(extra).success).toBe(false);
    const badMode = JSON.parse(toJson(report())) as { cells: { mode: string }[] };
    badMode.cells[0]!.mode = 'userspace';
    expect(scaleReportSchema.safeParse(badMode).success).toBe(false);
    const badRow = JSON.parse(toJson(report())) as { rows: { metric: string }[] };
    badRow.rows[0]!.metric = 'Full Sync';
    expect(scaleReportSchema.safeParse(badRow).success).toBe(false);
  });
});

describe('rows and CSV', () => {
  it('has one row per mode x N x metric for measured cells only, with the environment of where it ran', () => {
    const rows = report().rows;
    const keys = rows.map((r) => `${r.mode}/${r.services}/${r.metric}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(rows.some((r) => r.mode === 'nftables')).toBe(false);
    const vm = rows.find((r) => r.mode === 'ipvs' && r.metric === 'full_sync_ms')!;
    expect(vm).toMatchObject({ where: 'vm', emulated: true, kernel: '6.1.0-vm', value: 1 });
    expect(rows.find((r) => r.metric === 'iperf_last_gbps')!.value).toBeNull();
    expect(rows.find((r) => r.metric === 'full_written_rules')).toMatchObject({
      unit: 'count',
      value: 22,
    });
  });

  it('quotes fields and round-trips through an RFC 4180 reader with a constant column count', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField(null)).toBe('');
    const r = report();
    const parsed = parseCsv(toCsv(r.rows));
    expect(parsed[0]).toEqual([
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
    ]);
    expect(parsed).toHaveLength(r.rows.length + 1);
    for (const row of parsed) expect(row).toHaveLength(13);
    expect(parsed[1]![12]).toBe('AMD EPYC, 2 CPUs, 24 GiB');
  });
});

describe('Markdown', () => {
  it('renders every table with a consistent column count and the talk comparison', () => {
    const md = toMarkdown(report(), { charts: ['charts/full_sync_ms.svg'] });
    const tables = md.split('\n\n').filter((b) => b.startsWith('|'));
    expect(tables.length).toBeGreaterThanOrEqual(8);
    for (const t of tables) {
      const lines = t.trim().split('\n');
      const cols = (l: string) => l.replaceAll('\\|', '').split('|').length;
      expect(lines[1]).toMatch(/^\|(---\|)+$/);
      for (const l of lines) expect(cols(l)).toBe(cols(lines[0]!));
    }
    expect(md).toContain('11 min');
    expect(md).toContain('QEMU TCG');
    expect(md).toContain('nftables at 5000 Services: skipped: over the time budget');
    expect(md).toContain('![charts/full_sync_ms.svg](charts/full_sync_ms.svg)');
  });

  it('escapes pipes inside cells', () => {
    expect(mdTable(['a'], [['x | y']])).toContain('x \\| y');
  });
});

describe('nftables cost breakdown', () => {
  it('round-trips through the schema; reports without it (older ones) still parse', () => {
    const parsed = scaleReportSchema.parse(JSON.parse(toJson(nftReport()))) as ScaleReport;
    expect(parsed.cells.find((c) => c.services === 50_000)!.nftBreakdown).toEqual(
      breakdown(50_000),
    );
    const old = JSON.parse(toJson(report())) as ScaleReport;
    expect(old.cells.some((c) => 'nftBreakdown' in c)).toBe(false);
    expect(scaleReportSchema.safeParse(old).success).toBe(true);
    const bad = JSON.parse(toJson(nftReport())) as { cells: { nftBreakdown?: { reps: number } }[] };
    bad.cells.find((c) => c.nftBreakdown)!.nftBreakdown!.reps = 0;
    expect(scaleReportSchema.safeParse(bad).success).toBe(false);
  });

  it('has rows for the nftables cells only: wall, userspace, goto and drop commit, delete', () => {
    const rows = nftReport().rows.filter((r) => r.metric.startsWith('nft_'));
    expect(new Set(rows.map((r) => r.mode))).toEqual(new Set(['nftables']));
    const at = (n: number, metric: string) =>
      rows.find((r) => r.services === n && r.metric === metric)?.value;
    expect(at(50_000, 'nft_process_wall_ms_median')).toBe(1368.3);
    expect(at(50_000, 'nft_userspace_ms_median')).toBe(1252);
    expect(at(50_000, 'nft_kernel_commit_goto_ms_median')).toBe(116.3);
    expect(at(50_000, 'nft_kernel_commit_drop_ms_median')).toBe(0.02);
    expect(at(50_000, 'nft_kernel_delete_ms_median')).toBe(0.05);
    expect(rows.filter((r) => r.services === 1)).toHaveLength(5);
    for (const r of rows) expect(r.unit).toBe('ms');
  });

  it('renders a table per mode and N in Markdown, only when something was measured', () => {
    const md = toMarkdown(nftReport());
    const section = md.slice(md.indexOf('## 7. nftables cost breakdown'));
    expect(section).toContain('nft_table_validate');
    expect(section).toContain('| nftables | 50000 | 1.4 s | 1.3 s | 116 ms | 20 us | 50 us |');
    expect(section).toContain('| nftables | 1 | 2.10 ms | 2.02 ms | 72 us | 20 us | 50 us |');
    expect(toMarkdown(report())).not.toContain('nftables cost breakdown');
  });
});

describe('SVG charts', () => {
  it('writes one well-formed chart per metric with a line per mode', () => {
    const charts = chartsOf(report());
    expect(charts.length).toBeGreaterThan(10);
    for (const c of charts) {
      expect(c.svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>/);
      expect(c.svg.trim().endsWith('</svg>')).toBe(true);
      // Balanced tags: every opened element is closed or self-closing.
      const open = (c.svg.match(/<(?!\/)[a-z]+[^>]*[^/]>/g) ?? []).length;
      const close = (c.svg.match(/<\/[a-z]+>/g) ?? []).length;
      expect(open).toBe(close);
      expect(c.svg).not.toMatch(/NaN|undefined|Infinity/);
    }
    const full = charts.find((c) => c.file === 'charts/full_sync_ms.svg')!.svg;
    expect(full.match(/<polyline /g)).toHaveLength(2); // iptables-partial and ipvs have two Ns each
    expect(full).toContain('stroke-dasharray'); // the emulated (VM) series
    expect(full).toContain('ipvs (TCG)');
  });

  it('says "no data" instead of drawing an empty plot', () => {
    const r = report();
    r.rows = [];
    expect(chartsOf(r)[0]!.svg).toContain('no data');
  });
});

describe('measurement parsers', () => {
  it('splits GNU time output off stderr, also after a failure', () => {
    expect(parseRusage('some error\n@@svclab-rusage 0.12 0.30 5120\n')).toEqual({
      rusage: { userMs: 120, sysMs: 300, maxRssKiB: 5120 },
      stderr: 'some error\n',
    });
    expect(
      parseRusage(
        'RTNETLINK answers: File exists\nCommand exited with non-zero status 2\n@@svclab-rusage 0.00 0.01 900\n',
      ).stderr,
    ).toBe('RTNETLINK answers: File exists\n');
    expect(parseRusage('no marker').rusage).toBeUndefined();
  });

  it('reads /proc/meminfo fields', () => {
    expect(
      parseMeminfo(
        'MemTotal: 1 kB\nSlab:          2048 kB\nSUnreclaim:  100 kB\nVmallocUsed:   64 kB\n',
      ),
    ).toEqual({ slabKiB: 2048, sUnreclaimKiB: 100, vmallocUsedKiB: 64 });
    expect(() => parseMeminfo('MemTotal: 1 kB\n')).toThrow(/Slab/);
  });

  it('reads iperf3 -J results and errors', () => {
    expect(
      parseIperf(JSON.stringify({ end: { sum_received: { bits_per_second: 2.5e9 } } })),
    ).toEqual({ gbps: 2.5 });
    expect(parseIperf(JSON.stringify({ error: 'unable to connect to server' })).error).toMatch(
      /unable/,
    );
    expect(parseIperf('').gbps).toBeNull();
  });

  it('picks the version line out of tool noise', () => {
    expect(
      versionLine(
        'ipvsadm',
        'modprobe: FATAL: Module ip_vs not found\nipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n',
      ),
    ).toMatch(/^ipvsadm v1\.31/);
    expect(versionLine('iperf3', 'iperf 3.12 (cJSON 1.7.15)\nLinux x 6.18\n')).toBe(
      'iperf 3.12 (cJSON 1.7.15)',
    );
  });
});

describe('mergeReports', () => {
  it('replaces skipped cells with the cells a second run measured, and says so', () => {
    const base = report();
    const extra: ScaleReport = {
      ...report(),
      startedAt: '2026-11-26T04:00:00.000Z',
      durationMs: 5000,
      options: { ...base.options, modes: ['nftables'], services: [5000, 50000] },
      environments: [base.environments[0]!],
      cells: [
        { ...cell('nftables', 5000), durationMs: 4000 },
        cell('nftables', 50000),
        { ...cell('iptables-partial', 1), status: 'skipped', reason: 'not asked' },
        { ...cell('nftables-rules', 50000), status: 'failed', reason: 'timed out' },
      ],
      notes: [],
    };
    const merged = mergeReports(base, extra);
    const nft5000 = merged.cells.filter((c) => c.mode === 'nftables' && c.services === 5000);
    expect(nft5000).toHaveLength(1);
    expect(nft5000[0]).toMatchObject({ status: 'ok', durationMs: 4000 });
    // A cell the second run skipped does not replace a measured one.
    expect(merged.cells.find((c) => c.mode === 'iptables-partial' && c.services === 1)).toBe(
      base.cells.find((c) => c.mode === 'iptables-partial' && c.services === 1),
    );
    expect(merged.cells.some((c) => c.mode === 'nftables' && c.services === 50000)).toBe(true);
    expect(merged.options.services).toContain(50000);
    expect(merged.rows.some((r) => r.mode === 'nftables' && r.services === 50000)).toBe(true);
    expect(merged.notes.at(-1)).toContain(
      'nftables at 5000, nftables at 50000, nftables-rules at 50000 (failed)',
    );
    expect(merged.durationMs).toBe(base.durationMs);
    expect(() => scaleReportSchema.parse(JSON.parse(toJson(merged)))).not.toThrow();
  });

  it("a cell both runs skipped keeps the second run's reason", () => {
    const base = report();
    const extra: ScaleReport = {
      ...report(),
      cells: [
        {
          mode: 'nftables',
          services: 5000,
          where: 'host',
          status: 'skipped',
          reason: 'predicted from more data',
          durationMs: 0,
        },
      ],
    };
    const merged = mergeReports(base, extra);
    expect(merged.cells.find((c) => c.mode === 'nftables' && c.services === 5000)?.reason).toBe(
      'predicted from more data',
    );
  });

  it('refuses to merge measurements made on another kernel', () => {
    const base = report();
    const extra = {
      ...report(),
      environments: [{ ...base.environments[0]!, kernel: '6.1.0' }],
    };
    expect(() => mergeReports(base, extra)).toThrow(/kernel 6\.1\.0/);
  });
});

/** A kube-proxy cell as measureKubeProxy reports it: `sync` ms per change, `first` ms cold. */
function kubeProxyCell(
  mode: ScaleCell['mode'],
  services: number,
  kubeVersion: string,
  o: { first: number; sync: number },
): ScaleCell {
  const usage = { rssKiB: 50_000, hwmKiB: 60_000, cpuMs: 900, userMs: 600, sysMs: 300 };
  const kchange = (sync: number) => ({
    reps: 3,
    applyMs: stats(sync + 5),
    syncMs: stats(sync),
    syncs: stats(1),
    programmingMs: stats(sync + 4),
    cpuMs: stats(sync / 2),
  });
  const kubeProxy = {
    apiLoad: {
      services,
      objects: services * 2,
      ms: services,
      concurrency: 32,
      priorityLevel: 'exempt',
    },
    startToFirstSyncMs: o.first + 300,
    firstSyncMs: o.first,
    firstSyncs: 1,
    firstSyncUsage: usage,
    kernelMemory: { slabKiB: services * 2, sUnreclaimKiB: 1, vmallocUsedKiB: 2 },
    addOne: kchange(o.sync),
    removeOne: kchange(o.sync),
    changeEndpoints: kchange(o.sync),
    finalUsage: { ...usage, hwmKiB: 70_000 },
  };
  return {
    mode,
    kubeVersion,
    services,
    where: 'host',
    status: 'ok',
    programming: programmingOfKubeProxy(kubeProxy),
    dataPath: cell(mode, services).dataPath,
    kubeProxy,
    durationMs: 1000,
  };
}

function kubeProxyReport(): ScaleReport {
  const r = report();
  const cells: ScaleCell[] = [
    ...r.cells,
    kubeProxyCell('kube-proxy-iptables', 5000, 'v1.36.3', { first: 2500, sync: 50 }),
    kubeProxyCell('kube-proxy-iptables', 5000, 'v1.37.2', { first: 1250, sync: 25 }),
  ];
  return {
    ...r,
    options: {
      ...r.options,
      modes: [...r.options.modes, 'kube-proxy-iptables'],
      kubeVersions: ['v1.36.3', 'v1.37.2'],
    },
    cells,
    rows: toRows(cells, r.environments),
  };
}

describe('kube-proxy cells', () => {
  it('are one line per release, with the release in every CSV row, and validate', () => {
    const r = kubeProxyReport();
    expect(scaleReportSchema.safeParse(JSON.parse(toJson(r))).success).toBe(true);
    expect(seriesOf(r.cells.at(-1)!)).toBe('kube-proxy-iptables v1.37.2');
    expect(seriesOf(r.cells[0]!)).toBe('iptables-partial');
    const rows = r.rows.filter((x) => x.mode === 'kube-proxy-iptables');
    expect(new Set(rows.map((x) => x.kubeVersion))).toEqual(new Set(['v1.36.3', 'v1.37.2']));
    const pick = (v: string, metric: string) =>
      rows.find((x) => x.kubeVersion === v && x.metric === metric)?.value;
    // The full sync is kube-proxy's first sync; a change is API write → synced; the sync is its own row.
    expect(pick('v1.37.2', 'full_sync_ms')).toBe(1250);
    expect(pick('v1.37.2', 'add_one_ms_median')).toBe(30);
    expect(pick('v1.37.2', 'add_one_sync_ms_median')).toBe(25);
    expect(pick('v1.37.2', 'start_to_first_sync_ms')).toBe(1550);
    expect(pick('v1.37.2', 'kube_proxy_rss_kib')).toBe(50_000);
    expect(pick('v1.36.3', 'api_load_ms')).toBe(5000);
    // svclab's modes have no kube-proxy rows, and their sync row is their change's time.
    expect(r.rows.some((x) => x.mode === 'iptables-partial' && x.metric === 'api_load_ms')).toBe(
      false,
    );
    expect(
      r.rows.find(
        (x) =>
          x.mode === 'iptables-partial' &&
          x.services === 5000 &&
          x.metric === 'add_one_sync_ms_median',
      )?.value,
    ).toBe(500);
    expect(
      chartsOf(r)
        .find((c) => c.file.endsWith('/full_sync_ms.svg'))!
        .svg.match(/kube-proxy-iptables v1\.3[67]\.\d/g)?.length,
    ).toBeGreaterThanOrEqual(2);
  });

  it('refuses a kube-proxy measurement without its figures', () => {
    const r = JSON.parse(toJson(kubeProxyReport()));
    delete r.cells.at(-1).kubeProxy.firstSyncMs;
    expect(scaleReportSchema.safeParse(r).success).toBe(false);
  });

  it("sets every figure beside svclab's peer mode with the ratio svclab ÷ kube-proxy", () => {
    const r = kubeProxyReport();
    const peer = r.cells.find((c) => c.mode === 'iptables-partial' && c.services === 5000)!;
    const kp = r.cells.at(-1)!;
    const byKey = Object.fromEntries(sideBySide(peer, kp).map((x) => [x.key, x]));
    expect(byKey['full']).toMatchObject({ svclab: 5000, kubeProxy: 1250, ratio: 4 });
    expect(byKey['add']).toMatchObject({ svclab: 500, kubeProxy: 25, ratio: 20 });
    expect(byKey['slab']).toMatchObject({ svclab: 5000, kubeProxy: 10_000, ratio: 0.5 });
    const md = toMarkdown(r);
    expect(md).toContain('## 8. The real kube-proxy, through the API');
    expect(md).toContain('### iptables-partial / kube-proxy-iptables v1.37.2');
    expect(md).toMatch(/\| 5000 \| 5\.0 s \/ 1\.3 s \(×4\.0\) \| 500 ms \/ 25 ms \(×20\)/);
    expect(md).toContain('- iptables-partial vs kube-proxy-iptables v1.37.2 at 5000: add ×20');
    // Two releases: the second ÷ the first, figure by figure.
    expect(md).toContain('## 10. kube-proxy releases');
    expect(md).toMatch(/\| 5000 \| first sync \| 2\.5 s \| 1\.3 s \| ×0\.50 \|/);
    // A mode with one release has nothing to compare.
    const one = { ...r, cells: r.cells.filter((c) => c.kubeVersion !== 'v1.36.3') };
    expect(toMarkdown(one)).not.toContain('## 10. kube-proxy releases');
  });

  it('merges a second run per mode, release and N', () => {
    const base = kubeProxyReport();
    const extra = {
      ...base,
      startedAt: '2026-11-26T00:00:00.000Z',
      cells: [kubeProxyCell('kube-proxy-iptables', 5000, 'v1.37.2', { first: 999, sync: 9 })],
    };
    const m = mergeReports(base, extra);
    const kp = m.cells.filter((c) => c.mode === 'kube-proxy-iptables');
    expect(kp.map((c) => [c.kubeVersion, c.programming?.full.ms])).toEqual([
      ['v1.36.3', 2500],
      ['v1.37.2', 999],
    ]);
    expect(m.notes.at(-1)).toContain('kube-proxy-iptables v1.37.2 at 5000');
  });
});

describe("kube-proxy's metrics and /proc", () => {
  it('reads histogram sums and counts over label sets', () => {
    const m = parseBenchMetrics(
      [
        'kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family="IPv4",le="0.001"} 0',
        'kubeproxy_sync_proxy_rules_duration_seconds_sum{ip_family="IPv4"} 1.5',
        'kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv4"} 3',
        'kubeproxy_network_programming_duration_seconds_sum{ip_family="IPv4"} 0.25',
        'kubeproxy_network_programming_duration_seconds_count{ip_family="IPv4"} 2',
        'kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 1.7e9',
      ].join('\n'),
    );
    expect(m).toMatchObject({
      syncCount: 3,
      syncSumSeconds: 1.5,
      programmingCount: 2,
      programmingSumSeconds: 0.25,
      lastSync: 1.7e9,
    });
  });

  it('reads RSS, peak RSS and CPU (with reaped children) of a process whose name has spaces', () => {
    const status = 'Name:\tkube-proxy\nVmHWM:\t  81920 kB\nVmRSS:\t  65536 kB\n';
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    const stat = '42 (kube proxy) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 30 20 20 0 9';
    expect(parseProcessUsage(status, stat, 100)).toEqual({
      rssKiB: 65536,
      hwmKiB: 81920,
      userMs: 2800,
      sysMs: 700,
      cpuMs: 3500,
    });
  });
});
