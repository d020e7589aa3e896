import { readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import type * as z from 'zod';
import { UsageError } from '../cli/errors.js';
import { summarizeResults } from '../harness/results.js';
import type { MatrixReport } from '../persistence/matrix.js';
import { recogniseBench, type BenchEntry } from './bench-reports.js';
import { fidelityReportSchema, type FidelityReport } from './fidelity.js';
import type { BenchSet, Found, ReportInputs, TestRun } from './inputs.js';
import { matrixReportSchema } from './matrix-schema.js';

/** The inputs by the option that names them. */
export interface ReportPaths {
  results: string;
  matrix: string;
  bench: string;
  fidelity: string;
}
type Option = keyof ReportPaths;

/**
 * Where the inputs are in a checkout: the results folder `npm test` (scripts/test.sh) writes, the
 * committed persistence matrix and benchmark reports, and the fidelity report issue 15 will
 * commit.
 */
export function defaultPaths(root: string): ReportPaths {
  return {
    results: join(root, '.svclab', 'results'),
    matrix: join(root, 'docs', 'persistence', 'persistence-matrix.json'),
    bench: join(root, 'docs', 'bench'),
    fidelity: join(root, 'docs', 'fidelity', 'fidelity.json'),
  };
}

/**
 * Loads every input. A path the user gave (`given`) must hold what its option names, or it is bad
 * input naming the option (exit 2); a default path may be absent, and the page then says where
 * it looked. A file that is there but is not what it should be is bad input either way.
 */
export function loadReportInputs(o: {
  root: string;
  given: Partial<ReportPaths>;
  now?: Date;
}): ReportInputs {
  const defaults = defaultPaths(o.root);
  const at = (option: Option) => {
    const given = o.given[option];
    return {
      option,
      path: given !== undefined ? resolve(given) : defaults[option],
      given: given !== undefined,
    };
  };
  return {
    generatedAt: (o.now ?? new Date()).toISOString(),
    results: loadResults(at('results')),
    matrix: loadMatrix(at('matrix')),
    bench: loadBench(at('bench')),
    fidelity: loadFidelity(at('fidelity')),
  };
}

interface Where {
  option: Option;
  path: string;
  given: boolean;
}

function bad(w: Where, message: string): UsageError {
  return new UsageError(`--${w.option}: ${message}`);
}

const UNREADABLE: Record<string, string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the path is too long',
};

function describe(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return (code && UNREADABLE[code]) ?? (err as Error).message;
}

/** The path's stats; undefined when it is absent and was not asked for. */
function statOf(w: Where, kind: 'file' | 'directory'): Stats | undefined {
  let st: Stats;
  try {
    st = statSync(w.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!w.given && (code === 'ENOENT' || code === 'ENOTDIR')) return undefined;
    throw bad(w, `cannot read ${w.path}: ${describe(err)}`);
  }
  if (kind === 'file' ? !st.isFile() : !st.isDirectory())
    throw bad(w, `${w.path} is not a ${kind}`);
  return st;
}

function readJson(w: Where, file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw bad(w, `cannot read ${file}: ${describe(err)}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw bad(w, `${file} is not valid JSON: ${(err as Error).message}`);
  }
}

function parseWith<T>(w: Where, file: string, schema: z.ZodType, what: string): T {
  const r = schema.safeParse(readJson(w, file));
  if (r.success) return r.data as T;
  const i = r.error.issues[0]!;
  throw bad(w, `${file} is not ${what}: ${i.path.join('.') || '(top level)'}: ${i.message}`);
}

const RESULT_FILE = /(\.skips\.jsonl|\.json)$/;

function loadResults(w: Where): Found<TestRun> {
  if (!statOf(w, 'directory')) return { path: w.path, found: false };
  const files = readdirSync(w.path).filter((f) => RESULT_FILE.test(f));
  if (files.length === 0) {
    if (w.given)
      throw bad(
        w,
        `${w.path} holds no test results (vitest JSON reports NAME.json and skip logs NAME.skips.jsonl, as scripts/test.sh writes them)`,
      );
    return { path: w.path, found: false };
  }
  // summarizeResults trusts its folder; check each report here so a wrong folder or a truncated
  // file is named, not a stack trace.
  for (const f of files.filter((f) => f.endsWith('.json'))) {
    const doc = readJson(w, join(w.path, f));
    if (
      typeof doc !== 'object' ||
      doc === null ||
      !Array.isArray((doc as { testResults?: unknown }).testResults)
    )
      throw bad(w, `${join(w.path, f)} is not a vitest JSON report (no testResults)`);
  }
  let summary;
  try {
    summary = summarizeResults(w.path);
  } catch (err) {
    throw bad(w, `cannot read the test results in ${w.path}: ${(err as Error).message}`);
  }
  const newest = Math.max(...files.map((f) => statSync(join(w.path, f)).mtimeMs));
  return {
    path: w.path,
    found: true,
    value: { summary, writtenAt: new Date(newest).toISOString() },
  };
}

function loadMatrix(w: Where): Found<MatrixReport> {
  if (!statOf(w, 'file')) return { path: w.path, found: false };
  return {
    path: w.path,
    found: true,
    value: parseWith<MatrixReport>(
      w,
      w.path,
      matrixReportSchema,
      'a persistence matrix (svclab matrix --out)',
    ),
  };
}

function loadFidelity(w: Where): Found<FidelityReport> {
  if (!statOf(w, 'file')) return { path: w.path, found: false };
  return {
    path: w.path,
    found: true,
    value: parseWith<FidelityReport>(w, w.path, fidelityReportSchema, 'a fidelity report'),
  };
}

/** Benchmark reports: the folder's JSON files, and scale.json one folder down (bench scale --out). */
function loadBench(w: Where): Found<BenchSet> {
  if (!statOf(w, 'directory')) return { path: w.path, found: false };
  const files: string[] = [];
  for (const e of readdirSync(w.path, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    if (e.isFile() && e.name.endsWith('.json')) files.push(join(w.path, e.name));
    else if (e.isDirectory()) {
      const scale = join(w.path, e.name, 'scale.json');
      try {
        if (statSync(scale).isFile()) files.push(scale);
      } catch {
        // No scale report in this folder: nothing to read.
      }
    }
  }
  const entries: BenchEntry[] = [];
  const ignored: string[] = [];
  for (const file of files) {
    const r = recogniseBench(readJson(w, file));
    if (r === undefined) ignored.push(file);
    else if (!r.ok) throw bad(w, `${file} is not a valid benchmark report: ${r.problem}`);
    else entries.push({ file, ...r.entry } as BenchEntry);
  }
  if (entries.length === 0) {
    if (w.given)
      throw bad(w, `${w.path} holds no benchmark report (the JSON svclab bench ... --out writes)`);
    return { path: w.path, found: false };
  }
  return { path: w.path, found: true, value: { entries, ignored } };
}
