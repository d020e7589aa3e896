import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UsageError } from '../errors.js';

/**
 * The report a `--merge-into DIR` names (`svclab matrix`, `svclab fidelity`), read and checked
 * before anything is measured: a bad folder must not cost a run. `what` names the report kind in
 * the error ("a persistence matrix report"); `valid` says whether the parsed JSON is one.
 */
export async function readMergeBase<T>(
  dir: string,
  file: string,
  what: string,
  valid: (parsed: Partial<T> & Record<string, unknown>) => boolean,
): Promise<T> {
  const path = join(resolve(dir), file);
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) throw new UsageError(`--merge-into: Not found: no ${file} in ${dir}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--merge-into: Invalid value: ${path}: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || !valid(parsed as Partial<T>))
    throw new UsageError(`--merge-into: Invalid value: ${path} is not ${what}`);
  return parsed as T;
}
