/**
 * Golden-file comparison for tests: `SVCLAB_UPDATE_GOLDEN=1` rewrites the expectation instead
 * of comparing, so a deliberate change is one command and a reviewable diff.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { expect } from 'vitest';

export const UPDATE_GOLDEN = process.env.SVCLAB_UPDATE_GOLDEN === '1';

export function expectGolden(path: string, actual: string): void {
  if (UPDATE_GOLDEN) {
    writeFileSync(path, actual);
    return;
  }
  if (!existsSync(path)) {
    throw new Error(
      `missing golden file ${path}; create it with SVCLAB_UPDATE_GOLDEN=1 npx vitest run --project unit src/model`,
    );
  }
  expect(
    actual,
    `${path} differs (regenerate with SVCLAB_UPDATE_GOLDEN=1 npx vitest run --project unit src/model, then review the diff)`,
  ).toBe(readFileSync(path, 'utf8'));
}
