import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expandGlob, globRegExp, isGlob } from './glob.js';

const dir = mkdtempSync(join(tmpdir(), 'svclab-glob-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
for (const f of [
  'e2e/a.test.ts',
  'e2e/deep/b.test.ts',
  'e2e/deep/helper.ts',
  'e2e/node_modules/x.test.ts',
  'other/c.test.ts',
]) {
  mkdirSync(join(dir, f, '..'), { recursive: true });
  writeFileSync(join(dir, f), '');
}

describe('globs for svclab test', () => {
  it.each([
    ['**/*.test.ts', 'a.test.ts', true],
    ['**/*.test.ts', 'deep/b.test.ts', true],
    ['*.test.ts', 'deep/b.test.ts', false],
    ['deep/?.test.ts', 'deep/b.test.ts', true],
    ['[ab].test.ts', 'c.test.ts', false],
    ['a.test.ts', 'aXtest.ts', false],
  ])('%s matches %s: %s', (glob, path, match) => {
    expect(globRegExp(glob).test(path)).toBe(match);
  });

  it('expands e2e/**/*.test.ts under the project, skipping node_modules', () => {
    expect(isGlob('./e2e/**/*.test.ts')).toBe(true);
    expect(expandGlob('./e2e/**/*.test.ts', dir)).toEqual([
      join(dir, 'e2e/a.test.ts'),
      join(dir, 'e2e/deep/b.test.ts'),
    ]);
    expect(expandGlob('nowhere/**/*.test.ts', dir)).toEqual([]);
  });
});
