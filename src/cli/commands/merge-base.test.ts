import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { mergeAfterRun, readMergeBase } from './merge-base.js';

interface Part {
  kind: 'Parts';
  parts: number[];
}
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
function folder(base?: Part): string {
  const dir = mkdtempSync(join(tmpdir(), 'svclab-merge-base-'));
  dirs.push(dir);
  if (base) writeFileSync(join(dir, 'parts.json'), JSON.stringify(base));
  return dir;
}
const read = (dir: string) => () =>
  readMergeBase<Part>(dir, 'parts.json', 'a parts report', (r) => r.kind === 'Parts');
const merge = (a: Part, b: Part): Part => {
  if (b.parts.some((p) => a.parts.includes(p))) throw new Error('parts: already merged');
  return { kind: 'Parts', parts: [...a.parts, ...b.parts] };
};

describe('mergeAfterRun', () => {
  it('merges into the report as the folder holds it at the end, not as it was read at the start', async () => {
    const dir = folder({ kind: 'Parts', parts: [1] });
    await read(dir)();
    // Another part finished meanwhile.
    writeFileSync(join(dir, 'parts.json'), JSON.stringify({ kind: 'Parts', parts: [1, 2] }));
    const merged = await mergeAfterRun({
      made: { kind: 'Parts', parts: [3] },
      readBase: read(dir),
      merge,
      keepIn: dir,
      keepAs: 'parts.unmerged.json',
    });
    expect(merged.parts).toEqual([1, 2, 3]);
  });

  it('keeps the run in a file the error names when the folder no longer takes it', async () => {
    const dir = folder({ kind: 'Parts', parts: [1] });
    const made: Part = { kind: 'Parts', parts: [1] };
    const merging = mergeAfterRun({
      made,
      readBase: read(dir),
      merge,
      keepIn: dir,
      keepAs: 'parts.unmerged.json',
    });
    await expect(merging).rejects.toThrow(UsageError);
    await expect(merging).rejects.toThrow(
      `--merge-into: Invalid value: parts: already merged (this run's report is in ${join(dir, 'parts.unmerged.json')})`,
    );
    expect(JSON.parse(readFileSync(join(dir, 'parts.unmerged.json'), 'utf8'))).toEqual(made);

    rmSync(join(dir, 'parts.json'));
    const out = folder();
    await expect(
      mergeAfterRun({
        made,
        readBase: read(dir),
        merge,
        keepIn: out,
        keepAs: 'parts.unmerged.json',
      }),
    ).rejects.toThrow(
      `--merge-into: Not found: no parts.json in ${dir} (this run's report is in ${join(out, 'parts.unmerged.json')})`,
    );
    expect(JSON.parse(readFileSync(join(out, 'parts.unmerged.json'), 'utf8'))).toEqual(made);
  });
});
