import { spawn, type ChildProcess } from 'node:child_process';
import { stringify } from 'yaml';
import type { Lab } from '../../cluster/lab.js';
import { LabError, run } from '../../exec/index.js';
import { parseTopology } from '../../model/index.js';
import { netnsName } from '../../netns/names.js';
import { NetnsProvider } from '../../netns/provider.js';
import type { NodeContext } from '../../proxy/types.js';
import type { KubeProxyMode } from '../../kubelet/kube-proxy.js';
import { FIRST_NODE_PORT, HTTP_TARGET_PORT, IPERF_PORT, type ScaleBackend } from './state.js';

export const BENCH_NODE = 'node';
export const BENCH_CLIENT = 'client';

/**
 * The data-path half of the bench: one node (whose namespace the proxy under test programs), a
 * client pod and a few backend pods behind it, all real namespaces with the svclab agent. The
 * N Services of the scale state all point at these backends. The node gets a /12 service CIDR
 * so 50,000 ClusterIPs fit.
 */
export function benchTopologyYaml(name: string, backends: number): string {
  return stringify({
    apiVersion: 'svclab.dev/v1alpha1',
    kind: 'Topology',
    metadata: { name },
    spec: {
      networking: { serviceSubnet: '10.96.0.0/12' },
      nodes: [{ name: BENCH_NODE }],
      pods: [
        { name: BENCH_CLIENT, node: BENCH_NODE, labels: { app: 'scale-client' } },
        ...Array.from({ length: backends }, (_, i) => ({
          name: `backend-${i}`,
          node: BENCH_NODE,
          labels: { app: 'scale-backend' },
          ports: [{ name: 'http', containerPort: HTTP_TARGET_PORT, protocol: 'TCP' }],
        })),
      ],
    },
  });
}

export interface BenchLab {
  lab: Lab;
  backends: ScaleBackend[];
  /** A fresh view of the node for a new proxy instance (each mode starts from an empty node). */
  nodeContext(): NodeContext;
  /** Starts iperf3 servers in the first backend (the iperf Service port's only endpoint). */
  startIperf(): Promise<void>;
  close(): Promise<void>;
}

/** Lab names end up in namespace names (`svclab.<lab>.pod.backend-0`); keep them short and unique. */
export function benchLabName(): string {
  return `bench-scale-${process.pid % 100_000}`;
}

/** The real kube-proxy on the bench node, with the lab's control plane. */
export interface BenchKubeProxy {
  mode: KubeProxyMode;
  version: string;
}

/** As kube-apiserver --service-node-port-range: room for one NodePort in ten at 60,000 Services. */
export const BENCH_NODE_PORT_RANGE = { min: FIRST_NODE_PORT, max: FIRST_NODE_PORT + 9999 };

export async function upBenchLab(opts: {
  backends: number;
  name?: string;
  kubeProxy?: BenchKubeProxy | undefined;
}): Promise<BenchLab> {
  const name = opts.name ?? benchLabName();
  const topo = parseTopology(benchTopologyYaml(name, opts.backends), { file: 'bench-scale' });
  // proxy 'none': the bench creates and drives svclab's proxy itself, with a timed NodeContext;
  // or the lab kubelet runs kube-proxy, which the bench drives through the API.
  const lab = await new NetnsProvider().up(topo, {
    name,
    proxy: 'none',
    progress: 'silent',
    ephemeral: true,
    ...(opts.kubeProxy
      ? {
          controlPlane: true,
          kube: { version: opts.kubeProxy.version },
          // No periodic resync while a change is timed: every sync the bench sees is one it caused.
          kubeProxy: { mode: opts.kubeProxy.mode, syncPeriod: '1h' },
          nodePortRange: BENCH_NODE_PORT_RANGE,
        }
      : {}),
  });
  const backends = lab.topology.pods
    .filter((p) => p.name.startsWith('backend-'))
    .map((p) => ({ podName: p.name, ip: p.ip, nodeName: p.node }));
  let iperf: ChildProcess | undefined;
  return {
    lab,
    backends,
    nodeContext: () => lab.backend.nodeContext(BENCH_NODE),
    async startIperf() {
      if (iperf) return;
      const netns = netnsName(name, 'pod', backends[0]!.podName);
      // A long-lived server, so not through run(): it is killed by pid in close(), and the
      // namespace's teardown kills it too if we crash.
      iperf = spawn('ip', ['netns', 'exec', netns, 'iperf3', '-s', '-p', String(IPERF_PORT)], {
        stdio: 'ignore',
      });
      await waitForListen(netns, IPERF_PORT, 5000);
    },
    async close() {
      if (iperf?.pid !== undefined && iperf.exitCode === null) iperf.kill('SIGTERM');
      const report = await lab.down();
      if (report.errors.length > 0)
        throw new LabError(`teardown of bench lab ${name} failed: ${report.errors.join('; ')}`);
    },
  };
}

/** Waits until something listens on TCP `port` in `netns` (ss), or fails at the deadline. */
async function waitForListen(netns: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await run('ss', ['-Htln', `sport = :${port}`], { netns, allowFailure: true });
    if (r.ok && r.stdout.trim() !== '') return;
    if (Date.now() > deadline)
      throw new LabError(`iperf3 -s did not listen on :${port} in ${netns} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
