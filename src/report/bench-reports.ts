import * as z from 'zod';
import type { CliBenchReport } from '../bench/cli.js';
import type { ControlPlaneUpResult } from '../bench/control-plane.js';
import { scaleReportSchema, type ScaleReport } from '../bench/scale/report.js';
import type { UpBenchResult } from '../bench/up.js';
import type { VmBench } from '../vm/bench.js';

/**
 * The benchmark reports `svclab bench` writes (`--out FILE`), recognised by their content, not
 * their file name: `bench up`, `bench up --control-plane` and `bench cli` name themselves in
 * `benchmark`, `bench vm` has no such field and is known by its shape, `bench scale` writes
 * scale.json in its own folder. The schemas check what the report page reads; extra fields pass.
 */

// Stats of no samples are NaN, which JSON.stringify writes as null.
const num = z.number().nullable();
const statsSchema = z.looseObject({ n: z.number(), median: num, max: num });

const machineSchema = z.looseObject({ kernel: z.string(), cpus: z.number() });

const upSchema = z.looseObject({
  benchmark: z.literal('up'),
  proxy: z.string(),
  runs: z.number(),
  machine: machineSchema,
  results: z.array(
    z.looseObject({
      topology: z.string(),
      nodes: z.number(),
      pods: z.number(),
      namespaces: z.number(),
      upMs: statsSchema,
      downMs: statsSchema,
      // Reports written before the whole-command figures existed lack them (docs/bench/up.json).
      wholeUpMs: statsSchema.optional(),
      wholeDownMs: statsSchema.optional(),
    }),
  ),
});

const cliSchema = z.looseObject({
  benchmark: z.literal('cli'),
  runs: z.number(),
  baseline: z.looseObject({ command: z.string(), wallMs: statsSchema }),
  commands: z.array(
    z.looseObject({
      command: z.string(),
      wallMs: statsSchema,
      ratio: num,
      goal: z.string(),
      met: z.boolean(),
    }),
  ),
  notes: z.array(z.string()),
  met: z.boolean(),
  machine: machineSchema,
});

const controlPlaneSchema = z.looseObject({
  benchmark: z.literal('up --control-plane'),
  proxy: z.string(),
  machine: machineSchema,
  result: z.looseObject({
    topology: z.string(),
    runs: z.number(),
    upMs: statsSchema,
    downMs: statsSchema,
    phaseMs: z.record(z.string(), statsSchema),
    rssMiB: z.record(z.string(), statsSchema),
    version: z.string(),
  }),
});

const vmSchema = z.looseObject({
  kernelRelease: z.string(),
  accel: z.string(),
  runs: z.array(
    z.looseObject({
      command: z.array(z.string()),
      bootMs: z.number(),
      commandMs: z.number(),
      teardownMs: z.number(),
      totalMs: z.number(),
    }),
  ),
  inside: z.record(z.string(), z.looseObject({ coldMs: z.number(), warmMs: z.number() })),
  hostLoad: z.number(),
});

type Whole = 'wholeUpMs' | 'wholeDownMs';
export type UpReport = {
  benchmark: 'up';
  proxy: string;
  runs: number;
  machine: { kernel: string; cpus: number };
  results: (Omit<UpBenchResult, Whole> & Partial<Pick<UpBenchResult, Whole>>)[];
};
export type ControlPlaneUpReport = {
  benchmark: 'up --control-plane';
  proxy: string;
  machine: { kernel: string; cpus: number };
  result: ControlPlaneUpResult;
};

/** One benchmark report found in the bench folder, with the file it came from. */
export type BenchEntry = { file: string } & (
  | { kind: 'up'; report: UpReport }
  | { kind: 'control-plane-up'; report: ControlPlaneUpReport }
  | { kind: 'cli'; report: CliBenchReport }
  | { kind: 'vm'; report: VmBench }
  | { kind: 'scale'; report: ScaleReport }
);

/** The order of the page's bench sections. */
export const BENCH_KINDS = ['up', 'control-plane-up', 'cli', 'vm', 'scale'] as const;

export type Recognised =
  { ok: true; entry: Omit<BenchEntry, 'file'> } | { ok: false; problem: string };

function problemOf(err: z.ZodError): string {
  const i = err.issues[0]!;
  return `${i.path.join('.') || '(top level)'}: ${i.message}`;
}

/**
 * Which benchmark a parsed JSON document is, validated. `ok: false` with a problem when it claims
 * to be one (or looks like a VM bench) but does not hold what the page reads; `undefined` when it
 * is not a benchmark report at all.
 */
export function recogniseBench(doc: unknown): Recognised | undefined {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const o = doc as Record<string, unknown>;
  const check = <T>(schema: z.ZodType, make: (v: T) => Omit<BenchEntry, 'file'>): Recognised => {
    const r = schema.safeParse(doc);
    return r.success
      ? { ok: true, entry: make(r.data as T) }
      : { ok: false, problem: problemOf(r.error) };
  };
  switch (o['benchmark']) {
    case 'up':
      return check<UpReport>(upSchema, (report) => ({ kind: 'up', report }));
    case 'up --control-plane':
      return check<ControlPlaneUpReport>(controlPlaneSchema, (report) => ({
        kind: 'control-plane-up',
        report,
      }));
    case 'cli':
      return check<CliBenchReport>(cliSchema, (report) => ({ kind: 'cli', report }));
    case 'scale':
      return check<ScaleReport>(scaleReportSchema, (report) => ({ kind: 'scale', report }));
    case undefined:
      return 'kernelRelease' in o && 'accel' in o
        ? check<VmBench>(vmSchema, (report) => ({ kind: 'vm', report }))
        : undefined;
    default:
      return undefined;
  }
}
