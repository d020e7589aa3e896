/**
 * Table-driven over topologies/testdata: each valid/*.yaml resolves to its sibling
 * `<name>.resolved.json`; each invalid/*.yaml fails with exactly the lines of `<name>.errors.txt`.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { expectGolden } from './golden.js';
import { TopologyError } from './issues.js';
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

describe('invalid topologies', () => {
  test.each(cases('invalid'))('%s', (file) => {
    // Bytes, not text: some cases are about the encoding.
    const bytes = readFileSync(join(TESTDATA, 'invalid', file));
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
  });
});
