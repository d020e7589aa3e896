/**
 * Addresses and ports Services claim across the lab: clusterIPs, external IPs, LoadBalancer
 * ingress IPs and nodePorts. Each can belong to one Service only.
 */
import { quote } from './echo.js';
import { DEFAULT_PROTOCOL, DEFAULT_SERVICE_TYPE } from './defaults.js';
import { cidrContains } from './ipam.js';
import type { IssueList, Path } from './issues.js';
import { SUBNET_FIELDS, ipOf, type AddressPlan } from './networking.js';
import type { ServiceInput, TopologyInput } from './schema.js';
import { reservedAddressProblem } from './reserved.js';
import { hostAddressProblem } from './validate-network.js';

export function validateServiceAddresses(
  doc: TopologyInput,
  plan: AddressPlan,
  out: IssueList,
): void {
  const services = doc.spec.services ?? [];
  const clusterIPs = new Map<number, number>();
  const nodePorts = new Map<number, number>();
  const externalVIPs = new Map<string, number>();
  services.forEach((svc, i) => {
    const at: Path = ['spec', 'services', i, 'spec'];
    validateClusterIP(svc, at, i, plan, clusterIPs, out);
    validateExternalAddresses(svc, i, plan, externalVIPs, out);
    if ((svc.spec.type ?? DEFAULT_SERVICE_TYPE) === 'ClusterIP') return;
    // Unlike duplicates inside one Service, the API server's nodePort allocator is one range for
    // all protocols: another Service cannot take 30080/UDP when one has 30080/TCP.
    svc.spec.ports.forEach((port, j) => {
      if (port.nodePort === undefined) return;
      const owner = nodePorts.get(port.nodePort);
      if (owner === undefined) nodePorts.set(port.nodePort, i);
      else if (owner !== i) {
        out.error(
          [...at, 'ports', j, 'nodePort'],
          `Invalid value: ${port.nodePort}: provided port is already allocated (to ${serviceName(services, owner)})`,
        );
      }
    });
  });
  validateHealthCheckNodePorts(services, nodePorts, out);
}

/**
 * The healthCheckNodePort comes from the nodePort allocator too, after the Service's nodePorts
 * (pkg/registry/core/service/storage/alloc.go allocHealthCheckNodePort): it may be no nodePort
 * of any Service, its own included, and no other Service's healthCheckNodePort.
 */
function validateHealthCheckNodePorts(
  services: readonly ServiceInput[],
  nodePorts: ReadonlyMap<number, number>,
  out: IssueList,
): void {
  const taken = new Map(nodePorts);
  services.forEach((svc, i) => {
    const port = svc.spec.healthCheckNodePort;
    if (port === undefined) return;
    const owner = taken.get(port);
    if (owner === undefined) taken.set(port, i);
    else
      out.error(
        ['spec', 'services', i, 'spec', 'healthCheckNodePort'],
        `Invalid value: ${port}: provided port is already allocated (to ${owner === i ? 'a nodePort of this Service' : serviceName(services, owner)})`,
      );
  });
}

function validateClusterIP(
  svc: ServiceInput,
  at: Path,
  index: number,
  plan: AddressPlan,
  owners: Map<number, number>,
  out: IssueList,
): void {
  const text = svc.spec.clusterIP;
  if (text === undefined) return;
  const ip = ipOf(text);
  const label = `serviceSubnet ${plan.networking.serviceSubnet}`;
  const problem =
    reservedAddressProblem(ip) ??
    hostAddressProblem(plan.subnets.serviceSubnet, ip, label, 'the kubernetes Service');
  if (problem) {
    out.error([...at, 'clusterIP'], `Invalid value: ${quote(text)}: ${problem}`);
    return;
  }
  const owner = owners.get(ip);
  if (owner === undefined) owners.set(ip, index);
  else
    out.error(
      [...at, 'clusterIP'],
      `Invalid value: ${quote(text)}: provided IP is already allocated (to spec.services[${owner}])`,
    );
}

/**
 * External IPs and LoadBalancer IPs reach a node because a router (here: each external host's
 * routes) sends them there. Inside a lab subnet they would be on-link instead: answered by ARP,
 * or shadowed by a node, pod or clusterIP, and the test would not exercise the Service path.
 */
function validateExternalAddresses(
  svc: ServiceInput,
  index: number,
  plan: AddressPlan,
  vips: Map<string, number>,
  out: IssueList,
): void {
  const base: Path = ['spec', 'services', index];
  const seen = new Set<string>();
  const check = (path: Path, text: string, duplicateIsError: boolean) => {
    const problem = externalAddressProblem(text, plan);
    if (problem) {
      out.error(path, `Invalid value: ${quote(text)}: ${problem}`);
      return;
    }
    if (seen.has(text)) {
      if (duplicateIsError) out.error(path, `Duplicate value: ${quote(text)}`);
      return;
    }
    seen.add(text);
    for (const port of svc.spec.ports) {
      const key = `${text}:${port.port}/${port.protocol ?? DEFAULT_PROTOCOL}`;
      const owner = vips.get(key);
      if (owner === undefined) vips.set(key, index);
      else if (owner !== index) {
        out.error(
          path,
          `Invalid value: ${quote(text)}: ${key} is already served by spec.services[${owner}]`,
        );
        return;
      }
    }
  };
  svc.spec.externalIPs?.forEach((ip, k) => check([...base, 'spec', 'externalIPs', k], ip, true));
  // An ingress IP may repeat an externalIP of the same Service: same VIP, same rules.
  svc.status?.loadBalancer?.ingress?.forEach((ing, k) =>
    check([...base, 'status', 'loadBalancer', 'ingress', k, 'ip'], ing.ip, false),
  );
}

function externalAddressProblem(text: string, plan: AddressPlan): string | undefined {
  const ip = ipOf(text);
  const reserved = reservedAddressProblem(ip);
  if (reserved) return reserved;
  for (const field of SUBNET_FIELDS) {
    if (cidrContains(plan.subnets[field], ip)) {
      return `is inside ${field} ${plan.networking[field]}; external IPs and LoadBalancer IPs must be outside the lab's subnets (they are routed to a node, not on-link)`;
    }
  }
  return undefined;
}

function serviceName(services: readonly ServiceInput[], index: number): string {
  const s = services[index];
  return s
    ? `spec.services[${index}] ${s.metadata.namespace ?? 'default'}/${s.metadata.name}`
    : `spec.services[${index}]`;
}
