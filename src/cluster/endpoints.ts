import { nodeZone } from '../model/types.js';
import type { PodSpec, ServicePort, ServiceSpec, Topology } from '../model/types.js';
import type { Endpoint, ProxyState, ServicePortState } from '../proxy/types.js';
import { endpointHints } from './traffic-distribution.js';

/**
 * The endpoints controller, reduced to what a Service proxy reads: for every Service port, the
 * pods its selector matches, with the target port resolved per pod (a named targetPort can map
 * to different numbers on different pods, as in Kubernetes), EndpointSlice conditions, the zone
 * of the pod's node and the hints the Service's trafficDistribution asks for.
 */
export function computeProxyState(
  topology: Pick<Topology, 'services' | 'pods' | 'nodes'>,
): ProxyState {
  const zones = new Map(topology.nodes.map((n) => [n.name, nodeZone(n)]));
  const servicePorts: ServicePortState[] = [];
  for (const service of topology.services) {
    const pods = selectPods(service, topology.pods);
    for (const port of service.ports) {
      servicePorts.push({
        service,
        port,
        name: servicePortName(service, port),
        endpoints: pods.flatMap((pod) =>
          endpointFor(pod, port, zones.get(pod.node) ?? '', service),
        ),
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

function endpointFor(
  pod: PodSpec,
  port: ServicePort,
  zone: string,
  service: ServiceSpec,
): Endpoint[] {
  const target = resolveTargetPort(pod, port);
  if (target === undefined) return [];
  const endpoint: Endpoint = {
    ip: pod.ip,
    port: target,
    protocol: port.protocol,
    nodeName: pod.node,
    podName: pod.name,
    // EndpointSlice semantics: a terminating pod is not ready but may still be serving.
    ready: pod.ready && !pod.terminating,
    serving: pod.ready,
    terminating: pod.terminating,
    // podToEndpoint copies a non-empty zone label of the pod's Node.
    ...(zone !== '' && { zone }),
  };
  return [{ ...endpoint, ...endpointHints(service.trafficDistribution, endpoint) }];
}

function resolveTargetPort(pod: PodSpec, port: ServicePort): number | undefined {
  if (typeof port.targetPort === 'number') return port.targetPort;
  return pod.ports.find((p) => p.name === port.targetPort && p.protocol === port.protocol)
    ?.containerPort;
}
