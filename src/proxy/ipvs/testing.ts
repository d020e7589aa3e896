import { serviceWithDefaults } from '../../model/service.js';
import type { Protocol, ServiceSpec } from '../../model/types.js';
import type { Endpoint, ServicePortState } from '../types.js';

/** Builders for unit tests of the IPVS planner (kube-proxy keeps such helpers in a testing/ package). */

export function service(
  overrides: Partial<ServiceSpec> & { name: string; clusterIP: string },
): ServiceSpec {
  return serviceWithDefaults(overrides);
}

export function endpoint(
  ip: string,
  nodeName: string,
  port = 8080,
  protocol: Protocol = 'TCP',
  extra: Partial<Endpoint> = {},
): Endpoint {
  return {
    ip,
    port,
    protocol,
    nodeName,
    podName: `pod-${ip}`,
    ready: true,
    serving: true,
    terminating: false,
    ...extra,
  };
}

/** One ServicePortState per port of `svc`; endpoints apply to every port (their port is rewritten to the port's targetPort when numeric). */
export function servicePorts(
  svc: ServiceSpec,
  ports: {
    name?: string;
    port: number;
    protocol?: Protocol;
    targetPort?: number;
    nodePort?: number;
  }[],
  endpoints: Endpoint[],
): ServicePortState[] {
  const spec = { ...svc };
  spec.ports = ports.map((p) => ({
    name: p.name ?? '',
    protocol: p.protocol ?? 'TCP',
    port: p.port,
    targetPort: p.targetPort ?? 8080,
    nodePort: p.nodePort,
  }));
  return spec.ports.map((port) => ({
    service: spec,
    port,
    name: `${spec.namespace}/${spec.name}:${port.name}`,
    endpoints: endpoints.map((e) => ({
      ...e,
      protocol: port.protocol,
      port: typeof port.targetPort === 'number' ? port.targetPort : e.port,
    })),
  }));
}
