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
 * Topology: kube-proxy first picks a topology mode from EndpointSlice hints (PreferSameZone,
 * PreferSameNode) and filters the cluster list by it. svclab's endpoints carry no hints (the model
 * has no trafficDistribution yet), so the mode is always the default one, and the cluster list is
 * every usable endpoint.
 */
export function categorizeEndpoints(
  sp: ServicePortState,
  info: ServicePortInfo,
  nodeName: string,
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
  if (cluster) {
    clusterEndpoints = endpoints.filter((e) => e.ready);
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
  // Local endpoints that are all ready are among the cluster ones (every ready endpoint, there
  // being no topology filter): no union to build.
  if (localReady || !localServingTerminating) return result(clusterEndpoints);
  const union = new Map<string, Endpoint>();
  for (const e of [...clusterEndpoints, ...localEndpoints]) union.set(`${e.ip}:${e.port}`, e);
  return result([...union.values()]);
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
