import { execa } from 'execa';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWhen } from '../harness/skip.js';

// svclab as a user gets it (issue 17): `npm pack` of this checkout, the tarball installed into a
// fresh project beside vitest, that project's own test (examples/user-project: a topology file
// of its own, `svclab/vitest`, the global setup) type-checked against the shipped .d.ts and run
// as root against a netns lab: by vitest, and by `svclab test` with its mode options, reports and
// default config.
const root = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'svclab-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// /run/netns appears with the machine's first named namespace: on a fresh one, before any lab.
const labNamespaces = () =>
  existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith('svclab.')) : [];
const vitestVersion = (
  JSON.parse(readFileSync(join(root, 'node_modules', 'vitest', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;

describe.skipIf(skipWhen('root', process.getuid?.() !== 0 && 'needs root'))(
  'the installed package',
  () => {
    const project = join(work, 'project');
    const svclab = join(project, 'node_modules', '.bin', 'svclab');
    const env = { NO_COLOR: '1', FORCE_COLOR: '0' };

    beforeAll(async () => {
      // Pack a copy, so prepack's clean build cannot pull dist/ from under this run.
      const copy = join(work, 'svclab');
      cpSync(root, copy, {
        recursive: true,
        filter: (src) =>
          !['node_modules', 'dist', '.svclab', '.git', 'svclab-dumps'].includes(
            relative(root, src).split('/')[0]!,
          ),
      });
      symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
      const pack = await execa('npm', ['pack', '--json', '--pack-destination', work], {
        cwd: copy,
        reject: false,
      });
      expect(pack.exitCode, pack.stderr).toBe(0);
      const packed = (
        JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[]
      )[0]!;
      const files = packed.files.map((f) => f.path);
      expect(files).toEqual(
        expect.arrayContaining([
          'dist/index.js',
          'dist/index.d.ts',
          'dist/vitest/index.d.ts',
          'dist/traffic/agent.js',
          'dist/cli/bundle/main.js',
          'bin/svclab.js',
        ]),
      );
      expect(files.filter((f) => f.startsWith('src/') || f.endsWith('.test.js'))).toEqual([]);

      cpSync(join(root, 'examples', 'user-project'), project, {
        recursive: true,
        filter: (src) => basename(src) !== 'package.json',
      });
      writeFileSync(
        join(project, 'package.json'),
        JSON.stringify({ name: 'user-project', private: true, type: 'module' }),
      );
      // The npm cache already holds every dependency (npm ci filled it): no registry round trips
      // unless something is missing.
      const install = await execa(
        'npm',
        [
          'install',
          '--prefer-offline',
          '--no-audit',
          '--no-fund',
          join(work, packed.filename),
          `vitest@${vitestVersion}`,
        ],
        { cwd: project, reject: false, all: true },
      );
      expect(install.exitCode, install.all).toBe(0);
    }, 300_000);

    it("type-checks the project's test against the shipped declarations", async () => {
      const tsc = await execa(
        process.execPath,
        [
          join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
          '-p',
          'tsconfig.json',
          '--typeRoots',
          join(root, 'node_modules', '@types'),
        ],
        { cwd: project, reject: false, all: true },
      );
      expect(tsc.exitCode, tsc.all).toBe(0);
    }, 120_000);

    it("runs the project's suite with vitest, as root, against a netns lab", async () => {
      const before = labNamespaces();
      const run = await execa(join(project, 'node_modules', '.bin', 'vitest'), ['run'], {
        cwd: project,
        reject: false,
        all: true,
        env: { ...env, SVCLAB_PROXY: 'iptables' },
      });
      expect(run.exitCode, run.all).toBe(0);
      expect(run.all).toMatch(/Tests\s+2 passed/);
      expect(labNamespaces()).toEqual(before);
    }, 120_000);

    it('runs it through `svclab test <glob>` with a mode, writing JUnit XML and a Markdown summary', async () => {
      const junit = join(project, 'results', 'junit.xml');
      const summary = join(project, 'results', 'summary.md');
      const r = await execa(
        svclab,
        ['test', 'e2e/**/*.test.ts', '--proxy', 'nftables', '--junit', junit, '--summary', summary],
        { cwd: project, reject: false, all: true, env },
      );
      expect(r.exitCode, r.all).toBe(0);
      const xml = readFileSync(junit, 'utf8');
      expect(xml).toMatch(/<testsuites [^>]*tests="2" failures="0" errors="0"/);
      expect(xml).toContain('answers from both backends and keeps the client pod IP');
      const md = readFileSync(summary, 'utf8');
      expect(md).toMatch(/^### svclab test \(nftables, netns\): passed: 2 passed, 0 skipped$/m);
      expect(md).toContain('| run-0 | 2 | 0 | 0 |');
    }, 120_000);

    it("without a vitest config of the project's, svclab's own (global setup included) runs the files", async () => {
      rmSync(join(project, 'vitest.config.ts'));
      const junit = join(project, 'results', 'junit-default-config.xml');
      const r = await execa(
        svclab,
        ['test', 'e2e', '--proxy', 'iptables', '--sync', 'full', '--junit', junit],
        { cwd: project, reject: false, all: true, env },
      );
      expect(r.exitCode, r.all).toBe(0);
      expect(r.all).toMatch(/Tests\s+2 passed/);
      // The mode reached the suite (its title names it); read from the report, not the console,
      // which lists test names only for slow or failing files.
      expect(readFileSync(junit, 'utf8')).toContain('echo Service (iptables/full/nft)');
    }, 120_000);
  },
);
