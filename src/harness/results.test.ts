import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Capabilities, SkipCause } from './declared-skips.js';
import { formatSummary, formatSummaryMarkdown, summarizeResults } from './results.js';
import { judgeSkip, skipLogOf, type SkipRecord } from './skip-log.js';

// The summary of a run, driven with vitest JSON reports and skip logs written by hand: the shapes
// the json reporter and skipWhen write, for runs that pass, fail, or lose a mode to skips.
const root = '/repo';
const caps: Capabilities = {
  root: true,
  ipvsKernel: false,
  qemu: true,
  dockerd: false,
  inVm: false,
};
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'svclab-results-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

type Status = 'passed' | 'failed' | 'skipped' | 'pending';
/** A vitest JSON report: file (relative to /repo) -> statuses of its tests. */
function report(run: string, files: Record<string, Status[]>, broken: string[] = []): void {
  const all = Object.values(files).flat();
  const count = (s: Status) => all.filter((x) => x === s).length;
  writeFileSync(
    join(dir, `${run}.json`),
    JSON.stringify({
      numPassedTests: count('passed'),
      numFailedTests: count('failed'),
      numPendingTests: count('skipped') + count('pending'),
      numTodoTests: 0,
      testResults: [
        ...Object.entries(files).map(([f, ss]) => ({
          name: `${root}/${f}`,
          status: ss.includes('failed') ? 'failed' : 'passed',
          assertionResults: ss.map((status, i) => ({ fullName: `t${i}`, status })),
        })),
        ...broken.map((f) => ({ name: `${root}/${f}`, status: 'failed', assertionResults: [] })),
      ],
    }),
  );
}
function skips(
  run: string,
  ...rows: { file?: string; cause: SkipCause; reason: string; proxy?: string; provider?: string }[]
): SkipRecord[] {
  const records = rows.map((r) =>
    judgeSkip(
      {
        ...(r.file ? { file: `${root}/${r.file}` } : {}),
        suite: r.file ?? `run:${run}`,
        cause: r.cause,
        reason: r.reason,
        proxy: r.proxy,
        provider: r.provider,
      },
      caps,
    ),
  );
  writeFileSync(skipLogOf(dir, run), records.map((r) => JSON.stringify(r) + '\n').join(''));
  return records;
}
const HAIRPIN = 'suites/hairpin/hairpin.test.ts';
const IPVS = 'suites/ipvs/ipvs.test.ts';

describe('summarizeResults', () => {
  it('passes a run whose only skips are declared, and lists each with its reason', () => {
    report('unit', { 'src/a.test.ts': ['passed', 'passed'] });
    report('suites-iptables', { [HAIRPIN]: ['passed', 'passed'], [IPVS]: ['skipped', 'skipped'] });
    skips('suites-iptables', {
      file: IPVS,
      cause: 'mode',
      reason: 'IPVS-specific suite',
      proxy: 'iptables',
    });
    const s = summarizeResults(dir, root);
    expect(s.ok).toBe(true);
    expect(s).toMatchObject({ passed: 4, failed: 0, skipped: 2, undeclared: [] });
    expect(s.skips).toHaveLength(1);
    const text = formatSummary(s);
    expect(text).toContain(`suites-iptables: ${IPVS} (2 tests): IPVS-specific suite: expected:`);
    expect(text).toMatch(/svclab: 4 passed, 0 failed, 2 skipped$/);
  });

  it('fails a run in which a whole mode was skipped for a reason no declaration expects', () => {
    report('unit', { 'src/a.test.ts': ['passed'] });
    report('suites-iptables-partial-nft', { [HAIRPIN]: ['passed', 'passed', 'passed'] });
    // The legacy backend's tools are missing: every suite of that mode skips, vitest exits 0.
    report('suites-iptables-partial-legacy', { [HAIRPIN]: ['skipped', 'skipped', 'skipped'] });
    skips('suites-iptables-partial-legacy', {
      file: HAIRPIN,
      cause: 'tools',
      reason: 'missing iptables-legacy-restore (apt-get install -y iptables)',
      proxy: 'iptables',
    });
    const s = summarizeResults(dir, root);
    expect(s.failed).toBe(0);
    expect(s.passed).toBe(4);
    expect(s.ok).toBe(false);
    expect(s.undeclared.map((u) => [u.run, u.suite, u.tests])).toEqual([
      ['suites-iptables-partial-legacy', HAIRPIN, 3],
    ]);
    expect(formatSummary(s)).toContain(
      'missing iptables-legacy-restore (apt-get install -y iptables): NOT DECLARED',
    );
    expect(formatSummary(s)).toMatch(/1 undeclared skip\(s\)$/);
  });

  it('fails tests skipped without a recorded reason (a bare .skip)', () => {
    report('core', { 'src/a.e2e.test.ts': ['passed', 'skipped'] });
    const s = summarizeResults(dir, root);
    expect(s.ok).toBe(false);
    expect(s.undeclared).toEqual([
      expect.objectContaining({ suite: 'src/a.e2e.test.ts', tests: 1, records: [] }),
    ]);
    expect(formatSummary(s)).toContain('NOT DECLARED: skipped without');
  });

  it('counts a run left out by the runner: declared when the machine cannot run it', () => {
    report('unit', { 'src/a.test.ts': ['passed'] });
    const [docker] = skips('suites-docker-iptables', {
      cause: 'docker',
      reason: 'no Docker daemon',
      provider: 'docker',
    });
    expect(docker?.declared).toMatch(/no Docker daemon installed/);
    const s = summarizeResults(dir, root);
    expect(s.ok).toBe(true);
    expect(s.runs.find((r) => r.name === 'suites-docker-iptables')).toMatchObject({
      skippedRun: true,
    });
    expect(formatSummary(s)).toContain('suites-docker-iptables (whole run): no Docker daemon');
  });

  it('fails a left-out run the machine could have run (dockerd installed)', () => {
    report('unit', { 'src/a.test.ts': ['passed'] });
    const record = judgeSkip(
      {
        suite: 'run:suites-docker-nftables',
        cause: 'docker',
        reason: 'dockerd did not start',
        provider: 'docker',
      },
      { ...caps, dockerd: true },
    );
    writeFileSync(skipLogOf(dir, 'suites-docker-nftables'), JSON.stringify(record) + '\n');
    const s = summarizeResults(dir, root);
    expect(s.ok).toBe(false);
    expect(s.undeclared.map((u) => u.run)).toEqual(['suites-docker-nftables']);
  });

  it('fails on a failed test, on a file that did not load, and when nothing passed', () => {
    report('a', { 'src/a.test.ts': ['passed', 'failed'] });
    expect(summarizeResults(dir, root)).toMatchObject({ ok: false, failed: 1 });
    rmSync(join(dir, 'a.json'));
    report('b', { 'src/b.test.ts': ['passed'] }, ['src/broken.test.ts']);
    expect(summarizeResults(dir, root)).toMatchObject({ ok: false, failed: 1 });
    rmSync(join(dir, 'b.json'));
    report('c', { [IPVS]: ['skipped'] });
    skips('c', { file: IPVS, cause: 'mode', reason: 'IPVS-specific suite', proxy: 'nftables' });
    expect(summarizeResults(dir, root)).toMatchObject({ ok: false, passed: 0, undeclared: [] });
  });

  it('writes the job summary as Markdown: result, runs, failures with messages, skips with reasons', () => {
    report('suites-nftables', { [HAIRPIN]: ['passed', 'failed'], [IPVS]: ['skipped'] });
    const json = join(dir, 'suites-nftables.json');
    const r = JSON.parse(readFileSync(json, 'utf8')) as {
      testResults: { assertionResults: { failureMessages: string[] }[] }[];
    };
    r.testResults[0]!.assertionResults[1]!.failureMessages = ['wrong backends | web-a\nline 2'];
    writeFileSync(json, JSON.stringify(r));
    skips('suites-nftables', {
      file: IPVS,
      cause: 'mode',
      reason: 'IPVS-specific suite',
      proxy: 'nftables',
    });
    const md = formatSummaryMarkdown(summarizeResults(dir, root), 'svclab test (nftables, netns)');
    expect(md).toMatch(
      /^### svclab test \(nftables, netns\): FAILED: 1 failed, 1 passed, 1 skipped$/m,
    );
    expect(md).toContain('| suites-nftables | 1 | 1 | 1 |');
    expect(md).toContain(`| ${HAIRPIN} | t1 | wrong backends \\| web-a<br>line 2 |`);
    expect(md).toMatch(
      /\| suites\/ipvs\/ipvs\.test\.ts \| 1 \| IPVS-specific suite \| IPVS-specific suite: it runs/,
    );
  });
});
