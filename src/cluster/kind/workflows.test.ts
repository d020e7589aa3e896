import { readdirSync, readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../cli/package-root.js';

// The GitHub Actions workflows are checked against the workflow schema by action-validator, so a
// typo in a key fails `npm run test:unit` (and .ci/run) instead of the first push.
const root = packageRoot();
const validator = join(root, 'node_modules', '.bin', 'action-validator');
const dir = join(root, '.github', 'workflows');
const workflows = readdirSync(dir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const tmp = mkdtempSync(join(tmpdir(), 'svclab-workflows-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const validate = (file: string) => execa(validator, [file], { reject: false });

describe('GitHub Actions workflows', () => {
  it('ships ci, kind and bench', () => {
    expect(workflows).toEqual(expect.arrayContaining(['bench.yml', 'ci.yml', 'kind.yml']));
  });

  for (const wf of workflows) {
    it(`${wf} is a valid workflow`, async () => {
      const r = await validate(join(dir, wf));
      expect(r.stdout + r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
    });
  }

  it('action.yml (the composite action) is a valid action, and ci runs the suites through it', async () => {
    const r = await validate(join(root, 'action.yml'));
    expect(r.stdout + r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(dir, 'ci.yml'), 'utf8')).toMatch(/^\s+uses: \.\/$/m);
  });

  it('the validator rejects an invalid workflow (so the checks above can fail)', async () => {
    const bad = join(tmp, 'bad.yml');
    writeFileSync(
      bad,
      'name: bad\non: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    stepz:\n      - run: true\n',
    );
    expect((await validate(bad)).exitCode).not.toBe(0);
  });
});
