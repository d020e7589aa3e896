import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../cli/errors.js';
import { BENCH_KINDS } from './bench-reports.js';
import { SUITE_HAIRPIN, writeFixture, type FixturePaths } from './fixtures.test-helper.js';
import { defaultPaths, loadReportInputs, type ReportPaths } from './load.js';

let dir: string;
let paths: FixturePaths;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'svclab-report-load-'));
  paths = writeFixture(join(dir, 'in'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** An empty checkout: nothing at any default path. */
const emptyRoot = () => {
  const root = join(dir, 'root');
  mkdirSync(root, { recursive: true });
  return root;
};
const load = (given: Partial<ReportPaths>) => () => loadReportInputs({ root: emptyRoot(), given });

describe('loadReportInputs', () => {
  it('reads every input the fixture writes', () => {
    const inputs = loadReportInputs({ root: emptyRoot(), given: paths });
    expect(inputs.results.found && inputs.results.value.summary.runs.map((r) => r.name)).toEqual([
      'suites-docker-iptables',
      'suites-iptables',
      'unit',
    ]);
    expect(inputs.results.found && inputs.results.value.summary.failures[0]?.suite).toBe(
      SUITE_HAIRPIN,
    );
    expect(inputs.matrix.found && inputs.matrix.value.modes.map((m) => m.mode)).toEqual([
      'nftables',
      'ipvs',
    ]);
    expect(inputs.fidelity.found && inputs.fidelity.value.results).toHaveLength(4);
  });

  it('recognises each benchmark report by its content and leaves other JSON out', () => {
    const { bench } = loadReportInputs({ root: emptyRoot(), given: { bench: paths.bench } });
    if (!bench.found) throw new Error('bench not found');
    expect(bench.value.entries.map((e) => e.kind).sort()).toEqual([...BENCH_KINDS].sort());
    expect(bench.value.entries.find((e) => e.kind === 'scale')?.file).toBe(
      join(paths.bench, 'scale', 'scale.json'),
    );
    expect(bench.value.ignored).toEqual([join(paths.bench, 'unrelated.json')]);
  });

  it('reports an absent default input as not found, with the path it looked at', () => {
    const root = emptyRoot();
    const inputs = loadReportInputs({ root, given: {} });
    const d = defaultPaths(root);
    for (const k of ['results', 'matrix', 'bench', 'fidelity'] as const)
      expect(inputs[k]).toEqual({ path: d[k], found: false });
  });

  it('reads inputs at their default paths in a checkout', () => {
    const root = emptyRoot();
    const d = defaultPaths(root);
    mkdirSync(join(d.matrix, '..'), { recursive: true });
    writeFileSync(d.matrix, readFileSync(paths.matrix));
    const inputs = loadReportInputs({ root, given: {} });
    expect(inputs.matrix.found).toBe(true);
    expect(inputs.fidelity.found).toBe(false);
  });

  it.each(['results', 'matrix', 'bench', 'fidelity'] as const)(
    'a missing --%s the user named is bad input naming the option',
    (option) => {
      const missing = join(dir, 'nope', 'x');
      const f = load({ [option]: missing });
      expect(f).toThrow(UsageError);
      expect(f).toThrow(`--${option}: cannot read ${missing}: no such file or directory`);
    },
  );

  it('a file where a folder belongs, and the reverse, is bad input', () => {
    expect(load({ results: paths.matrix })).toThrow(
      `--results: ${paths.matrix} is not a directory`,
    );
    expect(load({ matrix: paths.bench })).toThrow(`--matrix: ${paths.bench} is not a file`);
  });

  it('a folder that holds none of what its option names is bad input when named', () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expect(load({ results: empty })).toThrow(/--results: .* holds no test results/);
    expect(load({ bench: empty })).toThrow(/--bench: .* holds no benchmark report/);
    // The bench folder's JSON is not vitest's.
    expect(load({ results: paths.bench })).toThrow(
      /--results: .*\.json is not a vitest JSON report/,
    );
  });

  it('names the file of invalid JSON, and the field of a report that is not what it claims', () => {
    writeFileSync(join(paths.bench, 'broken.json'), '{"benchmark": "up", ');
    expect(load({ bench: paths.bench })).toThrow(
      `--bench: ${join(paths.bench, 'broken.json')} is not valid JSON`,
    );
    rmSync(join(paths.bench, 'broken.json'));
    writeFileSync(join(paths.bench, 'up.json'), JSON.stringify({ benchmark: 'up', proxy: 'x' }));
    expect(load({ bench: paths.bench })).toThrow(
      /--bench: .*up\.json is not a valid benchmark report: runs: /,
    );

    const m = JSON.parse(readFileSync(paths.matrix, 'utf8'));
    delete m.modes[0].events;
    writeFileSync(paths.matrix, JSON.stringify(m));
    expect(load({ matrix: paths.matrix })).toThrow(
      /--matrix: .* is not a persistence matrix \(svclab matrix --out\): modes\.0\.events: /,
    );
    writeFileSync(paths.fidelity, JSON.stringify({ kind: 'Other' }));
    expect(load({ fidelity: paths.fidelity })).toThrow(
      /--fidelity: .* is not a fidelity report: kind: /,
    );
  });
});
