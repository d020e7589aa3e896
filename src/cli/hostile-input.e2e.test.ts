import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labDir } from '../cluster/state.js';
import { GENERATED_INVALID } from '../model/hostile.test-helper.js';

// Hostile topology files through the built CLI, as a user (or a CI job reading a pull request)
// would run it: exit 2, the file and the field path in every line, a bounded message, and
// nothing created by `up`. The expected lines are the golden files the unit test compares.
const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'bin', 'svclab.js');
const invalidDir = join(root, 'topologies', 'testdata', 'invalid');
const svclab = (args: string[]) => execa(process.execPath, [cli, ...args], { reject: false });
const isRoot = process.getuid?.() === 0;
/** This test's lab's namespaces (`svclab.<lab>.…`); other labs on the machine are not ours to judge. */
const labNamespaces = (lab: string) =>
  existsSync('/run/netns')
    ? readdirSync('/run/netns').filter((n) => n.startsWith(`svclab.${lab}.`))
    : [];

/** Far above what a real error report needs; a 10 MB value echoed whole would be 10 MB. */
const MAX_STDERR_BYTES = 16 * 1024;

/** One committed case per class, with a field path its message must carry (or '' for none). */
const COMMITTED: Record<string, string> = {
  'reserved-subnets.yaml': 'spec.networking.nodeSubnet',
  'reserved-addresses.yaml': 'spec.services[1].spec.externalIPs[4]',
  'control-characters.yaml': 'spec.nodes[0].name',
  'control-characters-reference.yaml': 'spec.pods[0].node',
  'mapping-keys.yaml': 'spec.nodes[0].labels["1"]',
  'alias-cycle.yaml': 'spec.nodes[0].labels',
  'huge-numbers.yaml': 'spec.networking.podCIDRMaskSize',
  'long-values.yaml': 'spec.pods[0].name',
  'alias-bomb.yaml': '',
  'deep-nesting.yaml': '',
  'multiple-documents.yaml': '',
  'not-utf8.yaml': '',
};
const GENERATED_PATHS: Record<string, string> = {
  'long-pod-name': 'spec.pods[0].name',
  'many-keys': 'spec.externalHosts[0].labels.k0',
  'many-errors': 'spec.pods[0].name',
};

const dir = mkdtempSync(join(tmpdir(), 'svclab-hostile-'));
const cases: { name: string; path: string; fieldPath: string }[] = [
  ...Object.entries(COMMITTED).map(([name, fieldPath]) => ({
    name,
    path: join(invalidDir, name),
    fieldPath,
  })),
  ...Object.keys(GENERATED_INVALID).map((g) => ({
    name: `${g}.yaml`,
    path: join(dir, `${g}.yaml`),
    fieldPath: GENERATED_PATHS[g] ?? '',
  })),
];

beforeAll(() => {
  for (const [g, make] of Object.entries(GENERATED_INVALID))
    writeFileSync(join(dir, `${g}.yaml`), make());
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The golden lines, naming the file by the path the CLI was given. */
function expectedLines(name: string, path: string): string[] {
  const golden = readFileSync(join(invalidDir, name.replace(/\.yaml$/, '.errors.txt')), 'utf8');
  return golden
    .trimEnd()
    .split('\n')
    .map((l) => `${path}${l.slice(name.length)}`);
}

describe('svclab validate on hostile files', () => {
  it.each(cases)('$name: exit 2, file and path, bounded', async ({ name, path, fieldPath }) => {
    const r = await svclab(['validate', path]);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    const [summary, ...lines] = r.stderr.trimEnd().split('\n');
    expect(summary).toMatch(new RegExp(`^svclab: invalid topology .*: \\d+ errors?$`));
    expect(summary).toContain(path);
    expect(lines).toEqual(expectedLines(name, path));
    if (fieldPath)
      expect(lines.filter((l) => l.startsWith(`${path}: ${fieldPath}: `))).not.toEqual([]);
    expect(Buffer.byteLength(r.stderr)).toBeLessThanOrEqual(MAX_STDERR_BYTES);
    // Nothing from the file reaches the terminal raw: no escapes, no extra line breaks.
    expect(r.stderr).not.toMatch(/[^\P{Cc}\n]|[\p{Cf}\p{Zl}\p{Zp}]/u);
  });
});

describe('svclab up on hostile files', () => {
  const lab = 'hostile';
  const upCases = cases.filter((c) => c.path.startsWith(dir) || c.name.startsWith('reserved-'));
  beforeAll(() => {
    // A leftover of an earlier run would make "nothing created" pass or fail for the wrong reason.
    expect(existsSync(labDir(lab))).toBe(false);
    expect(labNamespaces(lab)).toEqual([]);
  });

  it.each(upCases)('$name: exit 2 and nothing created', async ({ path }) => {
    const r = await svclab(['up', path, '--name', lab]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`svclab: invalid topology ${path}`);
    expect(Buffer.byteLength(r.stderr)).toBeLessThanOrEqual(MAX_STDERR_BYTES);
    expect(existsSync(labDir(lab))).toBe(false);
    if (isRoot) expect(labNamespaces(lab)).toEqual([]);
  });
});

describe('svclab validate on paths that are not files', () => {
  it.each([
    ['a directory', () => dir, 'it is a directory'],
    [
      'a path through a file',
      () => join(cli, 'x.yaml'),
      'no such file (a part of the path is not a directory)',
    ],
  ])('%s: exit 2 with the path and why', async (_what, path, why) => {
    const r = await svclab(['validate', path()]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe(`svclab: cannot read topology file ${path()}: ${why}`);
  });
});
