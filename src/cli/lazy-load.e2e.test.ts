import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueLabName } from '../harness/lab-fixture.js';
import { skipWhen } from '../harness/skip.js';

// Short commands load what they use (issue 17): a resolve hook in the CLI's own process lists
// every package it imports, and none of the heavy ones may be among them. No timing here; the
// times are `svclab bench cli`'s.
const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'bin', 'svclab.js');
const HEAVY = ['@kubernetes/client-node', 'dockerode', 'testcontainers', 'listr2', 'execa'];

const dir = mkdtempSync(join(tmpdir(), 'svclab-lazy-'));
const hooks = join(dir, 'hooks.mjs');
const preload = join(dir, 'preload.mjs');
writeFileSync(
  hooks,
  `import { appendFileSync } from 'node:fs';
export async function resolve(spec, ctx, next) {
  const r = await next(spec, ctx);
  appendFileSync(process.env.SVCLAB_TEST_IMPORTS, r.url + '\\n');
  return r;
}
`,
);
writeFileSync(
  preload,
  `import { register } from 'node:module';\nregister(${JSON.stringify('file://' + hooks)});\n`,
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs svclab with the hook; returns the packages its process imported, plus `(svclab)` when it
 * saw svclab's own files (so an empty list means the hook ran, not that it saw nothing).
 */
async function packagesImported(args: string[]): Promise<string[]> {
  const log = join(dir, `imports-${args[0]}.txt`);
  rmSync(log, { force: true });
  const r = await execa(process.execPath, ['--import', preload, cli, ...args], {
    reject: false,
    env: { SVCLAB_TEST_IMPORTS: log },
  });
  expect(r.exitCode, r.stderr).toBe(0);
  const urls = existsSync(log) ? readFileSync(log, 'utf8').split('\n') : [];
  return [
    ...new Set(
      urls
        .map((u) =>
          u.startsWith(`file://${root}/dist/`)
            ? '(svclab)'
            : /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1],
        )
        .filter((p): p is string => p !== undefined),
    ),
  ].sort();
}

describe('what short commands load', () => {
  it('the hook sees a package a command does import (test loads execa)', async () => {
    expect(await packagesImported(['test', '--help'])).toContain('execa');
  });

  it('validate loads no package (commander, yaml and zod are in the bundle)', async () => {
    const pkgs = await packagesImported(['validate', join(root, 'topologies', 'three-node.yaml')]);
    expect(pkgs).toEqual(['(svclab)']);
  });

  it('status without a lab loads no package', async () => {
    expect(await packagesImported(['status'])).toEqual(['(svclab)']);
  });

  it('fidelity --help loads no package (the comparison loads when it runs)', async () => {
    expect(await packagesImported(['fidelity', '--help'])).toEqual(['(svclab)']);
  });

  it('kubeconfig --help loads no package (kube build loads its builder, and execa, when it runs)', async () => {
    expect(await packagesImported(['kubeconfig', '--help'])).toEqual(['(svclab)']);
  });

  it('report loads no package (zod is in the bundle)', async () => {
    const out = join(dir, 'report.html');
    expect(await packagesImported(['report', '--out', out])).toEqual(['(svclab)']);
    expect(existsSync(out)).toBe(true);
  });
});

describe.skipIf(skipWhen('root', process.getuid?.() !== 0 && 'needs root'))(
  'what short commands load on a lab',
  () => {
    const lab = uniqueLabName('lazy');
    beforeAll(async () => {
      const r = await execa(
        process.execPath,
        [cli, 'up', join(root, 'topologies', 'three-node.yaml'), '--name', lab, '--json'],
        { reject: false },
      );
      expect(r.exitCode, r.stderr).toBe(0);
    }, 60_000);
    afterAll(async () => {
      await execa(process.execPath, [cli, 'down', lab], { reject: false });
    });

    it.each([
      ['status', lab],
      ['probe', 'client-a', 'web', '--count', '1', '--lab', lab],
      ['dump', 'node-a', '--lab', lab],
      ['exec', '--lab', lab, 'node-a', '--', 'true'],
    ])('%s loads none of the heavy packages', async (...args) => {
      const pkgs = await packagesImported(args);
      expect(pkgs).toContain('(svclab)');
      expect(pkgs.filter((p) => HEAVY.includes(p))).toEqual([]);
    });
  },
);
