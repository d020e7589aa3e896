/**
 * Applies defaults and allocates every address the file left out, deterministically, so the same
 * file always yields the same lab. Runs on a validated document; the only problems it can find
 * are exhausted ranges.
 */
import { AddressAllocator, NodePortAllocator } from './allocate.js';
import { needsHealthCheck } from './validate-services.js';
import {
  API_VERSION,
  DEFAULT_AFFINITY_TIMEOUT_SECONDS,
  DEFAULT_NAMESPACE,
  DEFAULT_PROTOCOL,
  DEFAULT_SERVICE_TYPE,
  DEFAULT_SESSION_AFFINITY,
  DEFAULT_TRAFFIC_POLICY,
  KIND,
  NODE_PORT_RANGE,
  OFFSETS,
} from './defaults.js';
import { formatCIDR, formatIPv4, subnetSlice } from './ipam.js';
import type { IssueList } from './issues.js';
import { cidrOf, ipOf, type AddressPlan } from './networking.js';
import type { ServiceInput, TopologyInput } from './schema.js';
import type {
  ExternalHostSpec,
  NodeSpec,
  PodSpec,
  ServicePort,
  ServiceSpec,
  Topology,
} from './types.js';

export function resolveTopology(
  doc: TopologyInput,
  plan: AddressPlan,
  out: IssueList,
): Topology | undefined {
  const nodes = resolveNodes(doc, plan, out);
  const pods = resolvePods(doc, nodes, out);
  const services = resolveServices(doc, plan, out);
  const externalHosts = resolveExternalHosts(doc, plan, nodes, services, out);
  if (out.hasErrors) return undefined;
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: doc.metadata.name,
    networking: plan.networking,
    nodes,
    pods,
    services,
    externalHosts,
    warnings: out.issues.filter((i) => i.severity === 'warning'),
  };
}

/** One allocator for the node network: nodes from .2 up, external hosts from .200 up. */
function nodeNetworkAllocator(doc: TopologyInput, plan: AddressPlan): AddressAllocator {
  const alloc = new AddressAllocator(plan.subnets.nodeSubnet);
  alloc.reserve(plan.subnets.nodeSubnet.network + 1); // the gateway
  for (const n of doc.spec.nodes) if (n.ip) alloc.reserve(ipOf(n.ip));
  for (const h of doc.spec.externalHosts ?? []) if (h.ip) alloc.reserve(ipOf(h.ip));
  return alloc;
}

function resolveNodes(doc: TopologyInput, plan: AddressPlan, out: IssueList): NodeSpec[] {
  const alloc = nodeNetworkAllocator(doc, plan);
  return doc.spec.nodes.map((n, i) => {
    const ip = n.ip ?? allocated(alloc.next(OFFSETS.firstNode));
    if (!ip)
      out.error(
        ['spec', 'nodes', i, 'ip'],
        `no free address left in nodeSubnet ${plan.networking.nodeSubnet}; set ip or use a larger nodeSubnet`,
      );
    const slice = subnetSlice(plan.subnets.podSubnet, plan.networking.podCIDRMaskSize, i);
    return {
      name: n.name,
      ip: ip ?? '',
      podCIDR: slice ? formatCIDR(slice) : '',
      labels: { ...n.labels },
    };
  });
}

function resolvePods(doc: TopologyInput, nodes: NodeSpec[], out: IssueList): PodSpec[] {
  const allocators = new Map(
    nodes.filter((n) => n.podCIDR).map((n) => [n.name, new AddressAllocator(cidrOf(n.podCIDR))]),
  );
  return (doc.spec.pods ?? []).map((p, i) => {
    const node = nodes.find((n) => n.name === p.node);
    const hostNetwork = p.hostNetwork ?? false;
    let ip = hostNetwork ? node?.ip : allocated(allocators.get(p.node)?.next(OFFSETS.firstPod));
    if (!ip) {
      out.error(
        ['spec', 'pods', i, 'node'],
        `no free address left in node ${p.node}'s podCIDR ${node?.podCIDR ?? ''}; use a smaller podCIDRMaskSize`,
      );
      ip = '';
    }
    return {
      name: p.name,
      node: p.node,
      ip,
      hostNetwork,
      labels: { ...p.labels },
      ports: (p.ports ?? []).map((c) => ({
        ...(c.name !== undefined && { name: c.name }),
        containerPort: c.containerPort,
        protocol: c.protocol ?? DEFAULT_PROTOCOL,
      })),
      ready: p.ready ?? true,
      terminating: p.terminating ?? false,
    };
  });
}

function resolveServices(doc: TopologyInput, plan: AddressPlan, out: IssueList): ServiceSpec[] {
  const services = doc.spec.services ?? [];
  const ips = new AddressAllocator(plan.subnets.serviceSubnet);
  ips.reserve(plan.subnets.serviceSubnet.network + 1); // the kubernetes Service
  for (const s of services) if (s.spec.clusterIP) ips.reserve(ipOf(s.spec.clusterIP));
  const nodePorts = new NodePortAllocator(NODE_PORT_RANGE);
  for (const s of services)
    for (const p of s.spec.ports) if (p.nodePort !== undefined) nodePorts.reserve(p.nodePort);

  for (const s of services)
    if (s.spec.healthCheckNodePort !== undefined) nodePorts.reserve(s.spec.healthCheckNodePort);

  const resolved = services.map((s, i): ServiceSpec => {
    const pinnedIP = s.spec.clusterIP;
    const clusterIP = pinnedIP ?? allocated(ips.next(OFFSETS.firstClusterIP));
    if (!clusterIP)
      out.error(
        ['spec', 'services', i, 'spec', 'clusterIP'],
        `no free address left in serviceSubnet ${plan.networking.serviceSubnet}`,
      );
    const type = s.spec.type ?? DEFAULT_SERVICE_TYPE;
    return {
      name: s.metadata.name,
      namespace: s.metadata.namespace ?? DEFAULT_NAMESPACE,
      type,
      clusterIP: clusterIP ?? '',
      ...(pinnedIP === undefined && { clusterIPAllocated: true }),
      ports: resolvePorts(s, type === 'ClusterIP' ? undefined : nodePorts, i, out),
      selector: { ...s.spec.selector },
      sessionAffinity: s.spec.sessionAffinity ?? DEFAULT_SESSION_AFFINITY,
      sessionAffinityTimeoutSeconds:
        s.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT_SECONDS,
      externalIPs: [...(s.spec.externalIPs ?? [])],
      externalTrafficPolicy: s.spec.externalTrafficPolicy ?? DEFAULT_TRAFFIC_POLICY,
      internalTrafficPolicy: s.spec.internalTrafficPolicy ?? DEFAULT_TRAFFIC_POLICY,
      loadBalancerIPs: (s.status?.loadBalancer?.ingress ?? []).map((ing) => ing.ip),
      ...(s.spec.trafficDistribution !== undefined && {
        trafficDistribution: s.spec.trafficDistribution,
      }),
      loadBalancerSourceRanges: [...(s.spec.loadBalancerSourceRanges ?? [])],
    };
  });
  // After every Service's nodePorts, so that adding the field renumbers no nodePort (the API
  // server allocates one Service's nodePorts, then its healthCheckNodePort).
  resolved.forEach((svc, i) => {
    const input = services[i]!;
    if (!needsHealthCheck(input)) return;
    const pinned = input.spec.healthCheckNodePort;
    const port = pinned ?? nodePorts.next();
    if (port === undefined)
      out.error(
        ['spec', 'services', i, 'spec', 'healthCheckNodePort'],
        `no free nodePort left in ${NODE_PORT_RANGE.min}-${NODE_PORT_RANGE.max}`,
      );
    else {
      svc.healthCheckNodePort = port;
      if (pinned === undefined) svc.healthCheckNodePortAllocated = true;
    }
  });
  return resolved;
}

/**
 * Ports with the same port number share a nodePort (a TCP and a UDP DNS port get one nodePort),
 * as the API server's initNodePorts does: the first nodePort the file gives for that port number,
 * else one allocated for the first such port.
 */
function resolvePorts(
  s: ServiceInput,
  nodePorts: NodePortAllocator | undefined,
  index: number,
  out: IssueList,
): ServicePort[] {
  // port number -> its nodePort, and whether the file wrote it (a sibling inherits either).
  const byPort = new Map<number, { nodePort: number; allocated: boolean }>();
  for (const p of s.spec.ports)
    if (p.nodePort !== undefined && !byPort.has(p.port))
      byPort.set(p.port, { nodePort: p.nodePort, allocated: false });
  return s.spec.ports.map((p, j) => {
    let nodePort: number | undefined;
    let nodePortAllocated = false;
    if (nodePorts) {
      const shared = p.nodePort === undefined ? byPort.get(p.port) : undefined;
      nodePort = p.nodePort ?? shared?.nodePort;
      nodePortAllocated = shared?.allocated ?? false;
      if (nodePort === undefined) {
        nodePort = nodePorts.next();
        nodePortAllocated = true;
      }
      if (nodePort === undefined)
        out.error(
          ['spec', 'services', index, 'spec', 'ports', j, 'nodePort'],
          `no free nodePort left in ${NODE_PORT_RANGE.min}-${NODE_PORT_RANGE.max}`,
        );
      else if (!byPort.has(p.port)) byPort.set(p.port, { nodePort, allocated: nodePortAllocated });
    }
    return {
      // Kubernetes leaves a single port unnamed; endpoint ports match it by the empty name.
      name: p.name ?? '',
      protocol: p.protocol ?? DEFAULT_PROTOCOL,
      port: p.port,
      targetPort: p.targetPort ?? p.port,
      ...(nodePort !== undefined && { nodePort }),
      ...(nodePort !== undefined && nodePortAllocated && { nodePortAllocated: true }),
    };
  });
}

/** External hosts route every external IP and LoadBalancer IP of the lab to their routeVia node. */
function resolveExternalHosts(
  doc: TopologyInput,
  plan: AddressPlan,
  nodes: NodeSpec[],
  services: ServiceSpec[],
  out: IssueList,
): ExternalHostSpec[] {
  const alloc = nodeNetworkAllocator(doc, plan);
  for (const n of nodes) if (n.ip) alloc.reserve(ipOf(n.ip));
  const vips = [...new Set(services.flatMap((s) => [...s.externalIPs, ...s.loadBalancerIPs]))];
  return (doc.spec.externalHosts ?? []).map((h, i) => {
    const ip = h.ip ?? allocated(alloc.next(OFFSETS.firstExternalHost));
    if (!ip)
      out.error(
        ['spec', 'externalHosts', i, 'ip'],
        `no free address left in nodeSubnet ${plan.networking.nodeSubnet} from .${OFFSETS.firstExternalHost} up; set ip`,
      );
    const via = (nodes.find((n) => n.name === h.routeVia) ?? nodes[0])?.ip ?? '';
    return { name: h.name, ip: ip ?? '', routes: vips.map((vip) => ({ to: `${vip}/32`, via })) };
  });
}

function allocated(ip: number | undefined): string | undefined {
  return ip === undefined ? undefined : formatIPv4(ip);
}
