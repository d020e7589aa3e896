import type { ServiceSpec } from './types.js';

/**
 * A Service with the API server's defaults filled in (type ClusterIP, no affinity with the
 * 10800 s timeout, Cluster traffic policies): for code that builds Services directly, such as
 * benchmarks and planner tests, rather than through a topology file.
 */
export function serviceWithDefaults(
  s: Pick<ServiceSpec, 'name' | 'clusterIP'> & Partial<ServiceSpec>,
): ServiceSpec {
  return {
    namespace: 'default',
    type: 'ClusterIP',
    ports: [],
    selector: {},
    sessionAffinity: 'None',
    sessionAffinityTimeoutSeconds: 10800,
    externalIPs: [],
    externalTrafficPolicy: 'Cluster',
    internalTrafficPolicy: 'Cluster',
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    ...s,
  };
}
