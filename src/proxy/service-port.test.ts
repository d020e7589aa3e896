import { describe, expect, it } from 'vitest';
import { serviceWithDefaults } from '../model/service.js';
import type { ServicePort, ServiceSpec } from '../model/types.js';
import {
  categorizeEndpoints,
  ipvsDestinations,
  servicePortInfo,
  topologyMode,
  sourceRangesAllowNode,
  trafficHasEndpoints,
  type ServicePortInfo,
} from './service-port.js';
import type { Endpoint, ServicePortState } from './types.js';

const NODE = 'node-a';

/** Port `web:http` of a Service with `spec`; NodePort and LoadBalancer types get NodePort 30080. */
function servicePort(
  spec: Partial<ServiceSpec>,
  endpoints: Endpoint[] = [],
  port: Partial<ServicePort> = {},
): ServicePortState {
  const nodePort = spec.type === undefined || spec.type === 'ClusterIP' ? undefined : 30080;
  const p: ServicePort = { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort, ...port }; // prettier-ignore
  const service = serviceWithDefaults({
    name: 'web',
    clusterIP: '10.96.0.10',
    ports: [p],
    ...spec,
  });
  return { service, port: p, name: 'default/web:http', endpoints };
}

/** Endpoint `10.0.0.<n>:80`, on this node when `local`. */
function ep(n: number, local: boolean, conditions: Partial<Endpoint> = {}): Endpoint {
  return {
    ip: `10.0.0.${n}`,
    port: 80,
    protocol: 'TCP',
    nodeName: local ? NODE : 'node-b',
    podName: `pod-${n}`,
    ready: true,
    serving: true,
    terminating: false,
    ...conditions,
  };
}
const TERMINATING = { ready: false, serving: true, terminating: true };
const NOT_SERVING = { ready: false, serving: false, terminating: false };

const names = (eps: readonly Endpoint[]) => eps.map((e) => `${e.ip}:${e.port}`).sort();

const NODEPORT = { type: 'NodePort' } as const;
const ITP_LOCAL = { internalTrafficPolicy: 'Local' } as const;
const ETP_LOCAL = { externalTrafficPolicy: 'Local' } as const;
const EXTERNAL_IP = { externalIPs: ['192.0.2.10'] };

describe('servicePortInfo: kube-proxy ServicePort predicates', () => {
  const cases: {
    name: string;
    spec: Partial<ServiceSpec>;
    port?: Partial<ServicePort>;
    /** The predicates that hold; the others are false. */
    holds: (keyof ServicePortInfo)[];
  }[] = [
    { name: 'ClusterIP', spec: {}, holds: ['usesClusterEndpoints'] },
    {
      name: 'ClusterIP, iTP Local',
      spec: ITP_LOCAL,
      holds: ['internalPolicyLocal', 'usesLocalEndpoints'],
    },
    {
      name: 'NodePort, Cluster policies',
      spec: NODEPORT,
      holds: ['externallyAccessible', 'usesClusterEndpoints'],
    },
    {
      name: 'NodePort, eTP Local',
      spec: { ...NODEPORT, ...ETP_LOCAL },
      holds: ['externallyAccessible', 'externalPolicyLocal', 'usesClusterEndpoints', 'usesLocalEndpoints'], // prettier-ignore
    },
    {
      name: 'NodePort, iTP Local',
      spec: { ...NODEPORT, ...ITP_LOCAL },
      holds: ['externallyAccessible', 'internalPolicyLocal', 'usesClusterEndpoints', 'usesLocalEndpoints'], // prettier-ignore
    },
    {
      // Externally accessible, so it uses cluster endpoints: its external chain short-circuits
      // pod and host traffic to them. svclab's iptables and IPVS planners had false (issue 15).
      name: 'NodePort, iTP Local and eTP Local',
      spec: { ...NODEPORT, ...ITP_LOCAL, ...ETP_LOCAL },
      holds: ['externallyAccessible', 'externalPolicyLocal', 'internalPolicyLocal', 'usesClusterEndpoints', 'usesLocalEndpoints'], // prettier-ignore
    },
    {
      // Externally accessible by its spec, so eTP Local applies. svclab's nftables planner had
      // ExternalPolicyLocal false (issue 15).
      name: 'ClusterIP with externalIPs, eTP Local',
      spec: { ...EXTERNAL_IP, ...ETP_LOCAL },
      holds: ['externallyAccessible', 'externalPolicyLocal', 'usesClusterEndpoints', 'usesLocalEndpoints'], // prettier-ignore
    },
    {
      name: 'ClusterIP with externalIPs, iTP Local and eTP Local',
      spec: { ...EXTERNAL_IP, ...ITP_LOCAL, ...ETP_LOCAL },
      holds: ['externallyAccessible', 'externalPolicyLocal', 'internalPolicyLocal', 'usesClusterEndpoints', 'usesLocalEndpoints'], // prettier-ignore
    },
    {
      name: 'LoadBalancer with an ingress IP and no NodePort, eTP Local',
      spec: { type: 'LoadBalancer', loadBalancerIPs: ['198.51.100.7'], ...ETP_LOCAL },
      port: { nodePort: undefined },
      holds: ['externallyAccessible', 'externalPolicyLocal', 'usesClusterEndpoints', 'usesLocalEndpoints'], // prettier-ignore
    },
    {
      // ExternalPolicyLocal comes from the Service's type, ExternallyAccessible from the port: a
      // LoadBalancer port with neither NodePort nor ingress IP is not reachable from outside, and
      // its eTP selects no local endpoints.
      name: 'LoadBalancer without NodePort or ingress IP, eTP Local',
      spec: { type: 'LoadBalancer', ...ETP_LOCAL },
      port: { nodePort: undefined },
      holds: ['externalPolicyLocal', 'usesClusterEndpoints'],
    },
    {
      // The API rejects this; a planner given it anyway ignores the eTP.
      name: 'ClusterIP without externalIPs, eTP Local',
      spec: ETP_LOCAL,
      holds: ['usesClusterEndpoints'],
    },
  ];
  it.each(cases)('$name', ({ spec, port, holds }) => {
    const info = servicePortInfo(servicePort(spec, [], port));
    expect(Object.keys(info).filter((k) => info[k as keyof ServicePortInfo] === true)).toEqual(
      holds,
    );
  });
});

describe('servicePortInfo.loadBalancerSourceRanges: newBaseServicePortInfo', () => {
  const lb = { type: 'LoadBalancer' as const, loadBalancerIPs: ['198.51.100.7'] };
  const ranges = (written: string[]) =>
    servicePortInfo(servicePort({ ...lb, loadBalancerSourceRanges: written }, []))
      .loadBalancerSourceRanges;
  it('clears host bits and trims, as ParseCIDRSloppy after TrimSpace', () => {
    expect(ranges(['192.0.2.9/24', ' 172.18.0.200/32 '])).toEqual([
      '192.0.2.0/24',
      '172.18.0.200/32',
    ]);
  });
  it('drops what does not parse as IPv4 (the IPv4 proxier ignores IPv6 ranges)', () => {
    expect(ranges(['2001:db8::/32', '10.0.0.0/8', ''])).toEqual(['10.0.0.0/8']);
  });
  it('is empty when one range is zero-masked (IsZeroCIDR: allow any)', () => {
    expect(ranges(['10.0.0.0/8', '0.0.0.0/0'])).toEqual([]);
    expect(ranges([])).toEqual([]);
  });
  it("sourceRangesAllowNode: a range holds the node's IP", () => {
    expect(sourceRangesAllowNode(['172.18.0.0/24'], '172.18.0.2')).toBe(true);
    expect(sourceRangesAllowNode(['172.18.0.200/32'], '172.18.0.2')).toBe(false);
  });
});

describe('categorizeEndpoints: kube-proxy CategorizeEndpoints, no topology hints', () => {
  const BOTH_LOCAL = { ...NODEPORT, ...ITP_LOCAL, ...ETP_LOCAL };
  const cases: {
    name: string;
    spec: Partial<ServiceSpec>;
    endpoints: Endpoint[];
    cluster: string[];
    local: string[];
    /** allReachableEndpoints. */
    all: string[];
    hasAny: boolean;
  }[] = [
    { name: 'no endpoints', spec: {}, endpoints: [], cluster: [], local: [], all: [], hasAny: false }, // prettier-ignore
    {
      name: 'Cluster policy, one ready and one not serving',
      spec: {},
      endpoints: [ep(0, false, NOT_SERVING), ep(1, false)],
      cluster: ['10.0.0.1:80'],
      local: [],
      all: ['10.0.0.1:80'],
      hasAny: true,
    },
    {
      name: 'Cluster policy, nothing serving',
      spec: {},
      endpoints: [ep(0, false, NOT_SERVING)],
      cluster: [],
      local: [],
      all: [],
      hasAny: false,
    },
    {
      name: 'Cluster policy, all terminating: the serving-terminating ones (KEP-1669)',
      spec: {},
      endpoints: [ep(0, true, TERMINATING), ep(1, false, TERMINATING)],
      cluster: ['10.0.0.0:80', '10.0.0.1:80'],
      local: [],
      all: ['10.0.0.0:80', '10.0.0.1:80'],
      hasAny: true,
    },
    {
      name: 'Cluster policy, one ready: terminating ones are not used',
      spec: {},
      endpoints: [ep(0, false, TERMINATING), ep(1, false)],
      cluster: ['10.0.0.1:80'],
      local: [],
      all: ['10.0.0.1:80'],
      hasAny: true,
    },
    {
      name: 'internal-only iTP Local, all remote: nothing here, but endpoints elsewhere',
      spec: ITP_LOCAL,
      endpoints: [ep(0, false), ep(1, false)],
      cluster: [],
      local: [],
      all: [],
      hasAny: true,
    },
    {
      name: 'internal-only iTP Local, one local: no cluster endpoints at all',
      spec: ITP_LOCAL,
      endpoints: [ep(0, false), ep(1, true)],
      cluster: [],
      local: ['10.0.0.1:80'],
      all: ['10.0.0.1:80'],
      hasAny: true,
    },
    {
      name: 'NodePort, iTP Local, one local',
      spec: { ...NODEPORT, ...ITP_LOCAL },
      endpoints: [ep(0, true), ep(1, false)],
      cluster: ['10.0.0.0:80', '10.0.0.1:80'],
      local: ['10.0.0.0:80'],
      all: ['10.0.0.0:80', '10.0.0.1:80'],
      hasAny: true,
    },
    {
      name: 'NodePort, eTP Local, one local',
      spec: { ...NODEPORT, ...ETP_LOCAL },
      endpoints: [ep(0, true), ep(1, false)],
      cluster: ['10.0.0.0:80', '10.0.0.1:80'],
      local: ['10.0.0.0:80'],
      all: ['10.0.0.0:80', '10.0.0.1:80'],
      hasAny: true,
    },
    {
      name: 'NodePort, both policies Local, one local',
      spec: BOTH_LOCAL,
      endpoints: [ep(0, true), ep(1, false)],
      cluster: ['10.0.0.0:80', '10.0.0.1:80'],
      local: ['10.0.0.0:80'],
      all: ['10.0.0.0:80', '10.0.0.1:80'],
      hasAny: true,
    },
    {
      name: 'NodePort, both policies Local, all remote: the cluster endpoints stay',
      spec: BOTH_LOCAL,
      endpoints: [ep(0, false), ep(1, false)],
      cluster: ['10.0.0.0:80', '10.0.0.1:80'],
      local: [],
      all: ['10.0.0.0:80', '10.0.0.1:80'],
      hasAny: true,
    },
    {
      name: 'NodePort, both policies Local, all remote and terminating',
      spec: BOTH_LOCAL,
      endpoints: [ep(0, false, TERMINATING), ep(1, false, TERMINATING)],
      cluster: ['10.0.0.0:80', '10.0.0.1:80'],
      local: [],
      all: ['10.0.0.0:80', '10.0.0.1:80'],
      hasAny: true,
    },
    {
      // No ready endpoint is local, so the local list falls back to terminating ones on its
      // own while the cluster list keeps the ready one: reachable is their union.
      name: 'NodePort, eTP Local, local endpoints only terminating',
      spec: { ...NODEPORT, ...ETP_LOCAL },
      endpoints: [ep(0, false), ep(1, true, NOT_SERVING), ep(2, true, TERMINATING), ep(3, false, TERMINATING)], // prettier-ignore
      cluster: ['10.0.0.0:80'],
      local: ['10.0.0.2:80'],
      all: ['10.0.0.0:80', '10.0.0.2:80'],
      hasAny: true,
    },
    {
      name: 'ClusterIP with externalIPs, eTP Local, one local',
      spec: { ...EXTERNAL_IP, ...ETP_LOCAL },
      endpoints: [ep(0, true), ep(1, false)],
      cluster: ['10.0.0.0:80', '10.0.0.1:80'],
      local: ['10.0.0.0:80'],
      all: ['10.0.0.0:80', '10.0.0.1:80'],
      hasAny: true,
    },
  ];
  it.each(cases)('$name', ({ spec, endpoints, cluster, local, all, hasAny }) => {
    const sp = servicePort(spec, endpoints);
    const cat = categorizeEndpoints(sp, servicePortInfo(sp), NODE);
    expect({
      cluster: names(cat.clusterEndpoints),
      local: names(cat.localEndpoints),
      all: names(cat.allReachableEndpoints),
      hasAny: cat.hasAnyEndpoints,
    }).toEqual({ cluster, local, all, hasAny });
  });
});

describe('categorizeEndpoints with topology hints: kube-proxy TestCategorizeEndpoints (topology_test.go)', () => {
  /** Endpoint `10.0.0.<n>:80` hinted for `zones` (and `nodes`), remote unless `local`. */
  const hinted = (
    n: number,
    zones: string[],
    o: { local?: boolean; nodes?: string[]; ready?: boolean } = {},
  ): Endpoint =>
    ep(n, o.local ?? false, {
      ...(zones.length > 0 ? { zoneHints: zones } : {}),
      ...(o.nodes ? { nodeHints: o.nodes } : {}),
      ...(o.ready === false ? NOT_SERVING : {}),
    });
  const FOUR_ZONES = [hinted(0, ['zone-a']), hinted(1, ['zone-b']), hinted(2, ['zone-c']), hinted(3, ['zone-a'])]; // prettier-ignore
  const cases: {
    name: string;
    zone: string;
    node?: string;
    spec?: Partial<ServiceSpec>;
    endpoints: Endpoint[];
    cluster: string[];
    local?: string[];
    /** allReachableEndpoints, when it is not the cluster list. */
    all?: string[];
  }[] = [
    {
      name: "every endpoint hinted and some for the node's zone: only those",
      zone: 'zone-a',
      endpoints: FOUR_ZONES,
      cluster: ['10.0.0.0:80', '10.0.0.3:80'],
    },
    {
      name: 'eTP Local: topology ignored for the local endpoints, reachable is the union',
      zone: 'zone-a',
      spec: { ...NODEPORT, ...ETP_LOCAL },
      endpoints: [hinted(0, ['zone-a'], { local: true }), hinted(1, ['zone-b'], { local: true }), hinted(2, ['zone-c']), hinted(3, ['zone-a'])], // prettier-ignore
      cluster: ['10.0.0.0:80', '10.0.0.3:80'],
      local: ['10.0.0.0:80', '10.0.0.1:80'],
      all: ['10.0.0.0:80', '10.0.0.1:80', '10.0.0.3:80'],
    },
    {
      name: 'iTP Local on a NodePort: topology ignored for the local endpoints',
      zone: 'zone-a',
      spec: { ...NODEPORT, ...ITP_LOCAL },
      endpoints: [hinted(0, ['zone-a'], { local: true }), hinted(1, ['zone-b'], { local: true }), hinted(2, ['zone-c']), hinted(3, ['zone-a'])], // prettier-ignore
      cluster: ['10.0.0.0:80', '10.0.0.3:80'],
      local: ['10.0.0.0:80', '10.0.0.1:80'],
      all: ['10.0.0.0:80', '10.0.0.1:80', '10.0.0.3:80'],
    },
    {
      name: 'node without a zone label: no filtering',
      zone: '',
      endpoints: [hinted(0, ['zone-a'])],
      cluster: ['10.0.0.0:80'],
    },
    {
      name: "no endpoint for the node's zone: no filtering",
      zone: 'zone-b',
      endpoints: [hinted(0, ['zone-a']), hinted(1, ['zone-c'])],
      cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    },
    {
      name: 'an unready endpoint is not used, hinted or not',
      zone: 'zone-a',
      endpoints: [hinted(0, ['zone-a']), hinted(1, ['zone-b']), hinted(2, ['zone-c']), hinted(3, ['zone-a'], { ready: false })], // prettier-ignore
      cluster: ['10.0.0.0:80'],
    },
    {
      name: "only unready endpoints in the node's zone: no filtering",
      zone: 'zone-a',
      endpoints: [hinted(0, ['zone-a'], { ready: false }), hinted(1, ['zone-b']), hinted(2, ['zone-c']), hinted(3, ['zone-a'], { ready: false })], // prettier-ignore
      cluster: ['10.0.0.1:80', '10.0.0.2:80'],
    },
    {
      name: 'one ready endpoint without a hint: no filtering',
      zone: 'zone-a',
      endpoints: [
        hinted(0, ['zone-a']),
        hinted(1, ['zone-b']),
        hinted(2, []),
        hinted(3, ['zone-a']),
      ],
      cluster: ['10.0.0.0:80', '10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'],
    },
    {
      name: 'an unready endpoint without a hint does not stop the filtering',
      zone: 'zone-a',
      endpoints: [hinted(0, ['zone-a']), hinted(1, ['zone-b']), hinted(2, [], { ready: false })],
      cluster: ['10.0.0.0:80'],
    },
    {
      name: "several hints per endpoint: any endpoint hinted for the node's zone",
      zone: 'zone-c',
      endpoints: [hinted(0, ['zone-a', 'zone-b', 'zone-c']), hinted(1, ['zone-b', 'zone-c']), hinted(2, ['zone-b', 'zone-d']), hinted(3, ['zone-c'])], // prettier-ignore
      cluster: ['10.0.0.0:80', '10.0.0.1:80', '10.0.0.3:80'],
    },
    {
      name: 'PreferSameNode: only the endpoints hinted for this node',
      zone: 'zone-a',
      node: 'node-1',
      endpoints: [hinted(0, ['zone-a'], { nodes: ['node-1'] }), hinted(1, ['zone-b'], { nodes: ['node-2'] }), hinted(2, ['zone-a'], { nodes: ['node-4'] })], // prettier-ignore
      cluster: ['10.0.0.0:80'],
    },
    {
      name: 'PreferSameNode ignored when an endpoint has no hints at all',
      zone: 'zone-a',
      node: 'node-1',
      endpoints: [hinted(0, ['zone-a'], { nodes: ['node-1'] }), hinted(1, []), hinted(2, ['zone-a'], { nodes: ['node-4'] })], // prettier-ignore
      cluster: ['10.0.0.0:80', '10.0.0.1:80', '10.0.0.2:80'],
    },
    {
      name: 'PreferSameNode with no endpoint for this node falls back to the zone',
      zone: 'zone-a',
      node: 'node-0',
      endpoints: [hinted(0, ['zone-a'], { nodes: ['node-1'] }), hinted(1, ['zone-b'], { nodes: ['node-2'] }), hinted(2, ['zone-a'], { nodes: ['node-4'] })], // prettier-ignore
      cluster: ['10.0.0.0:80', '10.0.0.2:80'],
    },
    {
      name: 'terminating endpoints only: topology does not apply, the serving ones are used',
      zone: 'zone-a',
      endpoints: [ep(0, false, { ...TERMINATING }), ep(1, false, { ...TERMINATING })],
      cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    },
  ];
  it.each(cases)('$name', ({ zone, node, spec, endpoints, cluster, local, all }) => {
    const sp = servicePort(spec ?? {}, endpoints);
    const cat = categorizeEndpoints(sp, servicePortInfo(sp), node ?? NODE, zone);
    expect({
      cluster: names(cat.clusterEndpoints),
      local: names(cat.localEndpoints),
      all: names(cat.allReachableEndpoints),
      hasAny: cat.hasAnyEndpoints,
    }).toEqual({ cluster, local: local ?? [], all: all ?? cluster, hasAny: true });
  });

  it('topologyMode: the mode each case above picks', () => {
    expect(topologyMode(FOUR_ZONES, NODE, 'zone-a')).toBe('PreferSameZone');
    expect(topologyMode(FOUR_ZONES, NODE, 'zone-d')).toBe('');
    expect(topologyMode(FOUR_ZONES, NODE, '')).toBe('');
    expect(topologyMode([hinted(0, ['zone-a'], { nodes: [NODE] })], NODE, 'zone-b')).toBe(
      'PreferSameNode',
    );
    expect(topologyMode([hinted(0, ['zone-a'], { ready: false })], NODE, 'zone-a')).toBe('');
  });
});

describe('trafficHasEndpoints: whether ClusterIP and external traffic can go anywhere', () => {
  const cases: {
    name: string;
    spec: Partial<ServiceSpec>;
    endpoints: Endpoint[];
    internal: boolean;
    external: boolean;
  }[] = [
    { name: 'no endpoints', spec: NODEPORT, endpoints: [], internal: false, external: false },
    {
      name: 'Cluster policies, endpoints elsewhere',
      spec: NODEPORT,
      endpoints: [ep(0, false)],
      internal: true,
      external: true,
    },
    {
      name: 'iTP Local, endpoints elsewhere',
      spec: { ...NODEPORT, ...ITP_LOCAL },
      endpoints: [ep(0, false)],
      internal: false,
      external: true,
    },
    {
      name: 'eTP Local, endpoints elsewhere',
      spec: { ...NODEPORT, ...ETP_LOCAL },
      endpoints: [ep(0, false)],
      internal: true,
      external: false,
    },
    {
      name: 'both Local, endpoints elsewhere',
      spec: { ...NODEPORT, ...ITP_LOCAL, ...ETP_LOCAL },
      endpoints: [ep(0, false)],
      internal: false,
      external: false,
    },
    {
      name: 'both Local, a local endpoint',
      spec: { ...NODEPORT, ...ITP_LOCAL, ...ETP_LOCAL },
      endpoints: [ep(0, true)],
      internal: true,
      external: true,
    },
    {
      name: 'ClusterIP with externalIPs, eTP Local, endpoints elsewhere',
      spec: { ...EXTERNAL_IP, ...ETP_LOCAL },
      endpoints: [ep(0, false)],
      internal: true,
      external: false,
    },
  ];
  it.each(cases)('$name', ({ spec, endpoints, internal, external }) => {
    const sp = servicePort(spec, endpoints);
    const info = servicePortInfo(sp);
    expect(trafficHasEndpoints(info, categorizeEndpoints(sp, info, NODE))).toEqual({
      hasInternalEndpoints: internal,
      hasExternalEndpoints: external,
    });
  });
});

describe('ipvsDestinations: the real servers of kube-proxy IPVS syncEndpoint', () => {
  const BOTH_LOCAL = { ...NODEPORT, ...ITP_LOCAL, ...ETP_LOCAL };
  const cases: {
    name: string;
    spec: Partial<ServiceSpec>;
    endpoints: Endpoint[];
    onlyNodeLocal: boolean;
    want: string[];
  }[] = [
    {
      name: 'not node-local: the cluster endpoints',
      spec: NODEPORT,
      endpoints: [ep(0, true), ep(1, false)],
      onlyNodeLocal: false,
      want: ['10.0.0.0:80', '10.0.0.1:80'],
    },
    {
      name: 'node-local with a local endpoint: that one only',
      spec: BOTH_LOCAL,
      endpoints: [ep(0, true), ep(1, false)],
      onlyNodeLocal: true,
      want: ['10.0.0.0:80'],
    },
    {
      // kubernetes PR 97081. svclab's IPVS planner skipped this fallback for a Service with
      // both policies Local (issue 15): it had no cluster endpoints to fall back to.
      name: 'node-local without a local endpoint: the cluster endpoints (fallback)',
      spec: BOTH_LOCAL,
      endpoints: [ep(1, false)],
      onlyNodeLocal: true,
      want: ['10.0.0.1:80'],
    },
    {
      name: 'internal-only iTP Local without a local endpoint: nothing to fall back to',
      spec: ITP_LOCAL,
      endpoints: [ep(1, false)],
      onlyNodeLocal: true,
      want: [],
    },
  ];
  it.each(cases)('$name', ({ spec, endpoints, onlyNodeLocal, want }) => {
    const sp = servicePort(spec, endpoints);
    const cat = categorizeEndpoints(sp, servicePortInfo(sp), NODE);
    expect(names(ipvsDestinations(cat, onlyNodeLocal))).toEqual(want);
  });
});
