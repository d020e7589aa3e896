import { describe, expect, it } from 'vitest';
import type { Attempt } from './protocol.js';
import { percentile, summarizeAttempts } from './summary.js';

const ok = (backend: string, sourceIP: string, latencyMs: number): Attempt => ({
  ok: true,
  backend,
  sourceIP,
  sourcePort: 40000,
  latencyMs,
  startedAtMs: 0,
});
const failed = (failure: Attempt['failure'], latencyMs = 1): Attempt => ({
  ok: false,
  failure,
  latencyMs,
  startedAtMs: 0,
});

describe('summarizeAttempts', () => {
  it('counts backends, source IPs and failures, with latency over successes only', () => {
    const attempts = [
      ok('web-a', '10.244.1.5', 1),
      ok('web-b', '10.244.1.5', 2),
      ok('web-a', '10.0.0.2', 3),
      failed('refused', 500),
      failed('timeout', 2000),
      failed('timeout', 2000),
      { ok: false, latencyMs: 1, startedAtMs: 0 },
    ];
    expect(summarizeAttempts(attempts)).toEqual({
      total: 7,
      ok: 3,
      failures: { refused: 1, timeout: 2, error: 1 },
      backends: { 'web-a': 2, 'web-b': 1 },
      sourceIPs: { '10.244.1.5': 2, '10.0.0.2': 1 },
      latency: { p50: 2, p99: 3 },
    });
  });

  it('reports zero latency when nothing answered', () => {
    expect(summarizeAttempts([failed('reset')]).latency).toEqual({ p50: 0, p99: 0 });
    expect(summarizeAttempts([])).toMatchObject({ total: 0, ok: 0, failures: {} });
  });
});

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  it.each([
    [[], 50, 0],
    [[7], 99, 7],
    [hundred, 50, 50],
    [hundred, 99, 99],
    [hundred, 100, 100],
    [[1, 2], 50, 1],
  ])('percentile(%j, %i) = %i', (sorted, p, want) => {
    expect(percentile(sorted, p)).toBe(want);
  });
});
