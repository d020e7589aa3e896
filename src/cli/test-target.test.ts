import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from './package-root.js';
import { resolveTestTarget } from './test-target.js';

const root = packageRoot();
const project = mkdtempSync(join(tmpdir(), 'svclab-target-'));
afterAll(() => rmSync(project, { recursive: true, force: true }));
mkdirSync(join(project, 'e2e', 'deep'), { recursive: true });
writeFileSync(join(project, 'e2e', 'a.test.ts'), '');
writeFileSync(join(project, 'e2e', 'deep', 'b.test.ts'), '');
writeFileSync(join(project, 'e2e', 'helper.ts'), '');
const at = (args: string[], cwd = project) => resolveTestTarget(args, { cwd, packageRoot: root });

describe('resolveTestTarget', () => {
  it('runs named suites from the package with its e2e project', () => {
    expect(at(['hairpin'])).toMatchObject({
      kind: 'suites',
      cwd: root,
      args: ['--project', 'e2e', 'suites/hairpin'],
    });
    expect(at([]).args).toEqual(['--project', 'e2e', 'suites']);
  });

  it("runs a project's files with svclab's config when the project has none", () => {
    const t = at(['./e2e/**/*.test.ts']);
    expect(t).toMatchObject({ kind: 'files', cwd: project });
    expect(t.args).toEqual([
      '--config',
      join(root, 'dist', 'vitest', 'default-config.js'),
      '--root',
      project,
    ]);
    expect(JSON.parse(t.env.SVCLAB_TEST_FILES!)).toEqual(['e2e/a.test.ts', 'e2e/deep/b.test.ts']);
    // A folder stands for its test files.
    expect(JSON.parse(at(['e2e']).env.SVCLAB_TEST_FILES!)).toHaveLength(2);
  });

  it("uses the project's own vitest config, the files as filters", () => {
    writeFileSync(join(project, 'vitest.config.ts'), 'export default {};\n');
    try {
      expect(at(['e2e/a.test.ts']).args).toEqual([
        '--config',
        join(project, 'vitest.config.ts'),
        'e2e/a.test.ts',
      ]);
    } finally {
      rmSync(join(project, 'vitest.config.ts'));
    }
  });

  it('refuses an unknown suite, a pattern matching nothing, and suites mixed with files', () => {
    expect(() => at(['hairpn'])).toThrow(/unknown suite "hairpn" \(suites: .*hairpin/);
    expect(() => at(['./e2e/**/*.spec.ts'])).toThrow(
      /no test file matches "\.\/e2e\/\*\*\/\*\.spec\.ts"/,
    );
    expect(() => at(['hairpin', './e2e/a.test.ts'])).toThrow(/either suite names or test files/);
  });
});
