import { execa } from 'execa';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../cli/package-root.js';
import { run } from '../../exec/index.js';
import { METRICS, scaleReportSchema, type ScaleReport } from './report.js';

const benchNamespaces = async () =>
  (await run('ip', ['netns', 'list'])).stdout
    .split('\n')
    .filter((l) => l.startsWith('svclab.bench-scale-'))
    .map((l) => l.split(' ')[0]!);

describe('svclab bench scale --quick', () => {
  let out: string;
  let before: string[];
  let result: { exitCode: number | undefined; stdout: string; stderr: string };

  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'svclab-bench-scale-'));
    before = await benchNamespaces();
    const r = await execa(
      process.execPath,
      [
        join(packageRoot(), 'bin', 'svclab.js'),
        'bench',
        'scale',
        '--quick',
        '--modes',
        'iptables-partial,nftables,nftables-rules',
        '--services',
        '1,100',
        '--out',
        out,
      ],
      { reject: false, timeout: 110_000 },
    );
    result = { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
  }, 115_000);

  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('exits 0 and measures every mode at every N', async () => {
    expect(result.exitCode, result.stderr).toBe(0);
    const report = scaleReportSchema.parse(
      JSON.parse(await readFile(join(out, 'scale.json'), 'utf8')),
    ) as ScaleReport;
    expect(report.cells.map((c) => `${c.mode}/${c.services}/${c.status}`).sort()).toEqual([
      'iptables-partial/1/ok',
      'iptables-partial/100/ok',
      'nftables-rules/1/ok',
      'nftables-rules/100/ok',
      'nftables/1/ok',
      'nftables/100/ok',
    ]);
    for (const c of report.cells) {
      // Real kernel work happened: rules were written and both VIPs answered through them.
      expect(Object.values(c.programming!.full.written).some((v) => v > 0)).toBe(true);
      expect(c.programming!.full.cost.commands).toBeGreaterThan(0);
      expect(c.dataPath!.map((d) => d.connectMs.n)).toEqual([30, 30]);
      expect(c.dataPath!.every((d) => d.throughputGbps !== null && d.throughputGbps > 0)).toBe(
        true,
      );
    }
    expect(report.environments[0]).toMatchObject({ where: 'host', emulated: false });
    expect(report.environments[0]!.tools.nft).toMatch(/nftables v\d/);
  });

  it('writes CSV rows for every mode x N x metric, Markdown with the talk comparison, and one SVG per metric', async () => {
    const csv = (await readFile(join(out, 'scale.csv'), 'utf8')).trim().split('\r\n');
    expect(csv[0]).toBe(
      'mode,services,metric,unit,value,where,emulated,kernel,iptables,nft,ipvsadm,machine',
    );
    for (const mode of ['iptables-partial', 'nftables', 'nftables-rules'])
      for (const n of [1, 100])
        for (const m of [
          'full_sync_ms',
          'add_one_ms_median',
          'conn_last_ms_median',
          'iperf_first_gbps',
          'planner_full_ms',
        ])
          expect(csv.some((l) => l.startsWith(`${mode},${n},${m},`))).toBe(true);
    const md = await readFile(join(out, 'scale.md'), 'utf8');
    for (const h of [
      '## 1. Programming cost',
      '## 2. Data-path cost',
      '## 3. Memory',
      '## 4. Planner cost',
      '## 5. The talk side by side',
    ])
      expect(md).toContain(h);
    const charts = await readdir(join(out, 'charts'));
    expect(charts.sort()).toEqual(METRICS.map((m) => `${m.metric}.svg`).sort());
    const svg = await readFile(join(out, 'charts', 'full_sync_ms.svg'), 'utf8');
    expect(svg).toMatch(/^<svg [^>]+>[\s\S]*<\/svg>\n$/);
    expect(svg.match(/<polyline /g)).toHaveLength(3);
  });

  it('breaks one nft process down into userspace and kernel time in the nftables cells', async () => {
    const report = scaleReportSchema.parse(
      JSON.parse(await readFile(join(out, 'scale.json'), 'utf8')),
    ) as ScaleReport;
    expect(report.notes.filter((n) => n.includes('cost breakdown'))).toEqual([]);
    for (const c of report.cells) {
      if (!c.mode.startsWith('nftables')) {
        expect(c.nftBreakdown).toBeUndefined();
        continue;
      }
      const b = c.nftBreakdown!;
      expect(b.reps).toBe(3);
      for (const k of ['addGoto', 'deleteGoto', 'addDrop', 'deleteDrop'] as const) {
        const t = b[k];
        expect(t.wallMs.n).toBe(3);
        for (const s of [t.wallMs, t.kernelMs, t.userspaceMs]) {
          expect(s.min, `${c.services}/${k}`).toBeGreaterThan(0);
          expect(s.max).toBeLessThan(10_000);
        }
        // The kernel's part is inside the process (userspace > 0 says so run by run).
        expect(t.kernelMs.median).toBeLessThanOrEqual(t.wallMs.median);
        expect(t.userspaceMs.median).toBeLessThanOrEqual(t.wallMs.median);
      }
    }
    const csv = await readFile(join(out, 'scale.csv'), 'utf8');
    for (const mode of ['nftables', 'nftables-rules'])
      for (const n of [1, 100])
        expect(csv).toMatch(
          new RegExp(`^${mode},${n},nft_kernel_commit_goto_ms_median,ms,[0-9.]+,`, 'm'),
        );
    expect(csv).not.toMatch(/^iptables-partial,\d+,nft_/m);
    expect(await readFile(join(out, 'scale.md'), 'utf8')).toMatch(
      /## 7\. nftables cost breakdown[\s\S]*\| nftables \| 100 \|/,
    );
  });

  it('leaves no bench namespaces behind', async () => {
    expect((await benchNamespaces()).filter((n) => !before.includes(n))).toEqual([]);
  });
});
