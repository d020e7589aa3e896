import { execa } from 'execa';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { loadTopology } from '../model/index.js';
import { fidelityReportSchema } from '../report/fidelity.js';
import { CONSTANT, UNATTRIBUTED } from './attribute.js';
import type { FullFidelityReport } from './report.js';

/** What the fidelity e2e tests share: running `svclab fidelity --json` and the checks every run must pass. */
export const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'bin', 'svclab.js');

/**
 * `svclab fidelity ARGS --json`: no undeclared difference, exit 0, a well-formed report, nothing
 * unattributed. Returns the report for the caller's own checks; `onStderr` sees the progress as
 * it comes.
 */
export async function fidelityWithoutDifferences(
  args: string[],
  opts: { onStderr?: (chunk: string) => void } = {},
): Promise<FullFidelityReport> {
  const run = execa(process.execPath, [cli, 'fidelity', ...args, '--json'], {
    reject: false,
    cwd: root,
  });
  if (opts.onStderr) run.stderr!.on('data', (b: Buffer) => opts.onStderr!(b.toString()));
  const r = await run;
  const report = JSON.parse(r.stdout) as FullFidelityReport;
  const different = report.results.filter((x) => x.status === 'different');
  expect(different, JSON.stringify(different, null, 2)).toEqual([]);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(fidelityReportSchema.parse(report).kubeVersion).toMatch(/^v1\.\d+\.\d+/);
  expect(report.results.some((x) => x.servicePort === UNATTRIBUTED)).toBe(false);
  return report;
}

/**
 * A run of one mode on three-node.yaml compared exactly the constant part, the `kubernetes`
 * Service and every port of the topology's Services, each with lines on both sides (equal counts
 * where identical): not a vacuous pass.
 */
export async function expectEveryThreeNodeServicePort(
  report: FullFidelityReport,
  mode: string,
): Promise<void> {
  const topo = await loadTopology(join(root, 'topologies', 'three-node.yaml'));
  const expected = [
    CONSTANT,
    'default/kubernetes:https/TCP',
    ...topo.services.flatMap((s) =>
      s.ports.map((p) => `default/${s.name}:${p.name}/${p.protocol}`),
    ),
  ].sort();
  expect(report.results.map((x) => x.mode)).toEqual(report.results.map(() => mode));
  expect(report.results.map((x) => x.servicePort).sort()).toEqual(expected);
  for (const x of report.results) {
    expect(x.lines!.kubeProxy, x.servicePort).toBeGreaterThan(0);
    expect(x.lines!.svclab, x.servicePort).toBeGreaterThan(0);
    if (x.status === 'identical') expect(x.lines!.svclab).toBe(x.lines!.kubeProxy);
  }
}

/** The run's lab (its name starting with `prefix`) and its twin namespace are gone. */
export function expectLabGone(report: FullFidelityReport, prefix: RegExp): void {
  expect(report.modes).toHaveLength(1);
  const lab = report.modes[0]!.lab;
  expect(lab).toMatch(prefix);
  expect(readdirSync('/run/netns').filter((n) => n.startsWith(`svclab.${lab}.`))).toEqual([]);
}
