import { describe, expect, it } from 'vitest';
import { serviceWithDefaults } from '../model/service.js';
import type { NodeSpec, PodSpec, ServiceSpec, TrafficDistribution } from '../model/types.js';
import { computeProxyState } from './endpoints.js';

const pod = (
  name: string,
  node: string,
  labels: Record<string, string>,
  extra: Partial<PodSpec> = {},
): PodSpec => ({
  name,
  node,
  ip: `10.244.0.${name.length}`,
  hostNetwork: false,
  labels,
  ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
  ready: true,
  terminating: false,
  ...extra,
});

const service = (extra: Partial<ServiceSpec> = {}): ServiceSpec =>
  serviceWithDefaults({
    name: 'web',
    clusterIP: '10.96.0.10',
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' }],
    selector: { app: 'web' },
    ...extra,
  });

describe('computeProxyState', () => {
  it('selects pods by label and resolves named target ports per pod', () => {
    const pods = [
      pod('a', 'n1', { app: 'web' }),
      pod(
        'bb',
        'n2',
        { app: 'web' },
        { ports: [{ name: 'http', containerPort: 9000, protocol: 'TCP' }] },
      ),
      pod('ccc', 'n2', { app: 'other' }),
    ];
    const state = computeProxyState({ services: [service()], pods, nodes: [] });
    expect(state.servicePorts).toHaveLength(1);
    const sp = state.servicePorts[0]!;
    expect(sp.name).toBe('default/web:http');
    expect(sp.endpoints.map((e) => [e.podName, e.port, e.nodeName])).toEqual([
      ['a', 8080, 'n1'],
      ['bb', 9000, 'n2'],
    ]);
  });

  it('skips pods that do not declare a named target port', () => {
    const pods = [pod('a', 'n1', { app: 'web' }, { ports: [] })];
    expect(
      computeProxyState({ services: [service()], pods, nodes: [] }).servicePorts[0]!.endpoints,
    ).toEqual([]);
  });

  it('gives a Service without selector no endpoints', () => {
    const pods = [pod('a', 'n1', { app: 'web' })];
    expect(
      computeProxyState({ services: [service({ selector: {} })], pods, nodes: [] }).servicePorts[0]!
        .endpoints,
    ).toEqual([]);
  });

  it('maps readiness and termination to EndpointSlice conditions', () => {
    const pods = [
      pod('a', 'n1', { app: 'web' }, { ready: false }),
      pod('bb', 'n1', { app: 'web' }, { terminating: true }),
    ];
    const [notReady, terminating] = computeProxyState({ services: [service()], pods, nodes: [] })
      .servicePorts[0]!.endpoints;
    expect(notReady).toMatchObject({ ready: false, serving: false, terminating: false });
    expect(terminating).toMatchObject({ ready: false, serving: true, terminating: true });
  });
});

describe('computeProxyState: zones and hints, as the EndpointSlice controller writes them', () => {
  const node = (name: string, zone?: string): NodeSpec => ({
    name,
    ip: '172.18.0.2',
    podCIDR: '10.244.0.0/24',
    labels: zone ? { 'topology.kubernetes.io/zone': zone } : {},
  });
  const nodes = [node('n1', 'zone-a'), node('n2', 'zone-b'), node('n3')];
  const pods = [
    pod('a', 'n1', { app: 'web' }),
    pod('bb', 'n2', { app: 'web' }),
    pod('ccc', 'n3', { app: 'web' }),
    pod('dddd', 'n1', { app: 'web' }, { ready: false }),
    pod('eeeee', 'n2', { app: 'web' }, { terminating: true }),
  ];
  const endpoints = (trafficDistribution?: TrafficDistribution) =>
    computeProxyState({
      services: [service(trafficDistribution ? { trafficDistribution } : {})],
      pods,
      nodes,
    }).servicePorts[0]!.endpoints.map((e) => ({
      pod: e.podName,
      zone: e.zone,
      zoneHints: e.zoneHints,
      nodeHints: e.nodeHints,
    }));

  it("gives every endpoint its node's zone label (podToEndpoint), and no hints without trafficDistribution", () => {
    expect(endpoints()).toEqual([
      { pod: 'a', zone: 'zone-a' },
      { pod: 'bb', zone: 'zone-b' },
      { pod: 'ccc' },
      { pod: 'dddd', zone: 'zone-a' },
      { pod: 'eeeee', zone: 'zone-b' },
    ]);
  });

  it.each(['PreferClose', 'PreferSameZone'] as const)(
    '%s: a zone hint on each ready endpoint with a zone (preferCloseHeuristic)',
    (td) => {
      expect(endpoints(td)).toEqual([
        { pod: 'a', zone: 'zone-a', zoneHints: ['zone-a'] },
        { pod: 'bb', zone: 'zone-b', zoneHints: ['zone-b'] },
        // No zone, no hint: kube-proxy then ignores every zone hint of the Service.
        { pod: 'ccc' },
        // Not ready (and terminating): never hinted.
        { pod: 'dddd', zone: 'zone-a' },
        { pod: 'eeeee', zone: 'zone-b' },
      ]);
    },
  );

  it('PreferSameNode: a node hint on each ready endpoint as well', () => {
    expect(endpoints('PreferSameNode')).toEqual([
      { pod: 'a', zone: 'zone-a', zoneHints: ['zone-a'], nodeHints: ['n1'] },
      { pod: 'bb', zone: 'zone-b', zoneHints: ['zone-b'], nodeHints: ['n2'] },
      { pod: 'ccc', nodeHints: ['n3'] },
      { pod: 'dddd', zone: 'zone-a' },
      { pod: 'eeeee', zone: 'zone-b' },
    ]);
  });
});
