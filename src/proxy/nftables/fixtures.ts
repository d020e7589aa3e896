import { serviceWithDefaults } from '../../model/service.js';
import type { ServicePort, ServiceSpec } from '../../model/types.js';
import type { Endpoint, ServicePortState } from '../types.js';
import type { NftablesPlanConfig } from './plan.js';

/** Builders for the nftables tests (unit and kernel): a two-node cluster, node-a being "us". */

export const NODE_CONFIG: NftablesPlanConfig = {
  nodeName: 'node-a',
  nodeIP: '192.168.200.2',
  clusterCIDR: '10.244.0.0/16',
  serviceCIDR: '10.96.0.0/16',
};

export function service(
  overrides: Partial<ServiceSpec> & Pick<ServiceSpec, 'name' | 'clusterIP'>,
): ServiceSpec {
  return serviceWithDefaults({ selector: { app: overrides.name }, ...overrides });
}

export function endpoint(
  ip: string,
  nodeName: string,
  port = 8080,
  protocol: Endpoint['protocol'] = 'TCP',
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
  };
}

/** One ServicePortState per port of `svc`, each with `endpoints` (port numbers copied from the target port). */
export function servicePorts(svc: ServiceSpec, endpoints: Endpoint[]): ServicePortState[] {
  return svc.ports.map((port: ServicePort) => ({
    service: svc,
    port,
    name: `${svc.namespace}/${svc.name}:${port.name}`,
    endpoints: endpoints.map((e) => ({
      ...e,
      protocol: port.protocol,
      port: typeof port.targetPort === 'number' ? port.targetPort : e.port,
    })),
  }));
}

export function tcpPort(port: number, extra: Partial<ServicePort> = {}): ServicePort {
  return { name: `p${port}`, protocol: 'TCP', port, targetPort: 8080, ...extra };
}

/** `count` ClusterIP Services with one TCP port and `endpointsPerService` endpoints each (benchmarks). */
export function manyServices(count: number, endpointsPerService = 2): ServicePortState[] {
  const out: ServicePortState[] = [];
  for (let i = 0; i < count; i++) {
    const ip = `10.96.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    const svc = service({ name: `svc-${i}`, clusterIP: ip, ports: [tcpPort(80)] });
    const eps = Array.from({ length: endpointsPerService }, (_, j) =>
      endpoint(
        `10.244.${(i * endpointsPerService + j) % 250}.${(Math.floor((i * endpointsPerService + j) / 250) % 250) + 2}`,
        j % 2 ? 'node-b' : 'node-a',
      ),
    );
    out.push(...servicePorts(svc, eps));
  }
  return out;
}
