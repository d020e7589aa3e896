import * as z from 'zod';

/**
 * What the report page reads of a persistence matrix (`svclab matrix --out`, the MatrixReport of
 * src/persistence/matrix.ts): checked before rendering so a hand-edited or truncated file is bad
 * input with the field named, not a crash half-way through the page. Extra fields pass.
 */
const flowSchema = z.looseObject({ outcome: z.string(), after: z.string().optional() });

const eventResultSchema = z.looseObject({
  event: z.string(),
  pinned: z.boolean(),
  updateMs: z.number(),
  flows: z.looseObject({ stream: flowSchema, conn: flowSchema, udp: flowSchema }),
  newConnection: z.looseObject({
    ok: z.boolean(),
    firstOkMs: z.number().optional(),
    failures: z.record(z.string(), z.number()),
  }),
  notes: z.array(z.string()),
});

export const matrixReportSchema = z.looseObject({
  apiVersion: z.literal('svclab.dev/v1alpha1'),
  kind: z.literal('PersistenceMatrix'),
  generatedAt: z.string(),
  machine: z.looseObject({ cpus: z.number(), node: z.string() }),
  topology: z.string(),
  events: z.array(z.looseObject({ id: z.string(), title: z.string() })),
  knownBugs: z.array(
    z.looseObject({ id: z.string(), title: z.string(), issues: z.array(z.number()) }),
  ),
  modes: z.array(
    z.looseObject({
      mode: z.string(),
      kernel: z.string(),
      where: z.string(),
      status: z.enum(['ran', 'skipped']),
      reason: z.string().optional(),
      events: z.array(eventResultSchema),
      failures: z.array(z.looseObject({ event: z.string(), error: z.string() })),
      skippedEvents: z.array(z.looseObject({ event: z.string(), reason: z.string() })).optional(),
      knownBugs: z.array(
        z.looseObject({
          id: z.string(),
          status: z.string(),
          summary: z.string(),
          evidence: z.array(z.string()),
        }),
      ),
      labUpMs: z.array(z.number()),
      durationMs: z.number(),
    }),
  ),
});
