import type {
  V1ConfigMap,
  V1Container,
  V1Namespace,
  V1Pod,
  V1Service,
  V1ServiceStatus,
  V1Toleration,
} from '@kubernetes/client-node';
import { LabError } from '../../exec/index.js';
import type { PodSpec, ServiceSpec, Topology } from '../../model/types.js';
import {
  AGENT_CODE_DIR,
  AGENT_CONFIGMAP,
  AGENT_CONTAINER,
  AGENT_CONTROL_SOCKET,
  AGENT_IMAGE,
  AGENT_RUN_DIR,
  AGNHOST_CONTAINER,
  AGNHOST_IMAGE,
  EPHEMERAL_ANNOTATION,
  externalAgentPod,
  LAB_LABEL,
  nodeAgentPod,
  OWNER_HOST_ANNOTATION,
  OWNER_PID_ANNOTATION,
  TARGET_LABEL,
  UNREADY_MARKER,
} from './names.js';

/** Where a topology node's pods go: a nodeSelector that matches exactly one cluster node. */
export type NodePlacement = Record<string, Record<string, string>>;

export interface WorkloadOptions {
  lab: string;
  namespace: string;
  /** Topology node name -> nodeSelector (kind: `svclab.dev/node`, kubeconfig: `kubernetes.io/hostname`). */
  placement: NodePlacement;
  /** The compiled agent, file name -> contents (dist/traffic/*.js plus a package.json). */
  agentFiles: Record<string, string>;
  /** External hosts played by hostNetwork pods (kubeconfig provider): host -> nodeSelector. */
  externalHostPlacement?: NodePlacement | undefined;
  owner: { host: string; pid: number; ephemeral: boolean };
  /**
   * How long a deleted pod keeps serving while terminating (agnhost and agent --delay-shutdown;
   * the grace period is a little longer). A topology pod marked `terminating` is deleted with
   * this grace period and stays terminating-but-serving until the lab changes it; every other
   * delete svclab does uses grace period 0. Default 3600 (agnhost's and the agent's maximum).
   */
  delayShutdownSeconds?: number | undefined;
}

export interface WorkloadManifests {
  namespace: V1Namespace;
  configMap: V1ConfigMap;
  /** Topology pods, then one agent pod per node, then external-host pods. */
  pods: V1Pod[];
  services: V1Service[];
}

// Lab pods may be pinned to kind's control-plane node (the topology's first node), which kind
// taints when it has workers; pinning by nodeSelector still goes through the scheduler.
const TOLERATIONS: V1Toleration[] = [
  { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node-role.kubernetes.io/master', operator: 'Exists', effect: 'NoSchedule' },
];

/**
 * The svclab agent beside agnhost, in the pod's network namespace: the client side of probes and
 * flows (agnhost serves). One long-running process per pod; the lab drives it over its control
 * socket through one exec stream (see exec-bridge.ts), so no process is spawned per request.
 * Its readiness probe is the pod's readiness switch: Lab.update toggles UNREADY_MARKER.
 */
function agentContainer(
  opts: WorkloadOptions,
  target: string,
  hostname: string,
  ready: boolean,
): V1Container {
  const agent = [
    'node',
    `${AGENT_CODE_DIR}/agent.js`,
    '--lab',
    opts.lab,
    '--name',
    target,
    '--hostname',
    hostname,
    '--control',
    AGENT_CONTROL_SOCKET,
    '--delay-shutdown',
    String(delaySeconds(opts)),
  ];
  const script = `${ready ? '' : `touch ${UNREADY_MARKER} && `}exec ${agent.map(shq).join(' ')}`;
  return {
    name: AGENT_CONTAINER,
    image: AGENT_IMAGE,
    command: ['sh', '-c', script],
    volumeMounts: [
      { name: 'agent-code', mountPath: AGENT_CODE_DIR, readOnly: true },
      { name: 'agent-run', mountPath: AGENT_RUN_DIR },
    ],
    readinessProbe: {
      exec: {
        command: ['sh', '-c', `test -S ${AGENT_CONTROL_SOCKET} && ! test -e ${UNREADY_MARKER}`],
      },
      periodSeconds: 1,
      failureThreshold: 1,
      successThreshold: 1,
    },
  };
}

function delaySeconds(opts: WorkloadOptions): number {
  return opts.delayShutdownSeconds ?? 3600;
}

function shq(s: string): string {
  return /^[A-Za-z0-9_./:=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** agnhost netexec serves one HTTP port and one UDP port; more cannot be expressed with it. */
function netexecArgs(pod: PodSpec, delayShutdownSeconds: number): string[] {
  const tcp = pod.ports.filter((p) => p.protocol === 'TCP');
  const udp = pod.ports.filter((p) => p.protocol === 'UDP');
  if (tcp.length > 1 || udp.length > 1) {
    throw new LabError(
      `pod ${pod.name}: agnhost netexec serves at most one TCP (HTTP) and one UDP port; the topology asks for ${pod.ports.map((p) => `${p.containerPort}/${p.protocol}`).join(', ')}`,
    );
  }
  // --udp-port=-1 disables UDP; HTTP always listens (8080 when the pod declares no TCP port).
  return [
    'netexec',
    `--http-port=${tcp[0]?.containerPort ?? 8080}`,
    `--udp-port=${udp[0]?.containerPort ?? -1}`,
    `--delay-shutdown=${delayShutdownSeconds}`,
  ];
}

function meta(opts: WorkloadOptions, name: string, labels: Record<string, string> = {}) {
  return { name, namespace: opts.namespace, labels: { ...labels, [LAB_LABEL]: opts.lab } };
}

function basePod(
  opts: WorkloadOptions,
  name: string,
  nodeSelector: Record<string, string>,
  labels: Record<string, string>,
  hostNetwork: boolean,
): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: meta(opts, name, { ...labels, [TARGET_LABEL]: name }),
    spec: {
      nodeSelector,
      tolerations: TOLERATIONS,
      hostNetwork,
      // The lab's traffic must not depend on cluster DNS or the API.
      dnsPolicy: hostNetwork ? 'ClusterFirstWithHostNet' : 'ClusterFirst',
      enableServiceLinks: false,
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: delaySeconds(opts) + 30,
      containers: [],
      volumes: [
        { name: 'agent-code', configMap: { name: AGENT_CONFIGMAP } },
        { name: 'agent-run', emptyDir: {} },
      ],
    },
  };
}

function placementOf(placement: NodePlacement, node: string, what: string): Record<string, string> {
  const sel = placement[node];
  if (!sel) throw new LabError(`${what}: topology node "${node}" is not placed on a cluster node`);
  return sel;
}

export function podManifest(opts: WorkloadOptions, pod: PodSpec): V1Pod {
  const m = basePod(
    opts,
    pod.name,
    placementOf(opts.placement, pod.node, `pod ${pod.name}`),
    pod.labels,
    pod.hostNetwork,
  );
  m.spec!.containers = [
    {
      name: AGNHOST_CONTAINER,
      image: AGNHOST_IMAGE,
      args: netexecArgs(pod, delaySeconds(opts)),
      ports: pod.ports.map((p) => ({
        ...(p.name ? { name: p.name } : {}),
        containerPort: p.containerPort,
        protocol: p.protocol,
      })),
    },
    agentContainer(opts, pod.name, pod.name, pod.ready),
  ];
  return m;
}

/** Each node gets a hostNetwork agent pod: probes "from node-a" leave from node-a's own address. */
export function nodeAgentManifest(opts: WorkloadOptions, node: string): V1Pod {
  const m = basePod(
    opts,
    nodeAgentPod(node),
    placementOf(opts.placement, node, `node agent ${node}`),
    { 'svclab.dev/role': 'node-agent' },
    true,
  );
  m.spec!.containers = [agentContainer(opts, node, node, true)];
  return m;
}

export function externalHostManifest(
  opts: WorkloadOptions,
  ext: string,
  nodeSelector: Record<string, string>,
): V1Pod {
  const m = basePod(
    opts,
    externalAgentPod(ext),
    nodeSelector,
    { 'svclab.dev/role': 'external-host' },
    true,
  );
  m.spec!.containers = [agentContainer(opts, ext, ext, true)];
  return m;
}

/**
 * LoadBalancer Services of a lab carry this class, so no cloud provider, MetalLB or
 * cloud-provider-kind acts on them (a controller only handles its own class, or Services without
 * one): svclab is their load-balancer controller and writes status.loadBalancer itself.
 */
export const LOAD_BALANCER_CLASS = 'svclab.dev/topology';

/**
 * The Service as the topology writes it. A clusterIP or nodePort the file pinned is requested as
 * is (the suites address it; the API server rejects it when it is outside the cluster's ranges or
 * taken, and the error says so). One svclab allocated is left out: the API server allocates it,
 * and the lab reads it back (serviceAddresses). Asking for svclab's own choice would collide on a
 * real cluster: the first one is the range's 10th address, kube-dns's on kind and kubeadm.
 * status.loadBalancer is not part of create (the API server resets status): see
 * loadBalancerStatus.
 */
export function serviceManifest(opts: WorkloadOptions, svc: ServiceSpec): V1Service {
  const externallyAccessible = svc.type !== 'ClusterIP' || svc.externalIPs.length > 0;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(opts, svc.name),
    spec: {
      type: svc.type,
      ...(!svc.clusterIPAllocated && svc.clusterIP ? { clusterIP: svc.clusterIP } : {}),
      ...(svc.type === 'LoadBalancer' ? { loadBalancerClass: LOAD_BALANCER_CLASS } : {}),
      selector: svc.selector,
      ports: svc.ports.map((p) => ({
        name: p.name,
        protocol: p.protocol,
        port: p.port,
        targetPort: p.targetPort as never,
        ...(p.nodePort && !p.nodePortAllocated ? { nodePort: p.nodePort } : {}),
      })),
      sessionAffinity: svc.sessionAffinity,
      ...(svc.sessionAffinity === 'ClientIP'
        ? {
            sessionAffinityConfig: {
              clientIP: { timeoutSeconds: svc.sessionAffinityTimeoutSeconds },
            },
          }
        : {}),
      ...(svc.externalIPs.length > 0 ? { externalIPs: svc.externalIPs } : {}),
      ...(externallyAccessible ? { externalTrafficPolicy: svc.externalTrafficPolicy } : {}),
      internalTrafficPolicy: svc.internalTrafficPolicy,
      ...(svc.healthCheckNodePort !== undefined && !svc.healthCheckNodePortAllocated
        ? { healthCheckNodePort: svc.healthCheckNodePort }
        : {}),
      ...(svc.loadBalancerSourceRanges.length > 0
        ? { loadBalancerSourceRanges: svc.loadBalancerSourceRanges }
        : {}),
    },
  };
}

/**
 * What svclab writes to a LoadBalancer Service's status subresource: the topology's ingress IPs
 * (kube-proxy programs them from there, as it would a cloud load balancer's). Undefined for other
 * types, whose status svclab leaves alone.
 */
export function loadBalancerStatus(svc: ServiceSpec): V1ServiceStatus | undefined {
  if (svc.type !== 'LoadBalancer') return undefined;
  return { loadBalancer: { ingress: svc.loadBalancerIPs.map((ip) => ({ ip })) } };
}

function agentConfigMap(opts: WorkloadOptions): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(opts, AGENT_CONFIGMAP),
    data: opts.agentFiles,
  };
}

export function namespaceManifest(
  opts: Pick<WorkloadOptions, 'lab' | 'namespace' | 'owner'>,
): V1Namespace {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: opts.namespace,
      labels: { [LAB_LABEL]: opts.lab },
      annotations: {
        [OWNER_HOST_ANNOTATION]: opts.owner.host,
        [OWNER_PID_ANNOTATION]: String(opts.owner.pid),
        [EPHEMERAL_ANNOTATION]: String(opts.owner.ephemeral),
      },
    },
  };
}

/** Everything a lab creates in the cluster, in creation order. Pure: golden-tested. */
export function planWorkloads(topo: Topology, opts: WorkloadOptions): WorkloadManifests {
  const externals = Object.entries(opts.externalHostPlacement ?? {});
  return {
    namespace: namespaceManifest(opts),
    configMap: agentConfigMap(opts),
    pods: [
      // Pods marked terminating are created too; the reconciler then deletes them gracefully.
      ...topo.pods.map((p) => podManifest(opts, p)),
      ...topo.nodes.map((n) => nodeAgentManifest(opts, n.name)),
      ...externals.map(([ext, sel]) => externalHostManifest(opts, ext, sel)),
    ],
    services: topo.services.map((s) => serviceManifest(opts, s)),
  };
}
