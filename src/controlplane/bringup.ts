import { scaledDeadline } from '../exec/index.js';
import { validateProxyCommand } from '../kubelet/proxy-command.js';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LabError, mapLimit } from '../exec/index.js';
import type { Topology } from '../model/types.js';
import { NODE_PORT_RANGE } from '../model/defaults.js';
import type { Phase } from '../cluster/phases.js';
import type { UpOptions } from '../cluster/provider.js';
import { isExecutableFile } from '../kube/cache.js';
import { UsageError } from '../cli/errors.js';
import { labDir } from '../cluster/state.js';
import { resolve as resolvePath } from 'node:path';
import type { LabState } from '../cluster/state.js';
import { packageDir } from '../cluster/common/agents.js';
import { netnsName } from '../netns/names.js';
import { resolveKubeBinaries, type KubeBinariesOptions } from '../kube/binaries.js';
import type { KubeletConfig } from '../kubelet/config.js';
import { ApiStatusError, type KubeObject } from './api-client.js';
import {
  apiserverArgs,
  controllerManagerArgs,
  etcdArgs,
  startInNetns,
  type ComponentRecord,
  type ControlPlaneConfig,
} from './components.js';
import { ControlPlane, type ControlPlaneRecord } from './handle.js';
import { writeKubeconfig } from './kubeconfig.js';
import {
  APISERVER_PORT,
  CONTROLLER_MANAGER_PORT,
  ETCD_CLIENT_PORT,
  controlPlaneFiles,
  controlPlaneIP,
  kubernetesServiceIP,
  type ControlPlaneUser,
} from './layout.js';
import {
  loadBalancerStatus,
  nodeObject,
  nodeStatus,
  podObject,
  serviceFromApi,
  withApiAllocations,
  serviceObject,
} from './objects.js';
import { CLIENTS, createPki, pkiPaths } from './pki.js';

export interface ControlPlaneContext {
  lab: string;
  state: LabState;
  saveState: () => Promise<void>;
  topology: () => Topology;
  /** Replaces the lab's topology with what the API server allocated (ClusterIPs, NodePorts). */
  adoptTopology: (t: Topology) => Promise<void>;
  kube: KubeBinariesOptions;
  kubeProxy?: UpOptions['kubeProxy'];
  nodePortRange?: UpOptions['nodePortRange'];
}

/** How long a component may take to answer its health endpoint before the lab fails. */
const HEALTH_TIMEOUT_MS = scaledDeadline(60_000);

/**
 * The phases that give a lab its control plane, after namespaces and agents exist: binaries,
 * certificates, etcd, kube-apiserver, kube-controller-manager, then the topology registered as
 * API objects, and the wait until the controller's EndpointSlices say what the topology says.
 * Every process is recorded in the state as soon as it is started, so a crash at any point
 * leaves nothing a sweep cannot find (they also all live in the control-plane namespace).
 */
export function controlPlanePhases(ctx: ControlPlaneContext): Phase[] {
  const files = controlPlaneFiles(ctx.lab);
  const netns = netnsName(ctx.lab, 'control-plane');
  const topo = ctx.topology();
  const ip = controlPlaneIP(topo);
  const cfg: ControlPlaneConfig = {
    lab: ctx.lab,
    ip,
    serviceCIDR: topo.networking.serviceSubnet,
    nodePortRange: (({ min, max }) => `${min}-${max}`)(ctx.nodePortRange ?? NODE_PORT_RANGE),
    files,
  };
  const record: ControlPlaneRecord = {
    ip,
    netns,
    version: '',
    binSource: 'cache',
    binDir: '',
    components: [],
  };
  const cp = new ControlPlane(ctx.lab, record);
  let bins: Awaited<ReturnType<typeof resolveKubeBinaries>>;
  let kubeProxyBinary = '';
  const started = async (r: ComponentRecord) => {
    record.components.push(r);
    ctx.state.extra = { ...ctx.state.extra, controlPlane: record };
    await ctx.saveState();
  };
  const health = async (what: string, url: string, log: string, pid: number) => {
    const deadline = Date.now() + HEALTH_TIMEOUT_MS;
    let last = '';
    for (;;) {
      const r = await cp
        .kubelet<{ status: number; body: string }>('http-get', { url }, 10_000)
        .catch((err: Error) => ({ status: 0, body: err.message }));
      if (r.status === 200) return;
      last = `${r.status} ${r.body.trim().slice(-300)}`;
      if (!alive(pid)) throw new LabError(`${what} exited during start-up (log: ${log})`);
      if (Date.now() > deadline)
        throw new LabError(
          `${what} not healthy in ${HEALTH_TIMEOUT_MS / 1000} s: ${last} (log: ${log})`,
        );
      await sleep(50);
    }
  };

  return [
    {
      title: 'control plane: binaries',
      run: async () => {
        if (ctx.kubeProxy) kubeProxyNodes(topo, ctx.kubeProxy.nodes);
        const wantProxy = ctx.kubeProxy && !ctx.kubeProxy.binary && !ctx.kubeProxy.command;
        bins = await resolveKubeBinaries(
          [
            'etcd',
            'kube-apiserver',
            'kube-controller-manager',
            'kubectl',
            ...(wantProxy ? (['kube-proxy'] as const) : []),
          ],
          ctx.kube,
        );
        if (ctx.kubeProxy?.command) {
          validateProxyCommand(ctx.kubeProxy.command);
          record.kubeProxy = {
            mode: ctx.kubeProxy.mode,
            binary: '',
            command: ctx.kubeProxy.command,
            ...(ctx.kubeProxy.nodes ? { nodes: [...ctx.kubeProxy.nodes] } : {}),
          };
        } else if (ctx.kubeProxy) {
          kubeProxyBinary = ctx.kubeProxy.binary
            ? resolvePath(ctx.kubeProxy.binary)
            : bins.path('kube-proxy');
          if (!isExecutableFile(kubeProxyBinary))
            throw new UsageError(
              `--kube-proxy-binary: Invalid value: ${JSON.stringify(kubeProxyBinary)}: not an executable file`,
            );
          record.kubeProxy = {
            mode: ctx.kubeProxy.mode,
            binary: kubeProxyBinary,
            ...(ctx.kubeProxy.nodes ? { nodes: [...ctx.kubeProxy.nodes] } : {}),
          };
        }
        record.version = bins.version;
        record.binSource = bins.source;
        record.binDir = bins.dir;
        return `${bins.version} from ${bins.dir}`;
      },
    },
    {
      title: 'control plane: certificates and the lab kubelet',
      run: async () => {
        await mkdir(files.dir, { recursive: true });
        await createPki({
          lab: ctx.lab,
          dir: files.pki,
          serverSANs: {
            dns: [
              'kubernetes',
              'kubernetes.default',
              'kubernetes.default.svc',
              'kubernetes.default.svc.cluster.local',
            ],
            ip: [ip, kubernetesServiceIP(topo)],
          },
        });
        const pki = pkiPaths(files.pki);
        const server = `https://${ip}:${APISERVER_PORT}`;
        await Promise.all(
          CLIENTS.map((c) =>
            writeKubeconfig(files.kubeconfig(c.file as ControlPlaneUser), {
              lab: ctx.lab,
              server,
              caFile: pki.caCert,
              certFile: pki.client(c.file).cert,
              keyFile: pki.client(c.file).key,
              user: c.commonName,
            }),
          ),
        );
        const kubelet = pki.client('svclab-kubelet');
        const config: KubeletConfig = {
          lab: ctx.lab,
          server,
          caFile: pki.caCert,
          certFile: kubelet.cert,
          keyFile: kubelet.key,
          apiserverSocket: files.apiserverSocket,
          controlSocket: files.kubeletSocket,
          probePeriodMs: 1000,
          kubeProxy: ctx.kubeProxy
            ? {
                mode: ctx.kubeProxy.mode,
                binary: kubeProxyBinary,
                command: ctx.kubeProxy.command,
                syncPeriod: ctx.kubeProxy.syncPeriod,
                kubeconfig: files.kubeconfig('kube-proxy'),
                clusterCIDR: topo.networking.podSubnet,
                dir: files.kubeProxyDir,
                logDir: join(labDir(ctx.lab), 'logs'),
                nodes: kubeProxyNodes(topo, ctx.kubeProxy.nodes).map((n) => ({
                  name: n.name,
                  ip: n.ip,
                  netns: netnsName(ctx.lab, 'node', n.name),
                })),
              }
            : undefined,
        };
        const configFile = join(files.dir, 'kubelet.json');
        await writeFile(configFile, JSON.stringify(config, null, 2));
        const log = files.log('svclab-kubelet');
        const rec = startInNetns(
          netns,
          'svclab-kubelet',
          [process.execPath, kubeletScript(), '--lab', ctx.lab, '--config', configFile],
          log,
        );
        await started(rec);
        const deadline = Date.now() + 30_000;
        for (;;) {
          if (
            await cp.kubelet('status', {}, 2000).then(
              () => true,
              () => false,
            )
          )
            break;
          if (!alive(rec.pid))
            throw new LabError(`the lab kubelet exited during start-up (log: ${log})`);
          if (Date.now() > deadline)
            throw new LabError(`the lab kubelet did not answer in 30 s (log: ${log})`);
          await sleep(20);
        }
        return `CA and ${CLIENTS.length + 1} certificates, kubelet pid ${rec.pid}`;
      },
    },
    {
      title: 'control plane: etcd',
      run: async () => {
        await mkdir(files.etcdData, { recursive: true, mode: 0o700 });
        const log = files.log('etcd');
        const rec = startInNetns(netns, 'etcd', [bins.path('etcd'), ...etcdArgs(cfg)], log);
        await started(rec);
        await health('etcd', `http://127.0.0.1:${ETCD_CLIENT_PORT}/health`, log, rec.pid);
        return `pid ${rec.pid}`;
      },
    },
    {
      title: 'control plane: kube-apiserver',
      run: async () => {
        const log = files.log('kube-apiserver');
        const rec = startInNetns(
          netns,
          'kube-apiserver',
          [bins.path('kube-apiserver'), ...apiserverArgs(cfg)],
          log,
        );
        await started(rec);
        await health('kube-apiserver', `https://${ip}:${APISERVER_PORT}/readyz`, log, rec.pid);
        return `pid ${rec.pid}, ${cp.server}`;
      },
    },
    {
      title: 'control plane: kube-controller-manager',
      run: async () => {
        const log = files.log('kube-controller-manager');
        const rec = startInNetns(
          netns,
          'kube-controller-manager',
          [bins.path('kube-controller-manager'), ...controllerManagerArgs(cfg)],
          log,
        );
        await started(rec);
        await health(
          'kube-controller-manager',
          `https://${ip}:${CONTROLLER_MANAGER_PORT}/healthz`,
          log,
          rec.pid,
        );
        return `pid ${rec.pid}`;
      },
    },
    {
      title: 'register Nodes, Pods and Services',
      run: async () => {
        const t = ctx.topology();
        const registered = await registerTopology(cp, ctx.lab, t);
        await ctx.adoptTopology(registered);
        return `${t.nodes.length} Nodes, ${t.pods.length} Pods, ${t.services.length} Services`;
      },
    },
    {
      title: 'Pods Ready, EndpointSlices from the controller',
      run: async () => {
        await cp.waitForTopology(ctx.topology());
        cp.close();
        return 'the API matches the topology';
      },
    },
  ];
}

/** The compiled lab kubelet (dist/kubelet/main.js). */
export function kubeletScript(): string {
  return process.env.SVCLAB_KUBELET ?? join(packageDir(), 'dist', 'kubelet', 'main.js');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Creates the topology's objects. Nodes first (with their status, as a kubelet registers),
 * then Pods bound to them, then Services, whose ClusterIPs and NodePorts are asked for where the
 * topology fixed them and otherwise allocated by the API server. Returns the topology with what
 * the API server chose.
 */
export async function registerTopology(
  cp: ControlPlane,
  lab: string,
  topo: Topology,
): Promise<Topology> {
  const api = cp.api();
  const namespaces = new Set(topo.services.map((s) => s.namespace).filter((n) => n !== 'default'));
  for (const ns of namespaces)
    await api
      .create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
      .catch(ignoreExists);
  await mapLimit(topo.nodes, 8, async (n) => {
    await api.create('/api/v1/nodes', nodeObject(lab, n));
    await api.mergePatch(`/api/v1/nodes/${n.name}/status`, nodeStatus(n));
  });
  await mapLimit(topo.pods, 8, (p) =>
    api.create('/api/v1/namespaces/default/pods', podObject(lab, p)),
  );
  const services = await mapLimit(topo.services, 8, async (s) => {
    let obj = await api.create<KubeObject>(
      `/api/v1/namespaces/${s.namespace}/services`,
      serviceObject(lab, s),
    );
    if (s.type === 'LoadBalancer' && s.loadBalancerIPs.length > 0)
      obj = await api.mergePatch(
        `/api/v1/namespaces/${s.namespace}/services/${s.name}/status`,
        loadBalancerStatus(s),
      );
    return withApiAllocations(s, serviceFromApi(obj));
  });
  return { ...topo, services };
}

function ignoreExists(err: unknown): void {
  if (err instanceof ApiStatusError && err.code === 409) return;
  throw err;
}

/** The topology's nodes that run kube-proxy: every node, or the ones named. */
export function kubeProxyNodes(
  topo: Topology,
  names: readonly string[] | undefined,
): Topology['nodes'] {
  if (!names) return topo.nodes;
  const unknown = names.filter((n) => !topo.nodes.some((node) => node.name === n));
  if (unknown.length > 0 || names.length === 0)
    throw new LabError(
      `kube-proxy nodes: ${unknown.length > 0 ? `no node ${unknown.map((n) => `"${n}"`).join(', ')} in the topology` : 'the list is empty'} (have: ${topo.nodes.map((n) => n.name).join(', ')})`,
    );
  return topo.nodes.filter((n) => names.includes(n.name));
}
