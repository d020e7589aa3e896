import { expect } from 'vitest';
import type { SkipCause } from './declared-skips.js';
import { appendSkipRecord, judgeSkip, suiteOf } from './skip-log.js';

/**
 * The one way a test file skips: returns `why` for `describe.skipIf` / `it.skipIf` when it is
 * set, after printing it and writing it to the run's skip log with the declaration that covers
 * it (src/harness/declared-skips.ts). Call it at the top of the file, where vitest collects it.
 */
export function skipWhen(
  cause: SkipCause,
  why: string | false | undefined,
  site: { proxy?: string; provider?: string; mode?: string } = {},
): string | undefined {
  if (!why) return undefined;
  const file = expect.getState().testPath ?? 'unknown file';
  const record = judgeSkip({ file, suite: suiteOf(file), cause, reason: why, ...site });
  process.stderr.write(
    `svclab: skipping ${record.suite}${site.mode ? ` (${site.mode})` : ''}: ${why}${
      record.declared ? '' : ' [not a declared skip: the run fails]'
    }\n`,
  );
  appendSkipRecord(record);
  return why;
}
