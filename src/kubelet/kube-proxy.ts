import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { expandProxyCommand, type ProxyCommandPlaceholder } from './proxy-command.js';

/**
 * The real kube-proxy on every node, supervised by the lab kubelet: one process per node
 * namespace, each with its own KubeProxyConfiguration written by svclab. The settings that keep
 * it inside its namespace (../shared research, cmd/kube-proxy/app/server_linux.go): conntrack
 * maxPerCore 0 (otherwise it writes the host-global nf_conntrack_max and hashsize), the per-netns
 * conntrack timeouts left alone (0s), oomScoreAdj 0, and hostnameOverride, because `ip netns
 * exec` keeps the host's UTS namespace.
 */
const execFileP = promisify(execFile);

export type KubeProxyMode = 'iptables' | 'nftables' | 'ipvs';

export interface KubeProxySpec {
  mode: KubeProxyMode;
  binary: string;
  /**
   * `--proxy-command`: a template run instead of `binary` (proxy-command.ts). The proxy must serve
   * kube-proxy's sync metrics on {metricsAddress}: the lab waits on them as for kube-proxy.
   */
  command?: string | undefined;
  kubeconfig: string;
  clusterCIDR: string;
  /** Folder for the per-node configuration files. */
  dir: string;
  logDir: string;
  /**
   * kube-proxy's periodic resync (default 30s). The scale bench sets it long, so no periodic sync
   * runs while it times one change (pkg/proxy/runner: the periodic sync is the runner's maxInterval).
   */
  syncPeriod?: string | undefined;
}

export interface KubeProxyNode {
  name: string;
  ip: string;
  netns: string;
}

export const KUBE_PROXY_METRICS_PORT = 10249;
export const KUBE_PROXY_HEALTHZ_PORT = 10256;

export const MIN_SYNC_PERIOD = '1ms';

export function kubeProxyConfiguration(spec: KubeProxySpec, node: KubeProxyNode): unknown {
  const syncPeriod = spec.syncPeriod ?? '30s';
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: spec.kubeconfig, qps: 50, burst: 100 },
    hostnameOverride: node.name,
    bindAddress: node.ip,
    healthzBindAddress: `${node.ip}:${KUBE_PROXY_HEALTHZ_PORT}`,
    metricsBindAddress: `${node.ip}:${KUBE_PROXY_METRICS_PORT}`,
    bindAddressHardFail: true,
    mode: spec.mode,
    detectLocalMode: 'ClusterCIDR',
    clusterCIDR: spec.clusterCIDR,
    oomScoreAdj: 0,
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    // A lab waits for every change; kube-proxy's default minimum of 1 s between syncs would add up
    // to a second to each one (and to each of the sync wait's fences). Not 0s: the v1alpha1
    // defaulting turns a zero iptables/nftables minSyncPeriod into 1s
    // (pkg/proxy/apis/config/v1alpha1/defaults.go), so 1ms is the smallest value that sticks.
    iptables: { syncPeriod, minSyncPeriod: MIN_SYNC_PERIOD, localhostNodePorts: false },
    nftables: { syncPeriod, minSyncPeriod: MIN_SYNC_PERIOD },
    ipvs: { syncPeriod, minSyncPeriod: MIN_SYNC_PERIOD, scheduler: 'rr' },
    configSyncPeriod: '15m',
  };
}

/** The kube-proxy metrics the lab waits on, summed over label sets (max for timestamps). */
export interface SyncMetrics {
  serviceChanges: number;
  endpointChanges: number;
  servicePending: number;
  endpointPending: number;
  lastSync: number;
  lastQueued: number;
}

/**
 * One metric of a Prometheus text page, summed over its label sets (or their max, for
 * timestamps); 0 when absent. A longer metric name that starts with `name` is not it.
 */
export function metricValue(text: string, name: string, agg: 'sum' | 'max'): number {
  let v = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    let rest = line.slice(name.length);
    if (rest.startsWith('{')) rest = rest.slice(rest.lastIndexOf('}') + 1);
    else if (!rest.startsWith(' ')) continue; // a longer metric name with this prefix
    const x = Number(rest.trim().split(/\s+/)[0]);
    if (!Number.isFinite(x)) continue;
    v = agg === 'sum' ? v + x : Math.max(v, x);
  }
  return v;
}

export function parseSyncMetrics(text: string): SyncMetrics {
  const val = (name: string, agg: 'sum' | 'max') => metricValue(text, name, agg);
  return {
    serviceChanges: val('kubeproxy_sync_proxy_rules_service_changes_total', 'sum'),
    endpointChanges: val('kubeproxy_sync_proxy_rules_endpoint_changes_total', 'sum'),
    servicePending: val('kubeproxy_sync_proxy_rules_service_changes_pending', 'sum'),
    endpointPending: val('kubeproxy_sync_proxy_rules_endpoint_changes_pending', 'sum'),
    lastSync: val('kubeproxy_sync_proxy_rules_last_timestamp_seconds', 'max'),
    lastQueued: val('kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds', 'max'),
  };
}

export interface RunningKubeProxy {
  node: KubeProxyNode;
  child: ChildProcess;
  log: string;
  startedAt: number;
  exit?: { code: number | null; signal: string | null; tail: string } | undefined;
}

export async function startKubeProxy(
  spec: KubeProxySpec,
  node: KubeProxyNode,
  log: (line: string) => void,
): Promise<RunningKubeProxy> {
  await mkdir(spec.dir, { recursive: true });
  // The lab is IPv4-only. kube-proxy runs a second, IPv6 proxier wherever the kernel has IPv6
  // enabled (cmd/kube-proxy/app/server_linux.go platformCheckSupported reads
  // net.ipv6.conf.all.disable_ipv6), and both proxiers share the *_changes_pending gauges: one
  // family's checkout zeroes them while the other has not synced, which breaks the fenced wait
  // below. Disabling IPv6 in the node's own namespace (a per-namespace sysctl) makes kube-proxy
  // single-stack, as on an IPv4-only node.
  await execFileP('ip', [
    'netns',
    'exec',
    node.netns,
    'sysctl',
    '-qw',
    'net.ipv6.conf.all.disable_ipv6=1',
  ]);
  const config = join(spec.dir, `${node.name}.yaml`);
  await writeFile(config, stringify(kubeProxyConfiguration(spec, node)));
  const logFile = join(spec.logDir, `kube-proxy-${node.name}.log`);
  const fd = openSync(logFile, 'a');
  const argv = spec.command
    ? ['/bin/sh', '-c', expandProxyCommand(spec.command, placeholderValues(spec, node, config))]
    : [spec.binary, `--config=${config}`, `--hostname-override=${node.name}`, '--v=2'];
  // Its own process group: stopping it stops a wrapper and whatever the wrapper started.
  const child = spawn('ip', ['netns', 'exec', node.netns, ...argv], {
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  closeSync(fd);
  const running: RunningKubeProxy = { node, child, log: logFile, startedAt: Date.now() };
  child.on('exit', (code, signal) => {
    let tail = '';
    try {
      tail = readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      // no log
    }
    running.exit = { code, signal, tail };
    log(
      `kube-proxy on ${node.name} exited (code ${code}, signal ${signal}); log ${logFile}:\n${tail}`,
    );
  });
  return running;
}

export async function stopKubeProxy(p: RunningKubeProxy, graceMs = 5000): Promise<void> {
  if (p.exit) return;
  const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
  signalGroup(p, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (!p.exit && Date.now() < deadline) await Promise.race([exited, sleep(50)]);
  if (!p.exit) {
    signalGroup(p, 'SIGKILL');
    await exited;
  }
  // A wrapper's children may outlive it: the group goes as a whole.
  signalGroup(p, 'SIGKILL');
}

function signalGroup(p: RunningKubeProxy, signal: NodeJS.Signals): void {
  try {
    if (p.child.pid) process.kill(-p.child.pid, signal);
  } catch {
    // the group is gone
  }
}

function placeholderValues(
  spec: KubeProxySpec,
  node: KubeProxyNode,
  config: string,
): Record<ProxyCommandPlaceholder, string> {
  return {
    kubeconfig: spec.kubeconfig,
    node: node.name,
    nodeIP: node.ip,
    netns: node.netns,
    clusterCIDR: spec.clusterCIDR,
    mode: spec.mode,
    config,
    metricsAddress: `${node.ip}:${KUBE_PROXY_METRICS_PORT}`,
    healthzAddress: `${node.ip}:${KUBE_PROXY_HEALTHZ_PORT}`,
  };
}

export async function readSyncMetrics(node: KubeProxyNode): Promise<SyncMetrics | undefined> {
  try {
    const r = await fetch(`http://${node.ip}:${KUBE_PROXY_METRICS_PORT}/metrics`, {
      signal: AbortSignal.timeout(3000),
    });
    if (r.status !== 200) return undefined;
    return parseSyncMetrics(await r.text());
  } catch {
    return undefined;
  }
}
