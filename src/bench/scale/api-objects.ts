import type { KubeObject } from '../../controlplane/api-client.js';
import { LAB_LABEL } from '../../controlplane/objects.js';
import type { ProxyState, ServicePortState } from '../../proxy/types.js';

/** Where the bench's Services live in the lab's API. */
export const BENCH_NAMESPACE = 'default';
/**
 * The annotation the EndpointSlice controller sets to the time of the change that triggered a
 * slice update; kube-proxy observes network_programming_duration_seconds from it once the sync
 * that applied the slice ends (pkg/proxy/metrics, endpointschangetracker.go).
 */
export const TRIGGER_TIME_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';
/** Not the controller's: it leaves a slice managed by someone else alone. */
export const BENCH_MANAGER = 'svclab.dev-bench';

export const SERVICES_PATH = `/api/v1/namespaces/${BENCH_NAMESPACE}/services`;
export const SLICES_PATH = `/apis/discovery.k8s.io/v1/namespaces/${BENCH_NAMESPACE}/endpointslices`;

/** One Service of the scale state with its EndpointSlices, as API objects. */
export interface ServiceObjects {
  name: string;
  service: KubeObject;
  slices: KubeObject[];
}

/**
 * The scale state's Services as the API holds them, in exactly the layout svclab's planners get:
 * the same ClusterIPs and NodePorts (asked for explicitly), and EndpointSlices written by the
 * bench, not by kube-controller-manager. The Services have no selector so the controller leaves
 * them alone: at tens of thousands of Services its client rate limit (--kube-api-qps 20) would
 * make the controller, not kube-proxy, the thing measured. One slice per Service port, because
 * the probed Services' iperf port has a different endpoint set than their http port.
 */
export function serviceObjectsOf(lab: string, state: ProxyState): ServiceObjects[] {
  const byName = new Map<string, ServicePortState[]>();
  for (const sp of state.servicePorts) {
    const list = byName.get(sp.service.name) ?? [];
    list.push(sp);
    byName.set(sp.service.name, list);
  }
  return [...byName.values()].map((ports) => serviceObjects(lab, ports));
}

export function serviceObjects(lab: string, ports: ServicePortState[]): ServiceObjects {
  const s = ports[0]!.service;
  const service: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: BENCH_NAMESPACE, labels: { [LAB_LABEL]: lab } },
    spec: {
      type: s.type,
      clusterIP: s.clusterIP,
      ports: ports.map(({ port: p }) => ({
        name: p.name,
        protocol: p.protocol,
        port: p.port,
        targetPort: p.targetPort,
        ...(s.type === 'NodePort' && p.nodePort !== undefined ? { nodePort: p.nodePort } : {}),
      })),
    },
  };
  return { name: s.name, service, slices: ports.map((sp) => sliceObject(lab, sp)) };
}

export function sliceName(sp: ServicePortState): string {
  return `${sp.service.name}-${sp.port.name}`;
}

function sliceObject(lab: string, sp: ServicePortState): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: sliceName(sp),
      namespace: BENCH_NAMESPACE,
      labels: {
        [LAB_LABEL]: lab,
        'kubernetes.io/service-name': sp.service.name,
        'endpointslice.kubernetes.io/managed-by': BENCH_MANAGER,
      },
    },
    addressType: 'IPv4',
    ...sliceContent(sp),
  };
}

/** What a slice says about its endpoints (the part an endpoint change rewrites). */
export function sliceContent(sp: ServicePortState): { endpoints: unknown[]; ports: unknown[] } {
  return {
    endpoints: sp.endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating },
      nodeName: e.nodeName,
      targetRef: { kind: 'Pod', namespace: BENCH_NAMESPACE, name: e.podName },
    })),
    ports: [
      {
        name: sp.port.name,
        protocol: sp.port.protocol,
        port: sp.endpoints[0]?.port ?? Number(sp.port.targetPort),
      },
    ],
  };
}

/** The annotation's value: RFC 3339 with sub-second digits, as kube-proxy parses it. */
export function triggerTime(ms: number): Record<string, string> {
  return { [TRIGGER_TIME_ANNOTATION]: new Date(ms).toISOString() };
}
