import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSkipRecords, skipLogOf, suiteOf, type SkipRecord } from './skip-log.js';

/**
 * The closing account of a test run: a results folder holds, per vitest run NAME, its JSON report
 * `NAME.json` and its skip log `NAME.skips.jsonl`; a skip log without a report is a run that did
 * not happen at all (a mode the runner skipped). Every skip is listed with its reason, and the run
 * fails on a failed test, on nothing passing, and on any skip no declaration covers.
 */
export interface RunTally {
  name: string;
  passed: number;
  failed: number;
  skipped: number;
  /** The whole run was skipped: no report, only skip records. */
  skippedRun: boolean;
}

export interface SkipEntry {
  run: string;
  /** Test file relative to the package root, or `(whole run)`. */
  suite: string;
  /** Skipped tests counted in the report for this file (0 for a whole run). */
  tests: number;
  records: SkipRecord[];
  /** Every record is covered by a declaration (and there is at least one). */
  declared: boolean;
}

export interface TestFailure {
  run: string;
  suite: string;
  test: string;
  /** First lines of the first failure message (an ObservationError names its dump folder). */
  message: string;
}

export interface ResultsSummary {
  runs: RunTally[];
  failures: TestFailure[];
  passed: number;
  failed: number;
  skipped: number;
  skips: SkipEntry[];
  undeclared: SkipEntry[];
  ok: boolean;
}

interface VitestReport {
  numPassedTests?: number;
  numFailedTests?: number;
  numPendingTests?: number;
  numTodoTests?: number;
  testResults?: {
    name: string;
    status: string;
    message?: string;
    assertionResults?: { status: string; fullName?: string; failureMessages?: string[] }[];
  }[];
}

const SKIPPED = new Set(['skipped', 'pending', 'todo', 'disabled']);
const REPORT = /\.json$/;
const SKIP_LOG = /\.skips\.jsonl$/;

export function summarizeResults(dir: string, root?: string): ResultsSummary {
  const files = existsSync(dir) ? readdirSync(dir) : [];
  const names = [
    ...new Set(
      files
        .filter((f) => REPORT.test(f) || SKIP_LOG.test(f))
        .map((f) => f.replace(SKIP_LOG, '').replace(REPORT, '')),
    ),
  ].sort();
  const runs: RunTally[] = [];
  const skips: SkipEntry[] = [];
  const failures: TestFailure[] = [];
  for (const name of names) {
    const records = readSkipRecords(skipLogOf(dir, name));
    const reportFile = join(dir, `${name}.json`);
    if (!existsSync(reportFile)) {
      runs.push({ name, passed: 0, failed: 0, skipped: 0, skippedRun: true });
      skips.push(entry(name, '(whole run)', 0, records));
      continue;
    }
    const r = JSON.parse(readFileSync(reportFile, 'utf8')) as VitestReport;
    const results = r.testResults ?? [];
    // A file that failed to load has no failed test but must still count as a failure.
    const brokenFiles = results.filter(
      (t) =>
        t.status === 'failed' && !(t.assertionResults ?? []).some((a) => a.status === 'failed'),
    ).length;
    runs.push({
      name,
      passed: r.numPassedTests ?? 0,
      failed: (r.numFailedTests ?? 0) + brokenFiles,
      skipped: (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0),
      skippedRun: false,
    });
    const seen = new Set<string>();
    for (const t of results) {
      const suite = suiteOf(t.name, root);
      const failed = (t.assertionResults ?? []).filter((a) => a.status === 'failed');
      for (const a of failed)
        failures.push({
          run: name,
          suite,
          test: a.fullName ?? '',
          message: firstLines(a.failureMessages?.[0] ?? ''),
        });
      if (t.status === 'failed' && failed.length === 0)
        failures.push({ run: name, suite, test: '(file)', message: firstLines(t.message ?? '') });
      const n = (t.assertionResults ?? []).filter((a) => SKIPPED.has(a.status)).length;
      const mine = records.filter((rec) => rec.file === t.name);
      mine.forEach((rec) => seen.add(rec.file!));
      if (n > 0 || mine.length > 0) skips.push(entry(name, suite, n, mine));
    }
    // Skips recorded for a file the report does not list (it failed before vitest saw it), or for
    // the run as a whole.
    const rest = records.filter((rec) => !rec.file || !seen.has(rec.file));
    if (rest.length > 0) skips.push(entry(name, '(whole run)', 0, rest));
  }
  const sum = (k: 'passed' | 'failed' | 'skipped') => runs.reduce((a, r) => a + r[k], 0);
  const undeclared = skips.filter((s) => !s.declared);
  const passed = sum('passed');
  const failed = sum('failed');
  return {
    runs,
    failures,
    passed,
    failed,
    skipped: sum('skipped'),
    skips,
    undeclared,
    ok: failed === 0 && passed > 0 && undeclared.length === 0,
  };
}

function firstLines(s: string, n = 6): string {
  return s.split('\n').slice(0, n).join('\n').trim();
}

function entry(run: string, suite: string, tests: number, records: SkipRecord[]): SkipEntry {
  return {
    run,
    suite,
    tests,
    records,
    declared: records.length > 0 && records.every((r) => r.declared !== undefined),
  };
}

/** The lines CI reads: one per run, every skip with its reason, then the closing line. */
export function formatSummary(s: ResultsSummary): string {
  const out = s.runs.map((r) =>
    r.skippedRun
      ? `  ${r.name.padEnd(36)} not run`
      : `  ${r.name.padEnd(36)} ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`,
  );
  if (s.skips.length > 0) {
    out.push('', 'skips (each with its reason; "NOT DECLARED" fails the run):');
    for (const k of s.skips) {
      const what = k.tests > 0 ? `${k.tests} test${k.tests === 1 ? '' : 's'}` : 'whole run';
      const where = k.suite === '(whole run)' ? k.run : `${k.run}: ${k.suite}`;
      if (k.records.length === 0) {
        out.push(
          `  ${where} (${what}): NOT DECLARED: skipped without svclab's skipWhen, so no reason was given`,
        );
        continue;
      }
      for (const r of k.records) {
        const mode = r.mode ? ` [${r.mode}${r.where === 'vm' ? ', in the VM' : ''}]` : '';
        out.push(
          `  ${where}${mode} (${what}): ${r.reason}: ${
            r.declared ? `expected: ${r.declared}` : 'NOT DECLARED: this machine should run it'
          }`,
        );
      }
    }
  }
  const undeclared = s.undeclared.length > 0 ? `, ${s.undeclared.length} undeclared skip(s)` : '';
  out.push(
    '',
    `svclab: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped${undeclared}${
      s.passed === 0 ? ' (nothing passed)' : ''
    }`,
  );
  return out.join('\n');
}

/**
 * The same account as Markdown, for a CI job summary (GitHub's $GITHUB_STEP_SUMMARY): the result,
 * a row per run, every failure with its message, every skip with its reason.
 */
export function formatSummaryMarkdown(s: ResultsSummary, title: string): string {
  const cell = (v: string) => v.replace(/\|/g, '\\|').replace(/\n/g, '<br>');
  const verdict = s.ok
    ? `passed: ${s.passed} passed, ${s.skipped} skipped`
    : `FAILED: ${s.failed} failed, ${s.passed} passed, ${s.skipped} skipped${
        s.undeclared.length > 0 ? `, ${s.undeclared.length} undeclared skip(s)` : ''
      }${s.passed === 0 ? ', nothing passed' : ''}`;
  const out = [
    `### ${title}: ${verdict}`,
    '',
    '| run | passed | failed | skipped |',
    '| --- | ---: | ---: | ---: |',
    ...s.runs.map((r) =>
      r.skippedRun
        ? `| ${cell(r.name)} | not run | | |`
        : `| ${cell(r.name)} | ${r.passed} | ${r.failed} | ${r.skipped} |`,
    ),
  ];
  if (s.failures.length > 0) {
    out.push('', '#### Failures', '', '| suite | test | message |', '| --- | --- | --- |');
    for (const f of s.failures)
      out.push(`| ${cell(f.suite)} | ${cell(f.test)} | ${cell(f.message)} |`);
  }
  if (s.skips.length > 0) {
    out.push(
      '',
      '#### Skips',
      '',
      '| suite | tests | reason | declared |',
      '| --- | ---: | --- | --- |',
    );
    for (const k of s.skips) {
      const where = k.suite === '(whole run)' ? `${k.run} (whole run)` : k.suite;
      if (k.records.length === 0)
        out.push(`| ${cell(where)} | ${k.tests} | no reason given | **not declared** |`);
      for (const r of k.records)
        out.push(
          `| ${cell(where)} | ${k.tests} | ${cell(r.reason)} | ${r.declared ? cell(r.declared) : '**not declared**'} |`,
        );
    }
  }
  return out.join('\n') + '\n';
}
