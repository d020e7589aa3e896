/**
 * What a Service port means to a proxy, decided once here and asked by every planner, as
 * kube-proxy's proxiers all ask its ServicePort (pkg/proxy/serviceport.go) and
 * CategorizeEndpoints (pkg/proxy/topology.go). Three planners that each re-derived these drifted
 * apart (svclab issue 15): iptables and IPVS got UsesClusterEndpoints wrong, nftables
 * ExternalPolicyLocal.
 */

import { cidrContains, formatCIDR, parseCIDR, parseIPv4, type Cidr } from '../model/ipam.js';
import type { Endpoint, ServicePortState } from './types.js';

/**
 * kube-proxy's ServicePort predicates (serviceport.go), computed once per Service port. Each
 * field is the method of the same name.
 */
export interface ServicePortInfo {
  /**
   * ExternallyAccessible: the port is reachable some other way than its ClusterIP, through a
   * NodePort, a load-balancer ingress IP or an external IP. Per port: a LoadBalancer Service's
   * port without a NodePort and without ingress IPs is not.
   */
  readonly externallyAccessible: boolean;
  /**
   * ExternalPolicyLocal, which newBaseServiceInfo takes from apiservice.ExternalPolicyLocal
   * (pkg/api/v1/service/util.go): externalTrafficPolicy is Local on a Service that is externally
   * accessible by its spec, meaning type NodePort or LoadBalancer, or type ClusterIP with
   * externalIPs. svclab's nftables planner used to miss the last case (issue 15).
   */
  readonly externalPolicyLocal: boolean;
  /** InternalPolicyLocal (apiservice.InternalPolicyLocal): internalTrafficPolicy is Local. */
  readonly internalPolicyLocal: boolean;
  /**
   * UsesClusterEndpoints: the port ever sends traffic to endpoints chosen under the Cluster
   * policy. That is when internal traffic is Cluster, and also whenever the port is externally
   * accessible at all, whatever its externalTrafficPolicy: under Local, pod and host traffic to an
   * external address short-circuits to the cluster endpoints. Leaving out that second half made
   * svclab's iptables planner jump to a KUBE-SVC chain it never declared (issue 15).
   */
  readonly usesClusterEndpoints: boolean;
  /** UsesLocalEndpoints: some traffic to the port goes only to this node's endpoints. */
  readonly usesLocalEndpoints: boolean;
  /**
   * HealthCheckNodePort: spec.healthCheckNodePort where apiservice.NeedsHealthCheck (type
   * LoadBalancer, externalTrafficPolicy Local), else 0 (newBaseServiceInfo).
   */
  readonly healthCheckNodePort: number;
  /**
   * LoadBalancerSourceRanges, as newBaseServicePortInfo makes them: trimmed, parsed with
   * ParseCIDRSloppy (host bits cleared: `192.0.2.9/24` is `192.0.2.0/24`), unparsable and
   * other-family ones left out, and none at all when one of them is a zero-masked CIDR, which
   * allows any source. Empty: the load-balancer IPs are not firewalled.
   */
  readonly loadBalancerSourceRanges: readonly string[];
}

export function servicePortInfo(sp: ServicePortState): ServicePortInfo {
  const svc = sp.service;
  const externallyAccessible =
    (sp.port.nodePort ?? 0) !== 0 || svc.loadBalancerIPs.length > 0 || svc.externalIPs.length > 0;
  const accessibleBySpec =
    svc.type === 'NodePort' ||
    svc.type === 'LoadBalancer' ||
    (svc.type === 'ClusterIP' && svc.externalIPs.length > 0);
  const externalPolicyLocal = accessibleBySpec && svc.externalTrafficPolicy === 'Local';
  const internalPolicyLocal = svc.internalTrafficPolicy === 'Local';
  return {
    externallyAccessible,
    externalPolicyLocal,
    internalPolicyLocal,
    usesClusterEndpoints: !internalPolicyLocal || externallyAccessible,
    usesLocalEndpoints: internalPolicyLocal || (externalPolicyLocal && externallyAccessible),
    healthCheckNodePort:
      svc.type === 'LoadBalancer' && svc.externalTrafficPolicy === 'Local'
        ? (svc.healthCheckNodePort ?? 0)
        : 0,
    loadBalancerSourceRanges: sourceRanges(svc.loadBalancerSourceRanges),
  };
}

const NO_RANGES: readonly string[] = Object.freeze([]);

function sourceRanges(written: readonly string[] | undefined): readonly string[] {
  if (!written || written.length === 0) return NO_RANGES;
  const cidrs: Cidr[] = [];
  for (const text of written) {
    const c = parseCIDR(text.trim());
    if (c) cidrs.push(c);
  }
  // proxyutil.IsZeroCIDR: a /0 among them means "allow any", the same as no ranges.
  if (cidrs.length === 0 || cidrs.some((c) => c.prefix === 0)) return NO_RANGES;
  return cidrs.map(formatCIDR);
}

/**
 * Whether some source range holds the node's IP (kube-proxy's `allowFromNode`, the same in every
 * proxier): the node then also lets the load-balancer IPs themselves in as sources, because a
 * node that has a VIP as a local address (an IP route rule of a VIP-like load balancer) talks
 * to it from that address.
 */
export function sourceRangesAllowNode(ranges: readonly string[], nodeIP: string): boolean {
  const ip = parseIPv4(nodeIP);
  if (ip === undefined) return false;
  return ranges.some((text) => {
    const c = parseCIDR(text);
    return c !== undefined && cidrContains(c, ip);
  });
}

/** The endpoints one node's proxy uses for one Service port, split the way kube-proxy does. */
export interface CategorizedEndpoints {
  /** Usable endpoints under the Cluster policy; empty when the port never uses that policy. */
  clusterEndpoints: readonly Endpoint[];
  /** Usable endpoints on this node, under the Local policy; empty when the port never uses it. */
  localEndpoints: readonly Endpoint[];
  /**
   * Every endpoint some rule of this node may send to: the union of the two lists (by
   * `ip:port`), or one of them when it holds the other.
   */
  allReachableEndpoints: readonly Endpoint[];
  /**
   * The port has a usable endpoint anywhere in the cluster (else kube-proxy rejects its traffic),
   * even when none is reachable from this node.
   */
  hasAnyEndpoints: boolean;
}

/**
 * kube-proxy's CategorizeEndpoints (topology.go). Usable means ready; when none is ready,
 * serving-and-terminating ones (KEP-1669), decided separately for the cluster list (ready
 * anywhere) and the local list (ready on this node).
 *
 * Topology: the cluster list is first narrowed by the endpoints' hints (topologyMode below), for
 * this node's name and zone (kube-proxy's topologyLabels, from its own Node's
 * topology.kubernetes.io/zone label; '' when it has none). The local list never is.
 */
export function categorizeEndpoints(
  sp: ServicePortState,
  info: ServicePortInfo,
  nodeName: string,
  zone = '',
): CategorizedEndpoints {
  const endpoints = sp.endpoints;
  const none: readonly Endpoint[] = [];
  if (endpoints.length === 0)
    return {
      clusterEndpoints: none,
      localEndpoints: none,
      allReachableEndpoints: none,
      hasAnyEndpoints: false,
    };
  const servingTerminating = (e: Endpoint) => e.serving && e.terminating;

  const cluster = info.usesClusterEndpoints;
  let clusterEndpoints = none;
  let hasAnyEndpoints = false;
  let mode: TopologyMode = '';
  if (cluster) {
    mode = topologyMode(endpoints, nodeName, zone);
    clusterEndpoints = endpoints.filter(
      (e) => e.ready && availableForTopology(e, mode, nodeName, zone),
    );
    // No fallback to other zones here: topologyMode already chose none when this node's zone (or
    // the node) has no ready endpoint. Empty means no ready endpoint anywhere.
    if (clusterEndpoints.length === 0) clusterEndpoints = endpoints.filter(servingTerminating);
    hasAnyEndpoints = clusterEndpoints.length > 0;
  }
  let localEndpoints = none;
  const result = (allReachableEndpoints: readonly Endpoint[]): CategorizedEndpoints => ({
    clusterEndpoints,
    localEndpoints,
    allReachableEndpoints,
    hasAnyEndpoints,
  });
  if (!info.usesLocalEndpoints) return result(clusterEndpoints);

  let localReady = false;
  let localServingTerminating = false;
  for (const e of endpoints) {
    if (!e.ready && !servingTerminating(e)) continue;
    hasAnyEndpoints = true;
    if (e.nodeName !== nodeName) continue;
    if (e.ready) localReady = true;
    else localServingTerminating = true;
  }
  if (localReady) localEndpoints = endpoints.filter((e) => e.nodeName === nodeName && e.ready);
  else if (localServingTerminating)
    localEndpoints = endpoints.filter((e) => e.nodeName === nodeName && servingTerminating(e));

  if (!cluster) return result(localEndpoints);
  // Local endpoints that are all ready are among the cluster ones when no topology filter left
  // any out: no union to build. Otherwise a local endpoint may be missing from the cluster list
  // (terminating, or hinted for another zone), so the two are merged.
  const useServingTerminating = !localReady && localServingTerminating;
  if (mode === '' && !useServingTerminating) return result(clusterEndpoints);
  const union = new Map<string, Endpoint>();
  for (const e of [...clusterEndpoints, ...localEndpoints]) union.set(`${e.ip}:${e.port}`, e);
  return result([...union.values()]);
}

/** What kube-proxy's topologyModeFromHints returns: '' is the default, no topology. */
export type TopologyMode = '' | 'PreferSameZone' | 'PreferSameNode';

/**
 * kube-proxy's topologyModeFromHints (topology.go), over ready endpoints only:
 * - PreferSameNode when every ready endpoint has a node hint and one is hinted for this node
 *   (the PreferSameTrafficDistribution gate, GA and locked on since 1.35);
 * - else PreferSameZone when every ready endpoint has a zone hint and one is hinted for this
 *   node's zone (a node without a zone label matches none);
 * - else '': one endpoint without a hint, or no endpoint for this node's zone, and every
 *   endpoint is used. PreferSameNode's endpoints carry zone hints too (the controller writes
 *   both), so on a node without one of its endpoints it falls back to the zone first.
 */
export function topologyMode(
  endpoints: readonly Endpoint[],
  nodeName: string,
  zone: string,
): TopologyMode {
  let hasReadyEndpoints = false;
  let allHaveNodeHints = true;
  let hasEndpointForNode = false;
  let allHaveZoneHints = true;
  let hasEndpointForZone = false;
  for (const e of endpoints) {
    if (!e.ready) continue;
    hasReadyEndpoints = true;
    if (!e.nodeHints?.length) allHaveNodeHints = false;
    else if (e.nodeHints.includes(nodeName)) hasEndpointForNode = true;
    if (!e.zoneHints?.length) allHaveZoneHints = false;
    else if (e.zoneHints.includes(zone)) hasEndpointForZone = true;
  }
  if (!hasReadyEndpoints) return '';
  if (allHaveNodeHints && hasEndpointForNode) return 'PreferSameNode';
  if (allHaveZoneHints && hasEndpointForZone) return 'PreferSameZone';
  return '';
}

/** kube-proxy's availableForTopology (topology.go): whether the mode lets this node use `e`. */
function availableForTopology(
  e: Endpoint,
  mode: TopologyMode,
  nodeName: string,
  zone: string,
): boolean {
  if (mode === 'PreferSameNode') return e.nodeHints?.includes(nodeName) ?? false;
  if (mode === 'PreferSameZone') return e.zoneHints?.includes(zone) ?? false;
  return true;
}

/**
 * Whether internal (ClusterIP) and external (NodePort, external IP, load-balancer IP) traffic
 * has somewhere to go: syncProxyRules' hasInternalEndpoints and hasExternalEndpoints, the same in
 * kube-proxy's iptables and nftables proxier.go. Under a Local policy that needs a local
 * endpoint; without one that traffic is dropped, not rejected (other nodes may have endpoints),
 * and pod and host traffic to external addresses still short-circuits to the cluster endpoints.
 */
export function trafficHasEndpoints(
  info: ServicePortInfo,
  cat: CategorizedEndpoints,
): { hasInternalEndpoints: boolean; hasExternalEndpoints: boolean } {
  const local = cat.localEndpoints.length > 0;
  return {
    hasInternalEndpoints: cat.hasAnyEndpoints && (!info.internalPolicyLocal || local),
    hasExternalEndpoints: cat.hasAnyEndpoints && (!info.externalPolicyLocal || local),
  };
}

/**
 * The endpoints kube-proxy's IPVS proxier makes real servers of (syncEndpoint), for a virtual
 * server whose policy is node-local (`onlyNodeLocalEndpoints`: InternalPolicyLocal for the
 * ClusterIP, ExternalPolicyLocal for NodePorts, external and load-balancer IPs) or not. A Local
 * policy without local endpoints falls back to the cluster endpoints (kubernetes PR 97081), so
 * that pods on this node still reach the Service; traffic from outside is then forwarded without
 * SNAT and its reply is lost. Empty when the port never uses cluster endpoints (an
 * internal-only Service with internalTrafficPolicy=Local).
 */
export function ipvsDestinations(
  cat: CategorizedEndpoints,
  onlyNodeLocalEndpoints: boolean,
): readonly Endpoint[] {
  if (onlyNodeLocalEndpoints && cat.localEndpoints.length > 0) return cat.localEndpoints;
  return cat.clusterEndpoints;
}
