import type { Endpoint, ServicePortState } from './types.js';

/** The endpoints one node's proxy uses for one Service port, split the way kube-proxy does. */
export interface NodeEndpoints {
  /** Endpoints for traffic under the Cluster policy. */
  clusterEndpoints: Endpoint[];
  /** Endpoints on this node, for traffic under the Local policy. */
  localEndpoints: Endpoint[];
  /** True when the Service has any endpoint at all (else kube-proxy REJECTs). */
  hasEndpoints: boolean;
}

/**
 * Mirrors kube-proxy's topology.CategorizeEndpoints: use ready endpoints; if none are ready,
 * fall back to serving-and-terminating ones (ProxyTerminatingEndpoints, KEP-1669), separately for
 * the cluster set and the node-local set.
 */
export function categorizeEndpoints(sp: ServicePortState, nodeName: string): NodeEndpoints {
  const usable = (eps: Endpoint[]) => {
    const ready = eps.filter((e) => e.ready);
    return ready.length > 0 ? ready : eps.filter((e) => e.serving && e.terminating);
  };
  const clusterEndpoints = usable(sp.endpoints);
  const localEndpoints = usable(sp.endpoints.filter((e) => e.nodeName === nodeName));
  return {
    clusterEndpoints,
    localEndpoints,
    hasEndpoints: clusterEndpoints.length > 0 || localEndpoints.length > 0,
  };
}
