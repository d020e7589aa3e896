import type { ResultsSummary } from '../harness/results.js';
import type { MatrixReport } from '../persistence/matrix.js';
import type { BenchEntry } from './bench-reports.js';
import type { FidelityReport } from './fidelity.js';

/** An input of the page: found at `path`, or not there (the page says where it looked). */
export type Found<T> = { path: string; found: true; value: T } | { path: string; found: false };

/** The last test run: the closing account of its results folder (src/harness/results.ts). */
export interface TestRun {
  summary: ResultsSummary;
  /** Newest modification time of the folder's reports and skip logs (ISO), if any. */
  writtenAt: string | undefined;
}

export interface BenchSet {
  entries: BenchEntry[];
  /** JSON files in the folder that are no benchmark report svclab writes. */
  ignored: string[];
}

/** Everything the page shows, loaded: renderReport is a pure function of this. */
export interface ReportInputs {
  generatedAt: string;
  results: Found<TestRun>;
  matrix: Found<MatrixReport>;
  bench: Found<BenchSet>;
  fidelity: Found<FidelityReport>;
}
