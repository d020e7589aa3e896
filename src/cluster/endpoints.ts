import type { PodSpec, ServicePort, ServiceSpec, Topology } from '../model/types.js';
import type { Endpoint, ProxyState, ServicePortState } from '../proxy/types.js';

/**
 * The endpoints controller, reduced to what a Service proxy reads: for every Service port, the
 * pods its selector matches, with the target port resolved per pod (a named targetPort can map
 * to different numbers on different pods, as in Kubernetes) and EndpointSlice conditions.
 */
export function computeProxyState(topology: Pick<Topology, 'services' | 'pods'>): ProxyState {
  const servicePorts: ServicePortState[] = [];
  for (const service of topology.services) {
    const pods = selectPods(service, topology.pods);
    for (const port of service.ports) {
      servicePorts.push({
        service,
        port,
        name: servicePortName(service, port),
        endpoints: pods.flatMap((pod) => endpointFor(pod, port)),
      });
    }
  }
  return { servicePorts };
}

export function servicePortName(
  service: Pick<ServiceSpec, 'namespace' | 'name'>,
  port: Pick<ServicePort, 'name'>,
): string {
  return `${service.namespace}/${service.name}${port.name ? `:${port.name}` : ''}`;
}

/** A Service without a selector has no managed endpoints; an empty selector is treated the same. */
export function selectPods(service: ServiceSpec, pods: PodSpec[]): PodSpec[] {
  const selector = Object.entries(service.selector);
  if (selector.length === 0) return [];
  return pods.filter((p) => selector.every(([k, v]) => p.labels[k] === v));
}

function endpointFor(pod: PodSpec, port: ServicePort): Endpoint[] {
  const target = resolveTargetPort(pod, port);
  if (target === undefined) return [];
  return [
    {
      ip: pod.ip,
      port: target,
      protocol: port.protocol,
      nodeName: pod.node,
      podName: pod.name,
      // EndpointSlice semantics: a terminating pod is not ready but may still be serving.
      ready: pod.ready && !pod.terminating,
      serving: pod.ready,
      terminating: pod.terminating,
    },
  ];
}

function resolveTargetPort(pod: PodSpec, port: ServicePort): number | undefined {
  if (typeof port.targetPort === 'number') return port.targetPort;
  return pod.ports.find((p) => p.name === port.targetPort && p.protocol === port.protocol)
    ?.containerPort;
}
