import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { packageRoot } from '../cli/package-root.js';
import {
  declaredSkipFor,
  machineCapabilities,
  type Capabilities,
  type SkipCause,
  type SkipSite,
} from './declared-skips.js';

/** The environment variable naming the JSON-lines file a run's skips are written to. */
export const SKIP_LOG_ENV = 'SVCLAB_SKIP_LOG';
/** The skip log of vitest run `run` in a results folder, beside its report `run.json`. */
export function skipLogOf(dir: string, run: string): string {
  return join(dir, `${run}.skips.jsonl`);
}

/**
 * One skip as it happened: where, why, and whether a declaration covers it on the machine it
 * happened on (judged there, because the IPVS run happens inside a VM with another kernel).
 */
export interface SkipRecord extends SkipSite {
  /** Absolute test file, to match the skipped tests of the vitest report; absent for a whole run. */
  file?: string;
  /** Label of the mode, e.g. `iptables/partial/legacy`. */
  mode?: string;
  cause: SkipCause;
  /** What the skip site saw, e.g. "missing iptables-legacy-restore (apt-get install -y iptables)". */
  reason: string;
  /** The declaration's reason when the skip is expected here; absent when it is not. */
  declared?: string;
  where: 'host' | 'vm';
}

/** Suite name of a file: its path under the package root (a user's file keeps its own path). */
export function suiteOf(file: string, root: string = packageRoot()): string {
  const rel = relative(root, file);
  return isAbsolute(rel) || rel.startsWith('..') ? file : rel;
}

/** Judges a skip against the declarations with this machine's capabilities. */
export function judgeSkip(
  skip: Omit<SkipRecord, 'declared' | 'where'>,
  caps: Capabilities = machineCapabilities(),
): SkipRecord {
  const d = declaredSkipFor(skip.cause, skip, caps);
  return {
    ...skip,
    ...(d ? { declared: d.reason } : {}),
    where: caps.inVm ? 'vm' : 'host',
  };
}

/** Appends a record to the run's skip log, when the run keeps one (npm test, svclab test). */
export function appendSkipRecord(
  record: SkipRecord,
  file: string | undefined = process.env[SKIP_LOG_ENV],
): void {
  if (!file) return;
  mkdirSync(dirname(file), { recursive: true });
  // One short line per write: O_APPEND keeps lines from parallel vitest workers whole.
  appendFileSync(file, JSON.stringify(record) + '\n');
}

export function readSkipRecords(file: string): SkipRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as SkipRecord);
}
