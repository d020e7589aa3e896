import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { UsageError } from './errors.js';
import { expandGlob, isGlob } from './glob.js';

/** What `svclab test` runs: the built-in suites of a checkout, or a user's own test files. */
export interface TestTarget {
  kind: 'suites' | 'files';
  /** The folder vitest runs in, and the one test files are named relative to in the summary. */
  cwd: string;
  vitest: string;
  /** vitest arguments after `run`, before the reporters. */
  args: string[];
  /** Environment the vitest config reads. */
  env: Record<string, string>;
}

const TEST_FILE = /\.(test|spec)\.[cm]?[jt]sx?$/;
const isDirectory = (p: string) => existsSync(p) && statSync(p).isDirectory();

const CONFIG_NAMES = ['vitest', 'vite'].flatMap((b) =>
  ['ts', 'mts', 'cts', 'js', 'mjs', 'cjs'].map((e) => `${b}.config.${e}`),
);

/**
 * Arguments that are all suite names under the package's suites/ run those suites; arguments that
 * are paths or globs (`./e2e/**\/*.test.ts`) run the user's files from the working directory,
 * with the project's own vitest config if it has one, else svclab's (the files, the global setup,
 * lab-sized timeouts). Anything else is bad input, named.
 */
export function resolveTestTarget(
  args: readonly string[],
  opts: { cwd: string; packageRoot: string },
): TestTarget {
  const suitesDir = join(opts.packageRoot, 'suites');
  const known = existsSync(suitesDir)
    ? readdirSync(suitesDir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
    : [];
  const pathLike = (a: string) =>
    isGlob(a) || a.includes('/') || /\.[cm]?[jt]sx?$/.test(a) || existsSync(resolve(opts.cwd, a));
  const paths = args.filter((a) => !known.includes(a) && pathLike(a));
  if (paths.length === 0) {
    for (const a of args)
      if (!known.includes(a))
        throw new UsageError(
          `unknown suite "${a}" (suites: ${known.join(', ') || 'none in this install'}; or name test files, e.g. ./e2e/**/*.test.ts)`,
        );
    if (known.length === 0)
      throw new UsageError(
        'this svclab install ships no suites: name your test files, e.g. svclab test ./e2e/**/*.test.ts',
      );
    return {
      kind: 'suites',
      cwd: opts.packageRoot,
      vitest: packageVitest(opts.packageRoot),
      args: [
        '--project',
        'e2e',
        ...(args.length > 0 ? args.map((s) => `suites/${s}`) : ['suites']),
      ],
      env: {},
    };
  }
  if (paths.length !== args.length)
    throw new UsageError(
      `give either suite names or test files, not both (suites: ${args.filter((a) => !paths.includes(a)).join(', ')})`,
    );
  const files = paths.flatMap((p) => {
    // A folder stands for the test files under it, as vitest's default include would find them.
    const found = isDirectory(resolve(opts.cwd, p))
      ? expandGlob(join(p, '**', '*'), opts.cwd).filter((f) => TEST_FILE.test(f))
      : expandGlob(p, opts.cwd);
    if (found.length === 0) throw new UsageError(`no test file matches "${p}" (from ${opts.cwd})`);
    return found;
  });
  const rel = [...new Set(files.map((f) => relative(opts.cwd, f)))];
  const config = CONFIG_NAMES.map((n) => join(opts.cwd, n)).find((f) => existsSync(f));
  return {
    kind: 'files',
    cwd: opts.cwd,
    vitest: userVitest(opts.cwd, opts.packageRoot),
    args: config
      ? ['--config', config, ...rel]
      : [
          '--config',
          join(opts.packageRoot, 'dist', 'vitest', 'default-config.js'),
          '--root',
          opts.cwd,
        ],
    env: config ? {} : { SVCLAB_TEST_FILES: JSON.stringify(rel) },
  };
}

function packageVitest(root: string): string {
  const vitest = join(root, 'node_modules', '.bin', 'vitest');
  if (!existsSync(vitest))
    throw new UsageError(`vitest is not installed in ${root}: run \`npm ci\` there`);
  return vitest;
}

/** The project's vitest (a peer dependency), else the one beside svclab. */
function userVitest(cwd: string, root: string): string {
  for (let dir = cwd; ; dir = dirname(dir)) {
    const vitest = join(dir, 'node_modules', '.bin', 'vitest');
    if (existsSync(vitest)) return vitest;
    if (dirname(dir) === dir) break;
  }
  const own = join(root, 'node_modules', '.bin', 'vitest');
  if (existsSync(own)) return own;
  throw new UsageError(
    `vitest is not installed for ${cwd}: npm install --save-dev vitest (svclab's peer dependency)`,
  );
}
