/** Per-Service rules, following Kubernetes' ValidateService where it has one. */
import { quote } from './echo.js';
import { DEFAULT_PROTOCOL, DEFAULT_SERVICE_TYPE } from './defaults.js';
import { formatCIDR, hasHostBits, parseCIDR } from './ipam.js';
import type { IssueList, Path } from './issues.js';
import type { AddressPlan } from './networking.js';
import type { ServiceInput, TopologyInput } from './schema.js';
import { validateServiceAddresses } from './validate-service-addresses.js';
import { validateEndpointsSelection } from './validate-endpoints.js';
import { LABEL_TOPOLOGY_ZONE } from './types.js';

export function validateServices(doc: TopologyInput, plan: AddressPlan, out: IssueList): void {
  doc.spec.services?.forEach((svc, i) =>
    validateService(svc, ['spec', 'services', i, 'spec'], out),
  );
  validateServiceAddresses(doc, plan, out);
  validateEndpointsSelection(doc, out);
  validateZoneHints(doc, out);
}

/**
 * Zone hints are made from the zone labels of the endpoints' Nodes (the EndpointSlice
 * controller's podToEndpoint): with no zoned node, PreferClose and PreferSameZone change nothing.
 */
function validateZoneHints(doc: TopologyInput, out: IssueList): void {
  if (doc.spec.nodes.some((n) => n.labels?.[LABEL_TOPOLOGY_ZONE] !== undefined)) return;
  doc.spec.services?.forEach((svc, i) => {
    const td = svc.spec.trafficDistribution;
    if (td === 'PreferClose' || td === 'PreferSameZone')
      out.warning(
        ['spec', 'services', i, 'spec', 'trafficDistribution'],
        `no node has a ${LABEL_TOPOLOGY_ZONE} label: the endpoints get no zone hints and every node uses all of them`,
      );
  });
}

/** NodePorts, NodePort/LoadBalancer IPs and externalIPs are what makes a Service reachable from outside. */
export function isExternallyAccessible(svc: ServiceInput): boolean {
  const type = svc.spec.type ?? DEFAULT_SERVICE_TYPE;
  return type !== 'ClusterIP' || (svc.spec.externalIPs?.length ?? 0) > 0;
}

/**
 * Only a LoadBalancer Service with externalTrafficPolicy Local has a healthCheckNodePort: the load
 * balancer asks each node whether it has local endpoints (pkg/api/v1/service/util.go
 * NeedsHealthCheck).
 */
export function needsHealthCheck(svc: ServiceInput): boolean {
  return (
    (svc.spec.type ?? DEFAULT_SERVICE_TYPE) === 'LoadBalancer' &&
    svc.spec.externalTrafficPolicy === 'Local'
  );
}

function validateService(svc: ServiceInput, at: Path, out: IssueList): void {
  const { spec } = svc;
  const type = spec.type ?? DEFAULT_SERVICE_TYPE;
  validatePorts(svc, at, out);

  if (spec.sessionAffinityConfig !== undefined && spec.sessionAffinity !== 'ClientIP') {
    out.error(
      [...at, 'sessionAffinityConfig'],
      `Forbidden: must not be set when sessionAffinity is ${spec.sessionAffinity ?? 'None'}`,
    );
  }
  // Kubernetes accepts externalTrafficPolicy on a ClusterIP Service that has externalIPs.
  if (spec.externalTrafficPolicy !== undefined && !isExternallyAccessible(svc)) {
    out.error(
      [...at, 'externalTrafficPolicy'],
      `Invalid value: ${quote(spec.externalTrafficPolicy)}: may only be set for externally-accessible services (type NodePort or LoadBalancer, or with externalIPs)`,
    );
  }
  // pkg/apis/core/validation/validation.go validateServiceExternalTrafficPolicy.
  if (spec.healthCheckNodePort !== undefined && !needsHealthCheck(svc)) {
    out.error(
      [...at, 'healthCheckNodePort'],
      `Invalid value: ${spec.healthCheckNodePort}: may only be set when \`type\` is 'LoadBalancer' and \`externalTrafficPolicy\` is 'Local'`,
    );
  }
  // ValidateService (pkg/apis/core/validation/validation.go): source ranges only on LoadBalancers.
  if ((spec.loadBalancerSourceRanges?.length ?? 0) > 0 && type !== 'LoadBalancer') {
    out.error(
      [...at, 'loadBalancerSourceRanges'],
      `Forbidden: may only be used when type is 'LoadBalancer' (type is '${type}')`,
    );
  }
  // The API server rejects host bits in new values since StrictIPCIDRValidation went on by default
  // (1.36; IsValidCIDRForLegacyField); kube-proxy would clear them (ParseCIDRSloppy).
  spec.loadBalancerSourceRanges?.forEach((text, k) => {
    if (hasHostBits(text))
      out.error(
        [...at, 'loadBalancerSourceRanges', k],
        `Invalid value: ${quote(text)}: must not have bits set beyond the prefix length (${formatCIDR(parseCIDR(text)!)})`,
      );
  });
  const ingress = svc.status?.loadBalancer?.ingress ?? [];
  if (ingress.length > 0 && type !== 'LoadBalancer') {
    out.error(
      [...at.slice(0, -1), 'status', 'loadBalancer', 'ingress'],
      `Forbidden: may only be set when type is 'LoadBalancer' (type is '${type}')`,
    );
  }
}

function validatePorts(svc: ServiceInput, at: Path, out: IssueList): void {
  const { ports } = svc.spec;
  const type = svc.spec.type ?? DEFAULT_SERVICE_TYPE;
  const names = new Map<string, number>();
  const portKeys = new Map<string, number>();
  const nodePortKeys = new Map<string, number>();
  ports.forEach((port, j) => {
    const path: Path = [...at, 'ports', j];
    const protocol = port.protocol ?? DEFAULT_PROTOCOL;
    // Endpoint ports are matched by name, so several ports need names to tell them apart.
    if (port.name === undefined) {
      if (ports.length > 1)
        out.error(
          [...path, 'name'],
          'Required value: each port needs a name when the Service has more than one',
        );
    } else {
      const first = names.get(port.name);
      if (first === undefined) names.set(port.name, j);
      else
        out.error(
          [...path, 'name'],
          `Duplicate value: ${quote(port.name)}: already used by ports[${first}]`,
        );
    }
    const key = `${port.port}/${protocol}`;
    const first = portKeys.get(key);
    if (first === undefined) portKeys.set(key, j);
    else out.error([...path, 'port'], `Duplicate value: ${key}: already used by ports[${first}]`);

    if (port.nodePort === undefined) return;
    if (type === 'ClusterIP') {
      out.error([...path, 'nodePort'], "Forbidden: may not be used when `type` is 'ClusterIP'");
      return;
    }
    // One nodePort may serve a TCP and a UDP port of the same Service, not two of one protocol.
    const npKey = `${port.nodePort}/${protocol}`;
    const firstNp = nodePortKeys.get(npKey);
    if (firstNp === undefined) nodePortKeys.set(npKey, j);
    else
      out.error(
        [...path, 'nodePort'],
        `Duplicate value: ${npKey}: already used by ports[${firstNp}]`,
      );
  });
}
