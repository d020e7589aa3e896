import type { TrafficDistribution } from '../model/types.js';
import type { Endpoint } from '../proxy/types.js';

/**
 * The hints kube-controller-manager's EndpointSlice controller puts on a Service's endpoints for
 * its spec.trafficDistribution (k8s.io/endpointslice trafficdist/trafficdist.go, v0.37.2), so that
 * a lab without the control plane hands its proxies what one with it does. A control-plane lab
 * checks the two agree: ControlPlane.waitForTopology compares this derivation with the
 * controller's EndpointSlices, hints included.
 *
 * - No trafficDistribution: defaultHeuristic, no hints at all.
 * - PreferClose, PreferSameZone, PreferSameNode (closeTrafficDistribution; the last two accepted
 *   since PreferSameTrafficDistribution went GA in 1.35): preferCloseHeuristic.update, which hints
 *   only ready endpoints, each for its own zone when it has one (the Node's zone label, copied to
 *   the endpoint by podToEndpoint) and, for PreferSameNode, also for its own node.
 *
 * A not-ready endpoint has none: the controller builds it afresh from its Pod when its conditions
 * change (podToEndpoint sets no hints) and update() skips it. kube-proxy ignores the hints of
 * endpoints that are not ready anyway (topology.go topologyModeFromHints).
 */
export function endpointHints(
  trafficDistribution: TrafficDistribution | undefined,
  endpoint: Pick<Endpoint, 'ready' | 'zone' | 'nodeName'>,
): Pick<Endpoint, 'zoneHints' | 'nodeHints'> {
  if (trafficDistribution === undefined || !endpoint.ready) return {};
  const forNodes = trafficDistribution === 'PreferSameNode' && endpoint.nodeName !== '';
  return {
    ...(endpoint.zone ? { zoneHints: [endpoint.zone] } : {}),
    ...(forNodes ? { nodeHints: [endpoint.nodeName] } : {}),
  };
}
