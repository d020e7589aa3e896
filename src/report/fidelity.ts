import * as z from 'zod';

/**
 * What `svclab report` reads from a fidelity report (issue 15 part 2: svclab's planners against
 * the real kube-proxy on the same state), kept to what the page shows: one result per mode,
 * source (a topology file or a generated set) and Service port (or `(constant chains)`), either
 * identical or with the first differing lines, and differences listed as deliberate carry the
 * reason. `svclab fidelity` writes this shape (src/fidelity/report.ts) with more fields, which
 * the page ignores.
 */
export const FIDELITY_STATUSES = ['identical', 'declared', 'different'] as const;

export const fidelityReportSchema = z.looseObject({
  kind: z.literal('FidelityReport'),
  generatedAt: z.string(),
  /** The kube-proxy the planners were compared with, e.g. v1.37.2. */
  kubeVersion: z.string(),
  results: z.array(
    z.looseObject({
      /** iptables, nftables or ipvs. */
      mode: z.string(),
      /** A topology file, or a generated set (`random seed 7 #12`). */
      source: z.string(),
      /** `namespace/name:port/protocol`. */
      servicePort: z.string(),
      status: z.enum(FIDELITY_STATUSES),
      /** `declared`: why the difference is deliberate (the table in docs/fidelity). */
      reason: z.string().optional(),
      /** `declared` / `different`: the first differing lines, kube-proxy's and svclab's. */
      firstDifference: z.array(z.string()).optional(),
    }),
  ),
});

export type FidelityReport = z.infer<typeof fidelityReportSchema>;
export type FidelityResult = FidelityReport['results'][number];
