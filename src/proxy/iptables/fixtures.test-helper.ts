/** Builders for Services and Endpoints in unit tests (not a test file itself). */

import { serviceWithDefaults } from '../../model/service.js';
import type { ServiceSpec } from '../../model/types.js';
import type { Endpoint, ServicePortState } from '../types.js';

export const NODE = { nodeName: 'node-a', nodeIP: '172.18.0.2', clusterCIDR: '10.244.0.0/16' };

export function service(overrides: Partial<ServiceSpec> = {}): ServiceSpec {
  return serviceWithDefaults({
    name: 'web',
    clusterIP: '10.96.0.10',
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }],
    selector: { app: 'web' },
    ...overrides,
  });
}

export function endpoint(
  ip: string,
  nodeName: string,
  overrides: Partial<Endpoint> = {},
): Endpoint {
  return {
    ip,
    port: 8080,
    protocol: 'TCP',
    nodeName,
    podName: `pod-${ip.replaceAll('.', '-')}`,
    ready: true,
    serving: true,
    terminating: false,
    ...overrides,
  };
}

/** The ServicePortStates of every port of `svc`, all with the same endpoints (port and protocol adjusted). */
export function servicePorts(svc: ServiceSpec, endpoints: Endpoint[]): ServicePortState[] {
  return svc.ports.map((port) => ({
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
