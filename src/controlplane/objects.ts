/* eslint-disable @typescript-eslint/no-explicit-any -- API objects are JSON from kube-apiserver; only the fields read here are typed where they are read. */
import type { NodeSpec, PodSpec, ServicePort, ServiceSpec, Topology } from '../model/types.js';
import type { Endpoint, ProxyState, ServicePortState } from '../proxy/types.js';
import { servicePortName } from '../cluster/endpoints.js';
import type { KubeObject } from './api-client.js';

/**
 * The topology as Kubernetes API objects, and back. The lab is the kubelet: Nodes and Pods are
 * registered by svclab, Services are created from the topology and then belong to the API
 * server (its validation, its allocators); EndpointSlices come from kube-controller-manager.
 */

/** Pods of the topology have no namespace: they live in `default`, where its Services are. */
export const POD_NAMESPACE = 'default';

/** Annotation the lab kubelet reads: seconds a deleted pod keeps running first (a preStop sleep). */
export const PRE_STOP_SLEEP_ANNOTATION = 'svclab.dev/pre-stop-sleep-seconds';
/** Label on every object svclab registers, so they can be told from the API server's own. */
export const LAB_LABEL = 'svclab.dev/lab';

export function nodeObject(lab: string, node: NodeSpec): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: node.name,
      labels: {
        'kubernetes.io/hostname': node.name,
        'kubernetes.io/os': 'linux',
        [LAB_LABEL]: lab,
        ...node.labels,
      },
    },
    spec: { podCIDR: node.podCIDR, podCIDRs: [node.podCIDR] },
  };
}

export function nodeStatus(node: NodeSpec, now = new Date().toISOString()): unknown {
  return {
    status: {
      addresses: [
        { type: 'InternalIP', address: node.ip },
        { type: 'Hostname', address: node.name },
      ],
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'SvclabNodeReady',
          message: 'the lab node namespace is up',
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
      ],
      nodeInfo: nodeInfo(),
    },
  };
}

function nodeInfo() {
  return {
    machineID: '',
    systemUUID: '',
    bootID: '',
    kernelVersion: '',
    osImage: 'svclab network namespace',
    containerRuntimeVersion: 'svclab://netns',
    kubeletVersion: 'svclab',
    kubeProxyVersion: '',
    operatingSystem: 'linux',
    architecture: 'amd64',
  };
}

export function podObject(lab: string, pod: PodSpec): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: pod.name,
      namespace: POD_NAMESPACE,
      labels: { ...pod.labels },
      annotations: { [LAB_LABEL]: lab },
    },
    spec: {
      nodeName: pod.node,
      hostNetwork: pod.hostNetwork,
      // The agent is the pod's one container; the image is a label for people reading kubectl.
      containers: [
        {
          name: 'agent',
          image: 'svclab.dev/agent:local',
          ports: pod.ports.map((p) => ({
            ...(p.name ? { name: p.name } : {}),
            containerPort: p.containerPort,
            protocol: p.protocol,
          })),
        },
      ],
      terminationGracePeriodSeconds: 30,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
    },
  };
}

/** Pod status as a kubelet reports it for a running pod. */
export function podStatus(
  pod: PodSpec,
  ready: boolean,
  hostIP: string,
  startTime: string,
): unknown {
  const cond = (type: string, status: boolean) => ({
    type,
    status: status ? 'True' : 'False',
    lastTransitionTime: startTime,
  });
  return {
    status: {
      phase: 'Running',
      hostIP,
      hostIPs: [{ ip: hostIP }],
      podIP: pod.ip,
      podIPs: [{ ip: pod.ip }],
      startTime,
      conditions: [
        cond('PodScheduled', true),
        cond('Initialized', true),
        cond('ContainersReady', ready),
        cond('Ready', ready),
      ],
      containerStatuses: [
        {
          name: 'agent',
          image: 'svclab.dev/agent:local',
          imageID: '',
          ready,
          restartCount: 0,
          started: true,
          state: { running: { startedAt: startTime } },
        },
      ],
    },
  };
}

/**
 * A Service from the topology. Addresses svclab chose (clusterIPAllocated, nodePortAllocated) are
 * left to the API server's allocators and read back (serviceFromApi); the ones the file fixed are
 * asked for, so the API server's validation and conflict checks apply to them.
 */
export function serviceObject(lab: string, s: ServiceSpec): KubeObject {
  const spec: Record<string, unknown> = {
    type: s.type,
    selector: Object.keys(s.selector).length > 0 ? { ...s.selector } : undefined,
    ports: s.ports.map((p) => ({
      name: p.name || undefined,
      protocol: p.protocol,
      port: p.port,
      targetPort: p.targetPort,
      ...(p.nodePort !== undefined && !p.nodePortAllocated && s.type !== 'ClusterIP'
        ? { nodePort: p.nodePort }
        : {}),
    })),
    sessionAffinity: s.sessionAffinity,
    ...(s.sessionAffinity === 'ClientIP'
      ? { sessionAffinityConfig: { clientIP: { timeoutSeconds: s.sessionAffinityTimeoutSeconds } } }
      : {}),
    externalIPs: s.externalIPs.length > 0 ? [...s.externalIPs] : undefined,
    internalTrafficPolicy: s.internalTrafficPolicy,
    // The API takes externalTrafficPolicy on externally accessible Services only, and a
    // ClusterIP Service with externalIPs is one (pkg/api/v1/service/util.go ExternallyAccessible):
    // leaving it out there would silently turn Local into Cluster.
    ...(s.type !== 'ClusterIP' || s.externalIPs.length > 0
      ? { externalTrafficPolicy: s.externalTrafficPolicy }
      : {}),
    ...(!s.clusterIPAllocated && s.clusterIP ? { clusterIP: s.clusterIP } : {}),
    ...(s.healthCheckNodePort !== undefined && !s.healthCheckNodePortAllocated
      ? { healthCheckNodePort: s.healthCheckNodePort }
      : {}),
    trafficDistribution: s.trafficDistribution,
    loadBalancerSourceRanges:
      s.loadBalancerSourceRanges.length > 0 ? [...s.loadBalancerSourceRanges] : undefined,
  };
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: s.namespace, labels: { [LAB_LABEL]: lab } },
    spec: JSON.parse(JSON.stringify(spec)),
  };
}

/** Applies the topology's spec to an existing Service object (for PUT), keeping what the API owns. */
export function applyServiceSpec(existing: KubeObject, s: ServiceSpec): KubeObject {
  const want = serviceObject(existing.metadata.labels?.[LAB_LABEL] ?? '', s);
  const spec = { ...existing.spec, ...want.spec };
  for (const k of [
    'selector',
    'externalIPs',
    'sessionAffinityConfig',
    'externalTrafficPolicy',
    'trafficDistribution',
    'loadBalancerSourceRanges',
  ])
    if (!(k in want.spec)) delete spec[k];
  // A NodePort the topology does not fix keeps the one the API server allocated.
  spec.ports = want.spec.ports.map((p: any) => {
    const old = (existing.spec.ports ?? []).find(
      (o: any) => o.name === p.name && o.protocol === p.protocol,
    );
    return p.nodePort === undefined && old?.nodePort !== undefined && s.type !== 'ClusterIP'
      ? { ...p, nodePort: old.nodePort }
      : p;
  });
  if (s.type === 'ClusterIP') spec.ports.forEach((p: any) => delete p.nodePort);
  // The healthCheckNodePort is immutable while the Service needs one: one the topology does not
  // fix stays the API server's; a Service that no longer needs one drops it (pkg/registry/core/
  // service/storage/alloc.go updateHealthCheckNodePort).
  const needsHealthCheck = s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local';
  if (!needsHealthCheck) delete spec.healthCheckNodePort;
  else if (want.spec.healthCheckNodePort === undefined && existing.spec.healthCheckNodePort)
    spec.healthCheckNodePort = existing.spec.healthCheckNodePort;
  return { ...existing, spec };
}

export function loadBalancerStatus(s: ServiceSpec): unknown {
  return { status: { loadBalancer: { ingress: s.loadBalancerIPs.map((ip) => ({ ip })) } } };
}

/** The API's Service, in the topology's terms (defaults filled in as the model has them). */
/**
 * The topology's Service with what the API server allocated or kept (ClusterIP, NodePorts,
 * healthCheckNodePort) as the API has them: those are what kube-proxy programs, whatever the
 * topology file or svclab's allocator chose where the file left them out.
 */
export function withApiAllocations(s: ServiceSpec, got: ServiceSpec): ServiceSpec {
  return {
    ...s,
    clusterIP: got.clusterIP,
    ...(got.healthCheckNodePort !== undefined && {
      healthCheckNodePort: got.healthCheckNodePort,
    }),
    ports: s.ports.map((p) => ({
      ...p,
      nodePort:
        got.ports.find((g) => g.name === p.name && g.protocol === p.protocol)?.nodePort ??
        p.nodePort,
    })),
  };
}

export function serviceFromApi(obj: KubeObject): ServiceSpec {
  const spec = obj.spec ?? {};
  const ports: ServicePort[] = (spec.ports ?? []).map((p: any) => ({
    name: p.name ?? '',
    protocol: p.protocol ?? 'TCP',
    port: p.port,
    targetPort: p.targetPort ?? p.port,
    ...(p.nodePort ? { nodePort: p.nodePort } : {}),
  }));
  return {
    name: obj.metadata.name,
    namespace: obj.metadata.namespace ?? 'default',
    type: spec.type ?? 'ClusterIP',
    clusterIP: spec.clusterIP ?? '',
    ports,
    selector: spec.selector ?? {},
    sessionAffinity: spec.sessionAffinity ?? 'None',
    sessionAffinityTimeoutSeconds: spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800,
    externalIPs: spec.externalIPs ?? [],
    externalTrafficPolicy: spec.externalTrafficPolicy ?? 'Cluster',
    internalTrafficPolicy: spec.internalTrafficPolicy ?? 'Cluster',
    loadBalancerIPs: (obj.status?.loadBalancer?.ingress ?? [])
      .map((i: { ip?: string }) => i.ip)
      .filter((ip: string | undefined): ip is string => !!ip),
    ...(spec.healthCheckNodePort ? { healthCheckNodePort: spec.healthCheckNodePort } : {}),
    ...(spec.trafficDistribution ? { trafficDistribution: spec.trafficDistribution } : {}),
    loadBalancerSourceRanges: spec.loadBalancerSourceRanges ?? [],
  };
}

/**
 * What a Service proxy reads from the API, in the planners' terms: every Service port with the
 * endpoints of its EndpointSlices (matched by port name and protocol, deduplicated by address, as
 * kube-proxy's EndpointSliceCache does). ExternalName and headless Services are not proxied.
 */
export function proxyStateFromApi(services: KubeObject[], slices: KubeObject[]): ProxyState {
  const servicePorts: ServicePortState[] = [];
  for (const obj of services) {
    if (obj.spec?.type === 'ExternalName' || !obj.spec?.clusterIP || obj.spec.clusterIP === 'None')
      continue;
    const service = serviceFromApi(obj);
    const mine = slices.filter(
      (s) =>
        s.metadata.namespace === service.namespace &&
        s.metadata.labels?.['kubernetes.io/service-name'] === service.name &&
        (s as any).addressType === 'IPv4',
    );
    for (const port of service.ports) {
      const byIP = new Map<string, Endpoint>();
      for (const slice of mine) {
        const sp = ((slice as any).ports ?? []).find(
          (p: any) => (p.name ?? '') === port.name && (p.protocol ?? 'TCP') === port.protocol,
        );
        if (!sp || sp.port === undefined) continue;
        for (const ep of (slice as any).endpoints ?? []) {
          const c = ep.conditions ?? {};
          const ready = c.ready !== false;
          const e: Endpoint = {
            ip: ep.addresses[0],
            port: sp.port,
            protocol: port.protocol,
            nodeName: ep.nodeName ?? '',
            podName: ep.targetRef?.kind === 'Pod' ? ep.targetRef.name : '',
            ready,
            serving: c.serving ?? ready,
            terminating: c.terminating ?? false,
            ...(ep.zone ? { zone: ep.zone } : {}),
            ...hintsFromApi(ep.hints),
          };
          if (!byIP.has(e.ip)) byIP.set(e.ip, e);
        }
      }
      servicePorts.push({
        service,
        port,
        name: servicePortName(service, port),
        endpoints: [...byIP.values()],
      });
    }
  }
  return { servicePorts };
}

/**
 * An endpoint's hints as kube-proxy's EndpointSliceCache reads them (pkg/proxy/endpointslicecache.go
 * addEndpoints): the names of hints.forZones and hints.forNodes, each left out when empty.
 */
function hintsFromApi(hints: any): Pick<Endpoint, 'zoneHints' | 'nodeHints'> {
  const names = (xs: any): string[] =>
    Array.isArray(xs) ? xs.map((x: any) => String(x.name)) : [];
  const zoneHints = names(hints?.forZones);
  const nodeHints = names(hints?.forNodes);
  return {
    ...(zoneHints.length > 0 ? { zoneHints } : {}),
    ...(nodeHints.length > 0 ? { nodeHints } : {}),
  };
}

/**
 * A canonical text of a proxy state (sorted, only what a proxy programs), so the state the API
 * holds can be compared with the state a topology implies.
 */
export function proxyStateKey(state: ProxyState, only?: ReadonlySet<string>): string {
  const ports = state.servicePorts
    .filter((sp) => !only || only.has(`${sp.service.namespace}/${sp.service.name}`))
    .map((sp) => ({
      name: sp.name,
      service: {
        ...sp.service,
        // Who chose an address is the topology's bookkeeping, not something a proxy programs.
        clusterIPAllocated: undefined,
        healthCheckNodePortAllocated: undefined,
        ports: undefined,
        selector: undefined,
        externalIPs: [...sp.service.externalIPs].sort(),
        loadBalancerIPs: [...sp.service.loadBalancerIPs].sort(),
      },
      port: { ...sp.port, nodePortAllocated: undefined },
      endpoints: sp.endpoints.map((e) => ({ ...e })).sort((a, b) => a.ip.localeCompare(b.ip)),
    }))
    .sort((a, b) => a.name.localeCompare(b.name) || a.port.protocol.localeCompare(b.port.protocol));
  // Keys sorted: the topology and the API reader build a Service field by field in their own
  // order, and an optional field added to both must not make equal states differ.
  return JSON.stringify(ports, (_key, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)))
      : value,
  );
}

/** Services of a topology by `namespace/name`. */
export function serviceKeys(topo: Pick<Topology, 'services'>): Set<string> {
  return new Set(topo.services.map((s) => `${s.namespace}/${s.name}`));
}
