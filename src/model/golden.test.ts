/**
 * Table-driven over topologies/testdata: each valid/*.yaml resolves to its sibling
 * `<name>.resolved.json`; each invalid/*.yaml, and each case generated at test time
 * (hostile.test-helper.ts), fails with exactly the lines of `<name>.errors.txt`.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { expectGolden } from './golden.js';
import { GENERATED_INVALID } from './hostile.test-helper.js';
import { TopologyError } from './issues.js';
import { MAX_ISSUE_BYTES, MAX_LISTED_ISSUES } from './limits.js';
import { parseTopology, parseTopologyBytes } from './load.js';

const TESTDATA = fileURLToPath(new URL('../../topologies/testdata/', import.meta.url));

function cases(dir: string): string[] {
  return readdirSync(join(TESTDATA, dir))
    .filter((f) => f.endsWith('.yaml'))
    .sort();
}

describe('valid topologies', () => {
  const files = cases('valid');
  test('there is a minimal and an all-features case', () => {
    expect(files).toEqual(expect.arrayContaining(['minimal.yaml', 'all-features.yaml']));
  });
  test.each(files)('%s', (file) => {
    const topology = parseTopology(readFileSync(join(TESTDATA, 'valid', file), 'utf8'), { file });
    const golden = join(TESTDATA, 'valid', file.replace(/\.yaml$/, '.resolved.json'));
    expectGolden(golden, `${JSON.stringify(topology, null, 2)}\n`);
  });
});

/** Parses an invalid case and compares its lines with `<name>.errors.txt`. */
function expectInvalid(file: string, bytes: Uint8Array): string[] {
  let error: unknown;
  try {
    parseTopologyBytes(bytes, { file });
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(TopologyError);
  const lines = (error as TopologyError).lines;
  expect((error as TopologyError).message).toContain(lines.join('\n'));
  const golden = join(TESTDATA, 'invalid', file.replace(/\.yaml$/, '.errors.txt'));
  expectGolden(golden, `${lines.join('\n')}\n`);
  // Whatever the file holds: a bounded number of single, bounded, printable lines.
  expect(lines.length).toBeLessThanOrEqual(MAX_LISTED_ISSUES + 1);
  for (const line of lines) {
    expect(Buffer.byteLength(line)).toBeLessThanOrEqual(file.length + 2 * MAX_ISSUE_BYTES + 4);
    expect(line).not.toMatch(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u);
  }
  return lines;
}

describe('invalid topologies', () => {
  // Bytes, not text: some cases are about the encoding.
  test.each(cases('invalid'))('%s', (file) => {
    expectInvalid(file, readFileSync(join(TESTDATA, 'invalid', file)));
  });
});

describe('invalid topologies generated at test time', () => {
  test.each(Object.keys(GENERATED_INVALID))('%s', (name) => {
    const make = GENERATED_INVALID[name]!;
    expectInvalid(`${name}.yaml`, Buffer.from(make()));
  });

  test('every errors.txt belongs to a committed or a generated case', () => {
    const expected = readdirSync(join(TESTDATA, 'invalid'))
      .filter((f) => f.endsWith('.errors.txt'))
      .map((f) => f.replace(/\.errors\.txt$/, ''));
    const known = [
      ...cases('invalid').map((f) => f.replace(/\.yaml$/, '')),
      ...Object.keys(GENERATED_INVALID),
    ];
    expect(expected.sort()).toEqual(known.sort());
  });
});
