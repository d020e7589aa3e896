import type { ResultsSummary } from '../../harness/results.js';
import { markup, table, type Html } from '../html.js';
import type { Found, TestRun } from '../inputs.js';

/** The verdict line, in the words of the run's own summary (src/harness/results.ts). */
function verdict(s: ResultsSummary): string {
  const undeclared = s.undeclared.length > 0 ? `, ${s.undeclared.length} undeclared skip(s)` : '';
  return s.ok
    ? `passed: ${s.passed} passed, ${s.skipped} skipped`
    : `FAILED: ${s.failed} failed, ${s.passed} passed, ${s.skipped} skipped${undeclared}${
        s.passed === 0 ? ', nothing passed' : ''
      }`;
}

/** The last test run: a row per vitest run, every failure with its message, every skip with its reason. */
export function testsSection(input: Found<TestRun>): Html {
  const head = markup`<h2>Last test run</h2>`;
  if (!input.found)
    return markup`${head}
      <p class="missing" id="tests-missing">
        no test results found at ${input.path} (npm test writes them there)
      </p>`;
  const { summary: s, writtenAt } = input.value;
  const runs = table({
    id: 'test-runs',
    caption: 'Test runs',
    head: ['run', 'passed', 'failed', 'skipped'],
    rows: s.runs.map((r) =>
      r.skippedRun ? [r.name, 'not run', '—', '—'] : [r.name, r.passed, r.failed, r.skipped],
    ),
  });
  const failures = table({
    id: 'test-failures',
    caption: 'Failures',
    head: ['run', 'suite', 'test', 'message'],
    rows: s.failures.map((f) => [f.run, f.suite, f.test, { value: f.message, pre: true }]),
    empty: 'none',
  });
  const skips = table({
    id: 'test-skips',
    caption: 'Skips',
    head: ['run', 'suite', 'mode', 'tests', 'reason', 'declared'],
    rows: s.skips.flatMap((k) => {
      const suite = k.suite;
      if (k.records.length === 0)
        return [
          [k.run, suite, '', k.tests, 'no reason given (skipped without skipWhen)', 'NOT DECLARED'],
        ];
      return k.records.map((r) => [
        k.run,
        suite,
        r.mode ? `${r.mode}${r.where === 'vm' ? ', in the VM' : ''}` : '',
        k.tests,
        r.reason,
        r.declared ? `expected: ${r.declared}` : 'NOT DECLARED',
      ]);
    }),
    empty: 'none',
  });
  return markup`${head}
    <p class="meta">Results folder ${input.path}${writtenAt ? `, written ${writtenAt}` : ''}.</p>
    <p id="test-verdict" class="${s.ok ? 'ok' : 'fail'}">${verdict(s)}</p>
    ${runs}${failures}${skips}`;
}
