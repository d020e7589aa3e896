import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fidelityReportSchema } from '../report/fidelity.js';
import { CONSTANT } from './attribute.js';
import { DECLARED_DIFFERENCES, renderDeclarations } from './declared.js';
import { compareLines } from './diff.js';
import { BEGIN, END, refreshDeclarations } from './readme.js';
import { buildReport, renderMarkdown, renderText } from './report.js';

const README = join(import.meta.dirname, '..', '..', 'docs', 'fidelity', 'README.md');

describe('declared differences', () => {
  it.each(DECLARED_DIFFERENCES.map((d) => [`${d.mode} ${d.id} (${d.side})`, d] as const))(
    '%s: matches its example, and only whole lines from their start',
    (_name, d) => {
      expect(d.line.test(d.example)).toBe(true);
      expect(d.line.source.startsWith('^')).toBe(true);
      expect(d.line.test(`x ${d.example}`)).toBe(false);
    },
  );

  it('one declaration per id, mode and side', () => {
    const keys = DECLARED_DIFFERENCES.map((d) => `${d.mode} ${d.id} ${d.side}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('docs/fidelity/README.md shows the list as declared.ts has it', () => {
    const page = readFileSync(README, 'utf8');
    expect(page).toContain(BEGIN);
    expect(page).toContain(END);
    expect(
      refreshDeclarations(page),
      'run `svclab fidelity --out docs/fidelity` to refresh it',
    ).toBe(page);
    expect(page).toContain(renderDeclarations());
  });
});

describe('the report', () => {
  const canary = DECLARED_DIFFERENCES.find((d) => d.id === 'iptables-canary')!;
  const report = buildReport({
    command: 'svclab fidelity --quick',
    node: 'node-a',
    topology: 'topologies/three-node.yaml',
    kubeVersion: 'v1.37.2',
    now: new Date('2026-12-03T00:00:00Z'),
    runs: [
      {
        mode: 'iptables',
        lab: 'fid-ipt-1',
        configuration: ['clusterCIDR 10.244.0.0/16'],
        notes: [],
        sources: [
          {
            source: 'three-node.yaml',
            comparisons: [
              compareLines(
                CONSTANT,
                ['nat :KUBE-SERVICES', canary.example],
                ['nat :KUBE-SERVICES'],
                [canary],
              ),
              compareLines('default/web:http/TCP', ['a'], ['a'], []),
              compareLines('default/api:http/TCP', ['a', 'b'], ['a', 'c'], []),
            ],
          },
        ],
      },
    ],
  });

  it('has the shape `svclab report` reads (src/report/fidelity.ts)', () => {
    expect(fidelityReportSchema.parse(report).results).toHaveLength(3);
    expect(report.results.map((r) => r.status)).toEqual(['declared', 'identical', 'different']);
    expect(report.results[0]).toMatchObject({
      servicePort: CONSTANT,
      declared: ['iptables-canary'],
      reason: expect.stringContaining('no monitor'),
      firstDifference: [`- ${canary.example}`, '+ (none)'],
      lines: { kubeProxy: 2, svclab: 1 },
    });
    expect(report.results[2]!.firstDifference).toEqual(['- b', '+ c']);
    expect(report.undeclared).toBe(1);
    // No IPVS run here: the note says how to get one.
    expect(report.notes[0]).toMatch(/IPVS is compared only when asked for/);
  });

  it('renders as text and Markdown with every difference', () => {
    const text = renderText(report);
    expect(text).toMatch(/iptables +three-node\.yaml +default\/api:http\/TCP +different/);
    expect(text).toContain('    - b\n    + c');
    expect(text).toContain('1 undeclared difference(s)');
    const md = renderMarkdown(report);
    expect(md).toContain('| iptables | 1 | 3 | 1 | 1 | 1 |');
    expect(md).toContain(renderDeclarations());
  });
});
