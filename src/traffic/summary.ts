import type { Attempt, FailureKind } from './protocol.js';

export interface AttemptSummary {
  total: number;
  ok: number;
  /** Failed attempts by kind; kinds that did not occur are absent. */
  failures: Partial<Record<FailureKind, number>>;
  /** Answers per backend, for successful attempts. */
  backends: Record<string, number>;
  /** Answers per source IP seen by the backend, for successful attempts that reported one. */
  sourceIPs: Record<string, number>;
  /** Latency of successful attempts (nearest-rank percentiles); 0 when none succeeded. */
  latency: { p50: number; p99: number };
}

/** Nearest-rank percentile of an ascending list; 0 for an empty one. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function summarizeAttempts(attempts: readonly Attempt[]): AttemptSummary {
  const summary: AttemptSummary = {
    total: attempts.length,
    ok: 0,
    failures: {},
    backends: {},
    sourceIPs: {},
    latency: { p50: 0, p99: 0 },
  };
  const latencies: number[] = [];
  for (const a of attempts) {
    if (!a.ok) {
      const kind = a.failure ?? 'error';
      summary.failures[kind] = (summary.failures[kind] ?? 0) + 1;
      continue;
    }
    summary.ok++;
    latencies.push(a.latencyMs);
    if (a.backend !== undefined)
      summary.backends[a.backend] = (summary.backends[a.backend] ?? 0) + 1;
    if (a.sourceIP !== undefined)
      summary.sourceIPs[a.sourceIP] = (summary.sourceIPs[a.sourceIP] ?? 0) + 1;
  }
  latencies.sort((x, y) => x - y);
  summary.latency = { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  return summary;
}
