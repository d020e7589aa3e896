import { describe, expect, it } from 'vitest';
import { toMarkdown, mdTable } from './markdown.js';
import {
  csvField,
  scaleReportSchema,
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
import { versionLine } from './environment.js';

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
    for (const row of parsed) expect(row).toHaveLength(12);
    expect(parsed[1]![11]).toBe('AMD EPYC, 2 CPUs, 24 GiB');
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
