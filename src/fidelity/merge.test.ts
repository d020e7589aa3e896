import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONSTANT } from './attribute.js';
import { compareLines } from './diff.js';
import { buildReport, mergeFidelityReports, renderMarkdown } from './report.js';
import { fidelitySources } from './run.js';

/** A report of generated sets `numbers`, the last set's web port different when `bad`. */
function report(numbers: number[], opts: { configuration?: string[]; bad?: boolean } = {}) {
  return buildReport({
    command: `svclab fidelity --mode ipvs --random 11 --from ${numbers[0]} --count ${numbers.length}`,
    node: 'node-a',
    topology: 'topologies/three-node.yaml',
    kubeVersion: 'v1.37.2',
    now: new Date(`2026-12-0${numbers[0]}T00:00:00Z`),
    runs: [
      {
        mode: 'ipvs',
        lab: `fid-ipv-${numbers[0]}`,
        configuration: opts.configuration ?? ['ipvs.scheduler rr'],
        notes: [],
        sources: numbers.map((n, i) => ({
          source: `random seed 11 #${n}`,
          comparisons: [
            compareLines(CONSTANT, ['-A KUBE-SERVICES'], ['-A KUBE-SERVICES'], []),
            compareLines(
              'default/web:http/TCP',
              ['a'],
              [opts.bad && i === numbers.length - 1 ? 'b' : 'a'],
              [],
            ),
          ],
        })),
      },
    ],
  });
}

describe('mergeFidelityReports', () => {
  it('adds a later part of a run, in set order, and keeps every command', () => {
    const merged = mergeFidelityReports(report([3, 4]), report([1, 2], { bad: true }));
    expect(merged.results.map((r) => `${r.source} ${r.servicePort}`)).toEqual(
      [1, 2, 3, 4].flatMap((n) => [
        `random seed 11 #${n} (constant chains)`,
        `random seed 11 #${n} default/web:http/TCP`,
      ]),
    );
    expect(merged.undeclared).toBe(1);
    expect(merged.command).toBe('svclab fidelity --mode ipvs --random 11 --from 3 --count 2');
    expect(merged.merged).toEqual([
      {
        command: 'svclab fidelity --mode ipvs --random 11 --from 1 --count 2',
        generatedAt: '2026-12-01T00:00:00.000Z',
      },
    ]);
    expect(merged.modes).toEqual([
      expect.objectContaining({ mode: 'ipvs', lab: 'fid-ipv-3, fid-ipv-1' }),
    ]);
    const md = renderMarkdown(merged);
    expect(md).toContain(
      "by `svclab fidelity --mode ipvs --random 11 --from 3 --count 2`, merged with 2026-12-01T00:00:00.000Z's `svclab fidelity --mode ipvs --random 11 --from 1 --count 2`",
    );
    expect(md).toContain('| ipvs | 4 | 8 | 7 | 0 | 1 |');
  });

  it('replaces the results of a set compared again, and what the earlier run noted of it', () => {
    const base = report([1, 2], { bad: true });
    base.modes[0]!.notes.push(
      'random seed 11 #2: lines of no Service port in the state were found',
      'random seed 11 #1: kept',
      'about the whole run',
    );
    const merged = mergeFidelityReports(base, report([2]));
    expect(merged.results).toHaveLength(4);
    expect(merged.undeclared).toBe(0);
    expect(merged.modes[0]!.notes).toEqual(['random seed 11 #1: kept', 'about the whole run']);
  });

  it('refuses another node, kube-proxy or planner set-up, naming the field', () => {
    expect(() =>
      mergeFidelityReports(report([1]), { ...report([2]), kubeVersion: 'v1.36.3' }),
    ).toThrow('kubeVersion: the report merged into has "v1.37.2", this run "v1.36.3"');
    expect(() => mergeFidelityReports(report([1]), { ...report([2]), node: 'node-b' })).toThrow(
      'node: the report merged into has "node-a", this run "node-b"',
    );
    expect(() =>
      mergeFidelityReports(report([1]), report([2], { configuration: ['ipvs.scheduler lc'] })),
    ).toThrow(
      'modes[ipvs].configuration: the planner was set up as "ipvs.scheduler rr" in the report merged into and as "ipvs.scheduler lc" in this run',
    );
  });
});

describe('--from', () => {
  const topologyFile = join(import.meta.dirname, '..', '..', 'topologies', 'three-node.yaml');
  it('compares the same sets a run from the first one does, under the same labels', async () => {
    const all = await fidelitySources({ topologyFile, random: { seed: 11, count: 5 } });
    const part = await fidelitySources({ topologyFile, random: { seed: 11, count: 2, from: 4 } });
    expect(part.map((s) => s.label)).toEqual(['random seed 11 #4', 'random seed 11 #5']);
    expect(part).toEqual(all.slice(3));
  });
});
