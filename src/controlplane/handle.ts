import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LabError, scaledDeadline } from '../exec/index.js';
import type { Topology } from '../model/types.js';
import { computeProxyState } from '../cluster/endpoints.js';
import type { SyncResult } from '../proxy/types.js';
import { kubeletRequest } from '../kubelet/control.js';
import { KUBE_PROXY_METRICS_PORT } from '../kubelet/kube-proxy.js';
import { ApiClient } from './api-client.js';
import type { ComponentRecord } from './components.js';
import { controlPlaneFiles, APISERVER_PORT, type ControlPlaneFiles } from './layout.js';
import { proxyStateFromApi, proxyStateKey, serviceKeys } from './objects.js';
import { pkiPaths } from './pki.js';

/** What a lab's state records about its control plane (state.extra.controlPlane). */
export interface ControlPlaneRecord {
  ip: string;
  netns: string;
  version: string;
  binSource: 'user' | 'cache';
  binDir: string;
  components: ComponentRecord[];
  /** The real kube-proxy runs on every node, or on `nodes` (supervised by the lab kubelet). */
  kubeProxy?:
    | {
        mode: string;
        binary: string;
        command?: string | undefined;
        /** The nodes it runs on, when not every node. */
        nodes?: string[] | undefined;
      }
    | undefined;
}

/**
 * A handle on a running lab's control plane from outside it (CLI, tests): the API through the
 * lab kubelet's socket, and the kubelet's control channel.
 */
export class ControlPlane {
  readonly files: ControlPlaneFiles;
  private client: ApiClient | undefined;

  constructor(
    readonly lab: string,
    readonly record: ControlPlaneRecord,
  ) {
    this.files = controlPlaneFiles(lab);
  }

  get server(): string {
    return `https://${this.record.ip}:${APISERVER_PORT}`;
  }

  api(): ApiClient {
    if (!this.client) {
      const pki = pkiPaths(this.files.pki);
      const admin = pki.client('admin');
      this.client = new ApiClient({
        server: this.server,
        socketPath: this.files.apiserverSocket,
        caFile: pki.caCert,
        certFile: admin.cert,
        keyFile: admin.key,
      });
    }
    return this.client;
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
  }

  kubelet<T = unknown>(
    op: string,
    args: Record<string, unknown> = {},
    timeoutMs?: number,
  ): Promise<T> {
    return kubeletRequest<T>(this.files.kubeletSocket, { op: op as never, ...args }, timeoutMs);
  }

  /** The proxy state the API holds for the topology's Services (what a proxy would program). */
  async apiStateKey(topo: Topology): Promise<string> {
    const [services, slices] = await Promise.all([
      this.api().list('/api/v1/services'),
      this.api().list('/apis/discovery.k8s.io/v1/endpointslices'),
    ]);
    return proxyStateKey(proxyStateFromApi(services.items, slices.items), serviceKeys(topo));
  }

  /**
   * Waits until the API's Services and the controller's EndpointSlices say what the topology
   * says (every endpoint with its conditions), asking the lab kubelet to probe readiness first.
   */
  async waitForTopology(topo: Topology, timeoutMs = scaledDeadline(60_000)): Promise<void> {
    const want = proxyStateKey(computeProxyState(topo), serviceKeys(topo));
    const deadline = Date.now() + timeoutMs;
    await this.kubelet('probe-now');
    let got = '';
    for (;;) {
      got = await this.apiStateKey(topo);
      if (got === want) return;
      if (Date.now() > deadline) break;
      await sleep(50);
    }
    throw new LabError(
      `the API did not reach the lab's state in ${timeoutMs / 1000} s:\n${firstDifference(want, got)}`,
    );
  }

  sync(full: boolean): Promise<SyncResult[]> {
    return this.kubelet<SyncResult[]>('sync', { full });
  }

  restartProxies(): Promise<SyncResult[]> {
    return this.kubelet<SyncResult[]>('restart-proxies');
  }

  /**
   * What the real kube-proxy of one node says about itself, for dumps: its log, its metrics (read
   * by the lab kubelet, which reaches the node IP; nothing of the lab listens in the root
   * namespace) and the configuration svclab wrote for it. Undefined without the real kube-proxy.
   */
  async kubeProxyDump(
    node: string,
    nodeIP: string,
  ): Promise<{ log: string; metrics: string; config: string } | undefined> {
    const kp = this.record.kubeProxy;
    if (!kp || (kp.nodes && !kp.nodes.includes(node))) return undefined;
    const read = (file: string) =>
      readFile(file, 'utf8').catch((err: Error) => `(unreadable ${file}: ${err.message})`);
    const metrics = await this.kubelet<{ status: number; body: string }>('http-get', {
      url: `http://${nodeIP}:${KUBE_PROXY_METRICS_PORT}/metrics`,
      limit: 8 * 1024 * 1024,
    }).catch((err: Error) => ({ status: 0, body: err.message }));
    return {
      log: await read(this.files.log(`kube-proxy-${node}`)),
      metrics:
        metrics.status === 200
          ? metrics.body
          : `(metrics unavailable: status ${metrics.status}: ${metrics.body.slice(0, 300)})`,
      config: await read(join(this.files.kubeProxyDir, `${node}.yaml`)),
    };
  }
}

function firstDifference(want: string, got: string): string {
  const w = JSON.parse(want) as { name: string; port: { protocol: string } }[];
  const g = JSON.parse(got) as typeof w;
  for (const x of w) {
    const y = g.find((p) => p.name === x.name && p.port.protocol === x.port.protocol);
    if (JSON.stringify(x) !== JSON.stringify(y))
      return `  want ${JSON.stringify(x)}\n  got  ${y ? JSON.stringify(y) : '(missing)'}`;
  }
  return `  got extra: ${got.slice(0, 500)}`;
}

export function controlPlaneOf(
  lab: string,
  extra: Record<string, unknown> | undefined,
): ControlPlane | undefined {
  const rec = extra?.['controlPlane'] as ControlPlaneRecord | undefined;
  return rec ? new ControlPlane(lab, rec) : undefined;
}
