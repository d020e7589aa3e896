import type { Lab } from '../../cluster/lab.js';
import { LabError } from '../../exec/index.js';
import { stats, type Stats } from '../stats.js';
import { BENCH_CLIENT } from './lab.js';
import { IPERF_PORT } from './state.js';

/** A Service VIP the data path is measured against, and where it sits in lookup order. */
export interface ProbeTarget {
  position: 'first' | 'last';
  service: string;
  clusterIP: string;
}

export interface DataPathResult {
  position: 'first' | 'last';
  service: string;
  /** New-connection latency: TCP connect + one HTTP request/response, per connection (ms). */
  connectMs: Stats;
  failures: number;
  /** iperf3 bulk TCP throughput, receiver side (Gbit/s); null when iperf3 failed. */
  throughputGbps: number | null;
  iperfError?: string | undefined;
}

export interface DataPathOptions {
  connections: number;
  iperfSeconds: number;
}

/**
 * Measures one VIP from the client pod: `connections` sequential new connections through the
 * agent (no process spawn per connection, so the number is the dataplane's plus the agent's
 * constant cost), then one bounded iperf3 run to the iperf port. Only the first packet of a
 * connection traverses the nat table (conntrack remembers the DNAT), so rule-count effects show
 * in connection latency far more than in throughput.
 */
export async function measureDataPath(
  lab: Lab,
  target: ProbeTarget,
  o: DataPathOptions,
): Promise<DataPathResult> {
  const agent = await lab.agent(BENCH_CLIENT);
  const probe = await agent.probe(
    {
      host: target.clusterIP,
      port: 80,
      protocol: 'tcp',
      count: o.connections,
      concurrency: 1,
      timeoutMs: 3000,
    },
    { timeoutMs: o.connections * 3000 + 10_000 },
  );
  const ok = probe.attempts.filter((a) => a.ok);
  const iperf = await lab.exec(
    BENCH_CLIENT,
    [
      'iperf3',
      '-c',
      target.clusterIP,
      '-p',
      String(IPERF_PORT),
      '-t',
      String(o.iperfSeconds),
      '-J',
      '--connect-timeout',
      '3000',
    ],
    { allowFailure: true, timeoutMs: (o.iperfSeconds + 15) * 1000 },
  );
  const parsed = parseIperf(iperf.stdout);
  return {
    position: target.position,
    service: target.service,
    connectMs: stats(ok.map((a) => a.latencyMs)),
    failures: probe.attempts.length - ok.length,
    throughputGbps: parsed.gbps,
    iperfError:
      parsed.error ??
      (iperf.ok ? undefined : iperf.stderr.trim().slice(0, 200) || `exit ${iperf.exitCode}`),
  };
}

/** Receiver-side throughput from `iperf3 -J` output. */
export function parseIperf(json: string): { gbps: number | null; error?: string } {
  let doc: { error?: string; end?: { sum_received?: { bits_per_second?: number } } };
  try {
    doc = JSON.parse(json) as typeof doc;
  } catch {
    return { gbps: null, error: 'iperf3 printed no JSON' };
  }
  if (doc.error) return { gbps: null, error: doc.error };
  const bps = doc.end?.sum_received?.bits_per_second;
  return typeof bps === 'number'
    ? { gbps: bps / 1e9 }
    : { gbps: null, error: 'no end.sum_received in iperf3 JSON' };
}

/** Fails loudly when a VIP does not answer at all: numbers from a broken path would mislead. */
export function assertReachable(r: DataPathResult, mode: string, services: number): void {
  if (r.connectMs.n === 0)
    throw new LabError(
      `${mode} at ${services} Services: no connection to the ${r.position} Service ${r.service} succeeded`,
    );
}
