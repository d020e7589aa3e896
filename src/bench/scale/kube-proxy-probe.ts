import { readFile, readlink } from 'node:fs/promises';
import { basename } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { ControlPlane } from '../../controlplane/handle.js';
import { LabError } from '../../exec/index.js';
import {
  KUBE_PROXY_METRICS_PORT,
  metricValue,
  parseSyncMetrics,
  type SyncMetrics,
} from '../../kubelet/kube-proxy.js';

/**
 * What the bench reads from kube-proxy's own metrics (pkg/proxy/metrics/metrics.go): the sync
 * duration histogram and the network programming SLI, as sums and counts (their buckets are
 * too coarse for single changes: 1 ms×2^k, and 0.25 s upwards), plus the sync fences.
 */
export interface BenchMetrics extends SyncMetrics {
  syncCount: number;
  syncSumSeconds: number;
  programmingCount: number;
  programmingSumSeconds: number;
}

export function parseBenchMetrics(text: string): BenchMetrics {
  const sum = (name: string) => metricValue(text, name, 'sum');
  return {
    ...parseSyncMetrics(text),
    syncCount: sum('kubeproxy_sync_proxy_rules_duration_seconds_count'),
    syncSumSeconds: sum('kubeproxy_sync_proxy_rules_duration_seconds_sum'),
    programmingCount: sum('kubeproxy_network_programming_duration_seconds_count'),
    programmingSumSeconds: sum('kubeproxy_network_programming_duration_seconds_sum'),
  };
}

/**
 * kube-proxy's metrics, fetched by the lab kubelet (it reaches the node's address; nothing of
 * the lab listens in the host's namespace). Undefined while kube-proxy does not answer.
 */
export async function readBenchMetrics(
  cp: ControlPlane,
  nodeIP: string,
): Promise<BenchMetrics | undefined> {
  const r = await cp.kubelet<{ status: number; body: string }>('http-get', {
    url: `http://${nodeIP}:${KUBE_PROXY_METRICS_PORT}/metrics`,
    limit: 8 * 1024 * 1024,
  });
  return r.status === 200 ? parseBenchMetrics(r.body) : undefined;
}

/** kube-proxy's own memory and CPU, from /proc (the bench runs in the same PID namespace). */
export interface ProcessUsage {
  rssKiB: number;
  /** Peak RSS since start (VmHWM). */
  hwmKiB: number;
  /** user+sys of kube-proxy and of the children it waited for (iptables-restore, nft, ipset). */
  cpuMs: number;
  userMs: number;
  sysMs: number;
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return clockTicks;
}

export function parseProcessUsage(status: string, stat: string, ticks: number): ProcessUsage {
  const kib = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!m) throw new LabError(`/proc status has no ${field}`);
    return Number(m[1]);
  };
  // Fields after the command name (which may hold spaces and parentheses): state is field 3,
  // utime 14, stime 15, cutime 16, cstime 17 (proc(5)).
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const t = (n: number) => Number(f[n - 3]);
  const userMs = ((t(14) + t(16)) * 1000) / ticks;
  const sysMs = ((t(15) + t(17)) * 1000) / ticks;
  return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM'), cpuMs: userMs + sysMs, userMs, sysMs };
}

export async function readProcessUsage(pid: number): Promise<ProcessUsage> {
  const [status, stat] = await Promise.all([
    readFile(`/proc/${pid}/status`, 'utf8'),
    readFile(`/proc/${pid}/stat`, 'utf8'),
  ]);
  return parseProcessUsage(status, stat, ticksPerSecond());
}

/** The PID of the kube-proxy the lab kubelet runs on `node`. */
export async function kubeProxyPid(cp: ControlPlane, node: string): Promise<number> {
  const st = await cp.kubelet<{ kubeProxy: { node: string; pid?: number; exit?: unknown }[] }>(
    'status',
  );
  const p = st.kubeProxy.find((k) => k.node === node);
  if (!p?.pid || p.exit) throw new LabError(`kube-proxy is not running on ${node}`);
  // `ip netns exec` execs its command in place, so the supervised PID is kube-proxy itself; a
  // wrapper (--proxy-command) would make these figures a shell's.
  const exe = await readlink(`/proc/${p.pid}/exe`);
  if (basename(exe) !== 'kube-proxy')
    throw new LabError(`PID ${p.pid} on ${node} is ${exe}, not kube-proxy`);
  return p.pid;
}
