import { LabError } from '../exec/index.js';
import type { ServicePort, ServiceSpec, Topology } from '../model/types.js';
import type { L4 } from '../traffic/protocol.js';

/** Where a probe goes: an address, a port and a protocol, plus what it means in Service terms. */
export interface Destination {
  host: string;
  port: number;
  protocol: L4;
  /** e.g. `web:http via ClusterIP 10.96.0.10:80`. */
  description: string;
}

/** Typed addresses of one Service, for suites: `lab.service('web').nodePort('http', 'node-b')`. */
export class ServiceAddresses {
  constructor(
    private readonly topo: Topology,
    readonly spec: ServiceSpec,
  ) {}

  private port(ref: string | number | undefined): ServicePort {
    const ports = this.spec.ports;
    const p =
      ref === undefined
        ? ports[0]
        : ports.find(
            (x) =>
              x.name === ref ||
              x.port === Number(ref) ||
              (typeof ref === 'string' && x.protocol.toLowerCase() === ref.toLowerCase()),
          );
    if (!p) {
      throw new LabError(
        `Service ${this.spec.name} has no port "${ref}" (ports: ${ports.map((x) => x.name || x.port).join(', ')})`,
      );
    }
    return p;
  }

  private dest(
    host: string | undefined,
    port: number | undefined,
    p: ServicePort,
    how: string,
  ): Destination {
    if (!host || !port) throw new LabError(`Service ${this.spec.name} has no ${how}`);
    const name = `${this.spec.name}:${p.name || p.port}`;
    return {
      host,
      port,
      protocol: p.protocol === 'UDP' ? 'udp' : 'tcp',
      description: `${name} via ${how} ${host}:${port}`,
    };
  }

  clusterIP(portRef?: string | number): Destination {
    const p = this.port(portRef);
    return this.dest(this.spec.clusterIP, p.port, p, 'ClusterIP');
  }

  nodePort(portRef: string | number | undefined, node: string): Destination {
    const p = this.port(portRef);
    const n = this.topo.nodes.find((x) => x.name === node);
    if (!n)
      throw new LabError(
        `no node "${node}" (nodes: ${this.topo.nodes.map((x) => x.name).join(', ')})`,
      );
    return this.dest(n.ip, p.nodePort, p, `NodePort on ${node}`);
  }

  /**
   * The node's health check of this Service (HTTP on its healthCheckNodePort), as a load balancer
   * asks it; type LoadBalancer with externalTrafficPolicy Local only.
   */
  healthCheck(node: string): Destination {
    const n = this.topo.nodes.find((x) => x.name === node);
    if (!n)
      throw new LabError(
        `no node "${node}" (nodes: ${this.topo.nodes.map((x) => x.name).join(', ')})`,
      );
    const port = this.spec.healthCheckNodePort;
    if (!port) throw new LabError(`Service ${this.spec.name} has no healthCheckNodePort`);
    return {
      host: n.ip,
      port,
      protocol: 'tcp',
      description: `${this.spec.name} health check on ${node} ${n.ip}:${port}`,
    };
  }

  externalIP(portRef?: string | number, index = 0): Destination {
    const p = this.port(portRef);
    return this.dest(this.spec.externalIPs[index], p.port, p, 'external IP');
  }

  loadBalancer(portRef?: string | number, index = 0): Destination {
    const p = this.port(portRef);
    return this.dest(this.spec.loadBalancerIPs[index], p.port, p, 'LoadBalancer IP');
  }
}

export function serviceAddresses(
  topo: Topology,
  name: string,
  namespace = 'default',
): ServiceAddresses {
  const spec = topo.services.find((s) => s.name === name && s.namespace === namespace);
  if (!spec)
    throw new LabError(
      `no Service "${namespace}/${name}" (Services: ${topo.services.map((s) => s.name).join(', ')})`,
    );
  return new ServiceAddresses(topo, spec);
}

/**
 * Parses the CLI's target syntax:
 *   10.96.0.10:80            an address
 *   web[:http]  svc/web[:80] a Service's ClusterIP (port by name or number; default first port)
 *   nodeport/web[:http]@node-b, externalip/web[:http], lb/web[:http]
 *   web-a:8080  node-b:30080 a pod's, node's or external host's own address
 * `protocol` picks among a Service's ports when no port is named, and overrides for addresses.
 */
export function parseDestination(topo: Topology, spec: string, protocol?: L4): Destination {
  const ipPort = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(spec);
  if (ipPort) {
    const proto = protocol ?? 'tcp';
    return {
      host: ipPort[1]!,
      port: Number(ipPort[2]),
      protocol: proto,
      description: `${spec}/${proto}`,
    };
  }
  const m =
    /^(?:(svc|nodeport|externalip|lb)\/)?([a-z0-9-]+)(?::([A-Za-z0-9-]+))?(?:@([a-z0-9-]+))?$/.exec(
      spec,
    );
  if (!m)
    throw new LabError(
      `cannot parse target "${spec}" (try 10.96.0.10:80, web:http, nodeport/web:http@node-b, externalip/web, lb/web)`,
    );
  const [, kind, name, portRef, node] = m as unknown as [
    string,
    string | undefined,
    string,
    string | undefined,
    string | undefined,
  ];
  const host = [...topo.nodes, ...topo.pods, ...topo.externalHosts].find((h) => h.name === name);
  if (!kind && host) {
    if (!portRef || !/^\d+$/.test(portRef))
      throw new LabError(`target "${spec}": give a port number for ${name}, e.g. ${name}:8080`);
    const proto = protocol ?? 'tcp';
    return {
      host: host.ip,
      port: Number(portRef),
      protocol: proto,
      description: `${name} ${host.ip}:${portRef}/${proto}`,
    };
  }
  const svc = serviceAddresses(topo, name);
  const ref =
    portRef ??
    (protocol
      ? (svc.spec.ports.find((p) => p.protocol.toLowerCase() === protocol)?.name ?? protocol)
      : undefined);
  switch (kind ?? 'svc') {
    case 'nodeport':
      if (!node)
        throw new LabError(
          `target "${spec}": say which node, e.g. nodeport/${name}@${topo.nodes[0]?.name ?? 'node-a'}`,
        );
      return svc.nodePort(ref, node);
    case 'externalip':
      return svc.externalIP(ref);
    case 'lb':
      return svc.loadBalancer(ref);
    default:
      return svc.clusterIP(ref);
  }
}
