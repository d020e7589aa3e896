import { describe, expect, it } from 'vitest';
import { serviceHealthOf } from './health-check.js';
import { endpoint, service, servicePorts } from './iptables/fixtures.test-helper.js';

const lb = service({
  name: 'web-local',
  type: 'LoadBalancer',
  externalTrafficPolicy: 'Local',
  healthCheckNodePort: 32000,
  ports: [
    { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 },
    { name: 'udp', protocol: 'UDP', port: 81, targetPort: 8081, nodePort: 30081 },
  ],
});

describe('serviceHealthOf (HealthCheckNodePorts + LocalReadyEndpoints)', () => {
  it('counts ready endpoints on the node by IP, over all the Service ports', () => {
    const state = {
      servicePorts: servicePorts(lb, [
        endpoint('10.244.0.5', 'node-a'),
        endpoint('10.244.0.6', 'node-a'),
        endpoint('10.244.0.7', 'node-a', { ready: false, serving: true, terminating: true }),
        endpoint('10.244.1.2', 'node-b'),
      ]),
    };
    // Two ports, but a pod counts once: 2 on node-a (the terminating one is not ready).
    expect(serviceHealthOf(state, 'node-a')).toEqual([
      { namespace: 'default', name: 'web-local', port: 32000, localEndpoints: 2 },
    ]);
    expect(serviceHealthOf(state, 'node-b')[0]?.localEndpoints).toBe(1);
    expect(serviceHealthOf(state, 'node-c')[0]?.localEndpoints).toBe(0);
  });

  it('lists only Services kube-proxy reads a healthCheckNodePort of (LoadBalancer + Local)', () => {
    const eps = [endpoint('10.244.0.5', 'node-a')];
    for (const svc of [
      { ...lb, externalTrafficPolicy: 'Cluster' as const },
      { ...lb, type: 'NodePort' as const },
      { ...lb, healthCheckNodePort: undefined },
    ])
      expect(serviceHealthOf({ servicePorts: servicePorts(svc, eps) }, 'node-a')).toEqual([]);
  });
});
