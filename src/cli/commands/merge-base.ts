import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';

/**
 * The report a `--merge-into DIR` names (`svclab matrix`, `svclab fidelity`), read and checked
 * before anything is measured (a bad folder must not cost a run) and read again for the merge.
 * `what` names the report kind in the error ("a persistence matrix report"); `valid` says whether
 * the parsed JSON is one.
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

/**
 * A finished run merged into its `--merge-into` report as the folder holds it now (read again:
 * another part may have been merged meanwhile, by a run beside this one). When that fails (the
 * folder was removed, or now holds a report this run does not fit), the run is not lost with the
 * error: it is written to `keepIn/keepAs` and the error says so.
 */
export async function mergeAfterRun<T>(o: {
  made: T;
  readBase: () => Promise<T | undefined>;
  merge: (base: T, made: T) => T;
  keepIn: string;
  keepAs: string;
}): Promise<T> {
  let failure: string | undefined;
  let merged = o.made;
  try {
    const base = await o.readBase();
    if (base) merged = o.merge(base, o.made);
  } catch (err) {
    const message = (err as Error).message;
    failure =
      err instanceof UsageError
        ? message.replace(/^--merge-into: /, '')
        : `Invalid value: ${message}`;
  }
  if (failure === undefined) return merged;
  const kept = join(resolve(o.keepIn), o.keepAs);
  await mkdir(dirname(kept), { recursive: true });
  await writeFile(kept, JSON.stringify(o.made, null, 2) + '\n');
  throw new UsageError(`--merge-into: ${failure} (this run's report is in ${kept})`);
}
