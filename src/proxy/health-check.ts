import type { HealthCheckService } from '../traffic/protocol.js';
import { servicePortInfo } from './service-port.js';
import type { ProxyState } from './types.js';

/**
 * What one node's service health server serves after a sync, as kube-proxy's proxiers compute it
 * at the end of syncProxyRules: svcPortMap.HealthCheckNodePorts() (pkg/proxy/servicechangetracker.go),
 * one port per Service, and endpointsMap.LocalReadyEndpoints() (pkg/proxy/endpointschangetracker.go):
 * the ready endpoints on this node, counted by IP over all the Service's ports, so a pod serving
 * two ports of the Service counts once. Terminating endpoints are not ready: a node left with
 * only those fails the check, and the load balancer drains it.
 */
export function serviceHealthOf(state: ProxyState, nodeName: string): HealthCheckService[] {
  const ports = new Map<string, { namespace: string; name: string; port: number }>();
  const localIPs = new Map<string, Set<string>>();
  for (const sp of state.servicePorts) {
    const key = `${sp.service.namespace}/${sp.service.name}`;
    const port = servicePortInfo(sp).healthCheckNodePort;
    if (port !== 0)
      ports.set(key, { namespace: sp.service.namespace, name: sp.service.name, port });
    for (const e of sp.endpoints) {
      if (!e.ready || e.nodeName !== nodeName) continue;
      let ips = localIPs.get(key);
      if (!ips) localIPs.set(key, (ips = new Set()));
      ips.add(e.ip);
    }
  }
  return [...ports]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, svc]) => ({ ...svc, localEndpoints: localIPs.get(key)?.size ?? 0 }));
}
