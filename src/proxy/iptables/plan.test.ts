import { describe, expect, it } from 'vitest';
import type { ServiceSpec } from '../../model/types.js';
import { endpointChain, servicePortChains } from '../shared/hash.js';
import type { Endpoint, ProxyState } from '../types.js';
import { NODE, endpoint, service, servicePorts } from './fixtures.test-helper.js';
import { planIptables, type IptablesPlan, type PlanInput } from './plan.js';
import { normalizeRule, type Table } from './ruleset.js';
import { tracePacket, undeclaredJumps, type Packet } from './tracer.js';

const LOCAL = ['172.18.0.2'];

function plan(
  state: ProxyState,
  previous: IptablesPlan | null = null,
  strategy: 'full' | 'partial' = 'full',
) {
  const p = planIptables({ node: NODE, state, previous, strategy });
  // What iptables-restore would refuse (svclab issue 15), for every plan of these tests.
  expect(undeclaredJumps(p.desired)).toEqual([]);
  return p;
}

function stateOf(...services: [ServiceSpec, Endpoint[]][]): ProxyState {
  return { servicePorts: services.flatMap(([s, eps]) => servicePorts(s, eps)) };
}

/** A chain's rules, normalised to iptables-save form. */
function rules(p: IptablesPlan, table: Table, chain: string): string[] | undefined {
  return p.desired[table].get(chain)?.map((r) => normalizeRule(r));
}

/** Expected rules written in iptables-save form, normalised the same way. */
function expected(...lines: string[]): string[] {
  return lines.map((l) => normalizeRule(l));
}

function trace(p: IptablesPlan, packet: Packet) {
  return tracePacket(p.desired, packet, { localAddresses: LOCAL });
}

const WEB = servicePortChains('default/web:http', 'TCP');
const sep = (ip: string, name = 'default/web:http', port = 8080, proto = 'TCP') =>
  endpointChain(name, proto, ip, port);
const C = (text: string) => `-m comment --comment "${text}"`;

describe('planIptables: Service shapes', () => {
  it('ClusterIP with 3 endpoints: masquerade off-cluster clients, split 1/3, 1/2, rest', () => {
    const p = plan(
      stateOf([
        service(),
        [
          endpoint('10.244.1.2', 'node-b'),
          endpoint('10.244.1.3', 'node-b'),
          endpoint('10.244.2.4', 'node-c'),
        ],
      ]),
    );
    expect(rules(p, 'nat', 'KUBE-SERVICES')).toEqual(
      expected(
        `-d 10.96.0.10/32 -p tcp ${C('default/web:http cluster IP')} -m tcp --dport 80 -j ${WEB.cluster}`,
        `${C('kubernetes service nodeports; NOTE: this must be the last rule in this chain')} -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`,
      ),
    );
    expect(rules(p, 'nat', WEB.cluster)).toEqual(
      expected(
        `! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp ${C('default/web:http cluster IP')} -m tcp --dport 80 -j KUBE-MARK-MASQ`,
        `${C('default/web:http -> 10.244.1.2:8080')} -m statistic --mode random --probability 0.3333333333 -j ${sep('10.244.1.2')}`,
        `${C('default/web:http -> 10.244.1.3:8080')} -m statistic --mode random --probability 0.5000000000 -j ${sep('10.244.1.3')}`,
        `${C('default/web:http -> 10.244.2.4:8080')} -j ${sep('10.244.2.4')}`,
      ),
    );
    expect(rules(p, 'nat', sep('10.244.1.3'))).toEqual(
      expected(
        `-s 10.244.1.3/32 -m comment --comment default/web:http -j KUBE-MARK-MASQ`,
        `-p tcp -m comment --comment default/web:http -m tcp -j DNAT --to-destination 10.244.1.3:8080`,
      ),
    );
    // kube-proxy's own formatting reaches the restore input verbatim (%0.10f).
    expect(p.restoreInput).toContain('--probability 0.3333333333 ');
    expect(p.restoreInput).toContain('--probability 0.5000000000 ');
    expect(p.desired.filter.get('KUBE-SERVICES')).toEqual([]);

    const fromPod = trace(p, { src: '10.244.3.9', dst: '10.96.0.10', protocol: 'TCP', dport: 80 });
    expect(fromPod.map((o) => [o.dnat, o.probability.toFixed(4), o.masquerade])).toEqual([
      ['10.244.1.2:8080', '0.3333', false],
      ['10.244.1.3:8080', '0.3333', false],
      ['10.244.2.4:8080', '0.3333', false],
    ]);
    const offCluster = trace(p, {
      src: '172.18.0.9',
      dst: '10.96.0.10',
      protocol: 'TCP',
      dport: 80,
    });
    expect(offCluster.every((o) => o.masquerade && o.dnat)).toBe(true);
    const hairpin = trace(p, { src: '10.244.1.2', dst: '10.96.0.10', protocol: 'TCP', dport: 80 });
    expect(hairpin.find((o) => o.dnat === '10.244.1.2:8080')?.masquerade).toBe(true);
    expect(hairpin.find((o) => o.dnat === '10.244.1.3:8080')?.masquerade).toBe(false);
  });

  it('ClientIP affinity: recent --rcheck rules first, recent --set in each endpoint chain', () => {
    const svc = service({ sessionAffinity: 'ClientIP', sessionAffinityTimeoutSeconds: 60 });
    const p = plan(
      stateOf([svc, [endpoint('10.244.1.2', 'node-b'), endpoint('10.244.1.3', 'node-b')]]),
    );
    const a = sep('10.244.1.2');
    const b = sep('10.244.1.3');
    expect(rules(p, 'nat', WEB.cluster)).toEqual(
      expected(
        `! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp ${C('default/web:http cluster IP')} -m tcp --dport 80 -j KUBE-MARK-MASQ`,
        `${C('default/web:http -> 10.244.1.2:8080')} -m recent --rcheck --seconds 60 --reap --name ${a} --mask 255.255.255.255 --rsource -j ${a}`,
        `${C('default/web:http -> 10.244.1.3:8080')} -m recent --rcheck --seconds 60 --reap --name ${b} --mask 255.255.255.255 --rsource -j ${b}`,
        `${C('default/web:http -> 10.244.1.2:8080')} -m statistic --mode random --probability 0.5000000000 -j ${a}`,
        `${C('default/web:http -> 10.244.1.3:8080')} -j ${b}`,
      ),
    );
    expect(rules(p, 'nat', b)).toEqual(
      expected(
        `-s 10.244.1.3/32 -m comment --comment default/web:http -j KUBE-MARK-MASQ`,
        `-p tcp -m comment --comment default/web:http -m recent --set --name ${b} --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.244.1.3:8080`,
      ),
    );
    const sticky = tracePacket(
      p.desired,
      { src: '10.244.3.9', dst: '10.96.0.10', protocol: 'TCP', dport: 80 },
      { localAddresses: LOCAL, recentHits: [b] },
    );
    expect(sticky.map((o) => [o.dnat, o.probability])).toEqual([['10.244.1.3:8080', 1]]);
  });

  it('NodePort (Cluster policy): KUBE-NODEPORTS → KUBE-EXT (masquerade) → KUBE-SVC', () => {
    const svc = service({
      type: 'NodePort',
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
    });
    const p = plan(stateOf([svc, [endpoint('10.244.1.2', 'node-b')]]));
    expect(rules(p, 'nat', 'KUBE-NODEPORTS')).toEqual(
      expected(
        `-p tcp -m comment --comment default/web:http -m tcp --dport 30080 -j ${WEB.external}`,
      ),
    );
    expect(rules(p, 'nat', WEB.external)).toEqual(
      expected(
        `${C('masquerade traffic for default/web:http external destinations')} -j KUBE-MARK-MASQ`,
        `-j ${WEB.cluster}`,
      ),
    );
    const out = trace(p, { src: '172.18.0.100', dst: '172.18.0.2', protocol: 'TCP', dport: 30080 });
    expect(out).toEqual([
      expect.objectContaining({
        dnat: '10.244.1.2:8080',
        masquerade: true,
        verdict: 'ACCEPT',
        natPath: [
          'KUBE-SERVICES',
          'KUBE-NODEPORTS',
          WEB.external,
          'KUBE-MARK-MASQ',
          WEB.cluster,
          sep('10.244.1.2'),
        ],
      }),
    ]);
    // The NodePort answers on localhost too (route_localnet).
    expect(
      trace(p, { src: '127.0.0.1', dst: '127.0.0.1', protocol: 'TCP', dport: 30080 })[0]?.dnat,
    ).toBe('10.244.1.2:8080');
  });

  const localSvc = service({
    type: 'NodePort',
    externalTrafficPolicy: 'Local',
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
  });

  it('externalTrafficPolicy=Local with a local endpoint: source kept, only local endpoints', () => {
    const p = plan(
      stateOf([localSvc, [endpoint('10.244.0.5', 'node-a'), endpoint('10.244.1.2', 'node-b')]]),
    );
    expect(rules(p, 'nat', WEB.external)).toEqual(
      expected(
        `-s 10.244.0.0/16 ${C('pod traffic for default/web:http external destinations')} -j ${WEB.cluster}`,
        `${C('masquerade LOCAL traffic for default/web:http external destinations')} -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
        `${C('route LOCAL traffic for default/web:http external destinations')} -m addrtype --src-type LOCAL -j ${WEB.cluster}`,
        `-j ${WEB.local}`,
      ),
    );
    expect(rules(p, 'nat', WEB.local)).toEqual(
      expected(`${C('default/web:http -> 10.244.0.5:8080')} -j ${sep('10.244.0.5')}`),
    );
    // ClusterIP traffic still uses every endpoint.
    expect(rules(p, 'nat', WEB.cluster)?.length).toBe(3);
    const external = trace(p, {
      src: '172.18.0.100',
      dst: '172.18.0.2',
      protocol: 'TCP',
      dport: 30080,
    });
    expect(external.map((o) => [o.dnat, o.masquerade])).toEqual([['10.244.0.5:8080', false]]);
    const fromPod = trace(p, {
      src: '10.244.1.7',
      dst: '172.18.0.2',
      protocol: 'TCP',
      dport: 30080,
    });
    expect(fromPod.map((o) => o.dnat).sort()).toEqual(['10.244.0.5:8080', '10.244.1.2:8080']);
  });

  it('externalTrafficPolicy=Local without a local endpoint: external clients are dropped, pods short-circuit', () => {
    const p = plan(stateOf([localSvc, [endpoint('10.244.1.2', 'node-b')]]));
    expect(p.desired.nat.has(WEB.local)).toBe(false);
    expect(rules(p, 'nat', WEB.external)).toEqual(
      expected(
        `-s 10.244.0.0/16 ${C('pod traffic for default/web:http external destinations')} -j ${WEB.cluster}`,
        `${C('masquerade LOCAL traffic for default/web:http external destinations')} -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
        `${C('route LOCAL traffic for default/web:http external destinations')} -m addrtype --src-type LOCAL -j ${WEB.cluster}`,
      ),
    );
    expect(rules(p, 'filter', 'KUBE-EXTERNAL-SERVICES')).toEqual(
      expected(
        `-p tcp ${C('default/web:http has no local endpoints')} -m addrtype --dst-type LOCAL -m tcp --dport 30080 -j DROP`,
      ),
    );
    const external = trace(p, {
      src: '172.18.0.100',
      dst: '172.18.0.2',
      protocol: 'TCP',
      dport: 30080,
    });
    expect(external.map((o) => [o.dnat, o.verdict])).toEqual([[undefined, 'DROP']]);
    const fromPod = trace(p, {
      src: '10.244.1.7',
      dst: '172.18.0.2',
      protocol: 'TCP',
      dport: 30080,
    });
    expect(fromPod.map((o) => [o.dnat, o.verdict])).toEqual([['10.244.1.2:8080', 'ACCEPT']]);
  });

  it('internalTrafficPolicy=Local: the ClusterIP goes to KUBE-SVL with local endpoints only, or is dropped', () => {
    const svc = service({ internalTrafficPolicy: 'Local' });
    const withLocal = plan(
      stateOf([svc, [endpoint('10.244.0.5', 'node-a'), endpoint('10.244.1.2', 'node-b')]]),
    );
    expect(rules(withLocal, 'nat', 'KUBE-SERVICES')?.[0]).toBe(
      normalizeRule(
        `-d 10.96.0.10/32 -p tcp ${C('default/web:http cluster IP')} -m tcp --dport 80 -j ${WEB.local}`,
      ),
    );
    expect(rules(withLocal, 'nat', WEB.local)).toEqual(
      expected(
        `! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp ${C('default/web:http cluster IP')} -m tcp --dport 80 -j KUBE-MARK-MASQ`,
        `${C('default/web:http -> 10.244.0.5:8080')} -j ${sep('10.244.0.5')}`,
      ),
    );
    expect(withLocal.desired.nat.has(WEB.cluster)).toBe(false);
    expect(withLocal.desired.nat.has(sep('10.244.1.2'))).toBe(false);

    const noLocal = plan(stateOf([svc, [endpoint('10.244.1.2', 'node-b')]]));
    expect(rules(noLocal, 'filter', 'KUBE-SERVICES')).toEqual(
      expected(
        `-d 10.96.0.10/32 -p tcp ${C('default/web:http has no local endpoints')} -m tcp --dport 80 -j DROP`,
      ),
    );
    expect(
      [...noLocal.desired.nat.keys()].filter(
        (c) => c.includes('-SVC-') || c.includes('-SVL-') || c.includes('-SEP-'),
      ),
    ).toEqual([]);
    expect(
      trace(noLocal, { src: '10.244.0.9', dst: '10.96.0.10', protocol: 'TCP', dport: 80 }).map(
        (o) => o.verdict,
      ),
    ).toEqual(['DROP']);
  });

  // svclab issue 15: an externally reachable Service with both policies Local used to jump from
  // its KUBE-EXT chain to a KUBE-SVC chain it never declared, and iptables-restore rejected the
  // whole transaction. kube-proxy's UsesClusterEndpoints holds for every externally accessible
  // port: the short circuits for pods and the node need the cluster endpoints.
  describe.each([
    ['NodePort', { type: 'NodePort' as const, ports: [{ name: 'http', protocol: 'TCP' as const, port: 80, targetPort: 8080, nodePort: 30080 }] }, { dst: '172.18.0.2', dport: 30080 }], // prettier-ignore
    ['LoadBalancer', { type: 'LoadBalancer' as const, loadBalancerIPs: ['198.51.100.7'], ports: [{ name: 'http', protocol: 'TCP' as const, port: 80, targetPort: 8080, nodePort: 30080 }] }, { dst: '198.51.100.7', dport: 80 }], // prettier-ignore
    [
      'ClusterIP with externalIPs',
      { externalIPs: ['192.0.2.10'] },
      { dst: '192.0.2.10', dport: 80 },
    ],
  ])('%s with internalTrafficPolicy=Local and externalTrafficPolicy=Local', (_, shape, to) => {
    const svc = service({
      ...shape,
      internalTrafficPolicy: 'Local',
      externalTrafficPolicy: 'Local',
    });
    const external = { src: '172.18.0.100', protocol: 'TCP' as const, ...to };

    it('with a local endpoint: the KUBE-SVC chain the short circuits jump to exists; Local honoured for both', () => {
      const p = plan(
        stateOf([svc, [endpoint('10.244.0.5', 'node-a'), endpoint('10.244.1.2', 'node-b')]]),
      );
      expect(rules(p, 'nat', WEB.external)).toEqual(
        expected(
          `-s 10.244.0.0/16 ${C('pod traffic for default/web:http external destinations')} -j ${WEB.cluster}`,
          `${C('masquerade LOCAL traffic for default/web:http external destinations')} -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
          `${C('route LOCAL traffic for default/web:http external destinations')} -m addrtype --src-type LOCAL -j ${WEB.cluster}`,
          `-j ${WEB.local}`,
        ),
      );
      // Every endpoint, for the short circuits; the ClusterIP itself goes to KUBE-SVL.
      expect(rules(p, 'nat', WEB.cluster)).toEqual(
        expected(
          `${C('default/web:http -> 10.244.0.5:8080')} -m statistic --mode random --probability 0.5000000000 -j ${sep('10.244.0.5')}`,
          `${C('default/web:http -> 10.244.1.2:8080')} -j ${sep('10.244.1.2')}`,
        ),
      );
      expect(rules(p, 'nat', 'KUBE-SERVICES')?.[0]).toContain(`-j ${WEB.local}`);
      // An external client reaches only the local endpoint, with its source kept...
      expect(trace(p, external).map((o) => [o.dnat, o.masquerade])).toEqual([
        ['10.244.0.5:8080', false],
      ]);
      // ...a pod of any node going to the external address reaches every endpoint...
      expect(
        trace(p, { ...external, src: '10.244.1.7' })
          .map((o) => o.dnat)
          .sort(),
      ).toEqual(['10.244.0.5:8080', '10.244.1.2:8080']);
      // ...and the ClusterIP only the local one.
      const internal = trace(p, {
        src: '10.244.1.7',
        dst: '10.96.0.10',
        protocol: 'TCP',
        dport: 80,
      });
      expect(internal.map((o) => o.dnat)).toEqual(['10.244.0.5:8080']);
    });

    it('without a local endpoint: external clients and the ClusterIP are dropped, pods short-circuit', () => {
      const p = plan(stateOf([svc, [endpoint('10.244.1.2', 'node-b')]]));
      expect(p.desired.nat.has(WEB.local)).toBe(false);
      expect(rules(p, 'nat', WEB.cluster)).toEqual(
        expected(`${C('default/web:http -> 10.244.1.2:8080')} -j ${sep('10.244.1.2')}`),
      );
      expect(trace(p, external).map((o) => [o.dnat, o.verdict])).toEqual([[undefined, 'DROP']]);
      expect(trace(p, { ...external, src: '10.244.0.9' }).map((o) => [o.dnat, o.verdict])).toEqual([
        ['10.244.1.2:8080', 'ACCEPT'],
      ]);
      const internal = trace(p, {
        src: '10.244.0.9',
        dst: '10.96.0.10',
        protocol: 'TCP',
        dport: 80,
      });
      expect(internal.map((o) => o.verdict)).toEqual(['DROP']);
    });
  });

  it('no endpoints: REJECT in filter for the ClusterIP, external IPs and the NodePort; no nat chains', () => {
    const svc = service({
      type: 'NodePort',
      externalIPs: ['192.0.2.10'],
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
    });
    const p = plan(
      stateOf([svc, [endpoint('10.244.1.2', 'node-b', { ready: false, serving: false })]]),
    );
    expect(rules(p, 'filter', 'KUBE-SERVICES')).toEqual(
      expected(
        `-d 10.96.0.10/32 -p tcp ${C('default/web:http has no endpoints')} -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable`,
      ),
    );
    expect(rules(p, 'filter', 'KUBE-EXTERNAL-SERVICES')).toEqual(
      expected(
        `-d 192.0.2.10/32 -p tcp ${C('default/web:http has no endpoints')} -m tcp --dport 80 -j REJECT`,
        `-p tcp ${C('default/web:http has no endpoints')} -m addrtype --dst-type LOCAL -m tcp --dport 30080 -j REJECT`,
      ),
    );
    expect([...p.desired.nat.keys()]).toEqual([
      'KUBE-SERVICES',
      'KUBE-NODEPORTS',
      'KUBE-POSTROUTING',
      'KUBE-MARK-MASQ',
    ]);
    expect(
      trace(p, { src: '10.244.0.9', dst: '10.96.0.10', protocol: 'TCP', dport: 80 }).map((o) => [
        o.verdict,
        o.filterPath.at(-1),
      ]),
    ).toEqual([['REJECT', 'KUBE-SERVICES']]);
  });

  it('a terminating endpoint serves when no endpoint is ready (KEP-1669)', () => {
    const p = plan(
      stateOf([
        service(),
        [endpoint('10.244.1.2', 'node-b', { ready: false, serving: true, terminating: true })],
      ]),
    );
    expect(rules(p, 'nat', WEB.cluster)?.at(-1)).toBe(
      normalizeRule(`${C('default/web:http -> 10.244.1.2:8080')} -j ${sep('10.244.1.2')}`),
    );
  });

  it('multi-port TCP+UDP Service: one chain set per port, protocol-specific matches', () => {
    const svc = service({
      name: 'dns',
      clusterIP: '10.96.0.53',
      ports: [
        { name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353 },
        { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 5353 },
      ],
    });
    const p = plan(stateOf([svc, [endpoint('10.244.1.2', 'node-b')]]));
    const udp = servicePortChains('default/dns:dns', 'UDP');
    const tcp = servicePortChains('default/dns:dns-tcp', 'TCP');
    expect(udp.cluster).not.toBe(tcp.cluster);
    expect(rules(p, 'nat', 'KUBE-SERVICES')?.slice(0, 2)).toEqual(
      expected(
        `-d 10.96.0.53/32 -p udp ${C('default/dns:dns cluster IP')} -m udp --dport 53 -j ${udp.cluster}`,
        `-d 10.96.0.53/32 -p tcp ${C('default/dns:dns-tcp cluster IP')} -m tcp --dport 53 -j ${tcp.cluster}`,
      ),
    );
    const udpSep = sep('10.244.1.2', 'default/dns:dns', 5353, 'UDP');
    expect(rules(p, 'nat', udpSep)?.[1]).toBe(
      normalizeRule(
        `-p udp -m comment --comment default/dns:dns -m udp -j DNAT --to-destination 10.244.1.2:5353`,
      ),
    );
    expect(
      trace(p, { src: '10.244.0.9', dst: '10.96.0.53', protocol: 'UDP', dport: 53 })[0]?.dnat,
    ).toBe('10.244.1.2:5353');
  });

  it('externalIPs and LoadBalancer ingress IPs jump to KUBE-EXT from KUBE-SERVICES', () => {
    const svc = service({
      type: 'LoadBalancer',
      externalIPs: ['192.0.2.10'],
      loadBalancerIPs: ['198.51.100.7'],
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
    });
    const p = plan(stateOf([svc, [endpoint('10.244.1.2', 'node-b')]]));
    expect(rules(p, 'nat', 'KUBE-SERVICES')?.slice(0, 3)).toEqual(
      expected(
        `-d 10.96.0.10/32 -p tcp ${C('default/web:http cluster IP')} -m tcp --dport 80 -j ${WEB.cluster}`,
        `-d 192.0.2.10/32 -p tcp ${C('default/web:http external IP')} -m tcp --dport 80 -j ${WEB.external}`,
        `-d 198.51.100.7/32 -p tcp ${C('default/web:http loadbalancer IP')} -m tcp --dport 80 -j ${WEB.external}`,
      ),
    );
    for (const dst of ['192.0.2.10', '198.51.100.7']) {
      const out = trace(p, { src: '172.18.0.100', dst, protocol: 'TCP', dport: 80 });
      expect(out.map((o) => [o.dnat, o.masquerade])).toEqual([['10.244.1.2:8080', true]]);
    }
  });
});

describe('planIptables: healthCheckNodePort', () => {
  const lb = (overrides: Partial<ServiceSpec> = {}) =>
    service({
      type: 'LoadBalancer',
      externalTrafficPolicy: 'Local',
      healthCheckNodePort: 32000,
      ports: [
        { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 },
        { name: 'dns', protocol: 'UDP', port: 53, targetPort: 8053, nodePort: 30053 },
      ],
      ...overrides,
    });

  it('accepts TCP to it in filter KUBE-NODEPORTS, once per Service port, with or without endpoints', () => {
    for (const eps of [
      [endpoint('10.244.0.5', 'node-a')],
      [endpoint('10.244.1.2', 'node-b')],
      [],
    ]) {
      const p = plan(stateOf([lb(), eps]));
      // Ports in name order, as the planner writes a Service's ports; both match TCP.
      expect(rules(p, 'filter', 'KUBE-NODEPORTS')).toEqual(
        expected(
          `-p tcp ${C('default/web:dns health check node port')} -m tcp --dport 32000 -j ACCEPT`,
          `-p tcp ${C('default/web:http health check node port')} -m tcp --dport 32000 -j ACCEPT`,
        ),
      );
      // ...and counted among the filter rules the restore input holds (its first table).
      const filterTable = p.restoreInput.split('COMMIT')[0]!.split('\n');
      expect(p.counts.filterRules).toBe(filterTable.filter((l) => l.startsWith('-A ')).length);
    }
  });

  it('writes nothing where kube-proxy reads no healthCheckNodePort (not LoadBalancer + Local)', () => {
    for (const svc of [
      lb({ externalTrafficPolicy: 'Cluster' }),
      lb({ type: 'NodePort' }),
      lb({ healthCheckNodePort: undefined }),
    ]) {
      const p = plan(stateOf([svc, [endpoint('10.244.0.5', 'node-a')]]));
      expect(rules(p, 'filter', 'KUBE-NODEPORTS')).toEqual([]);
    }
  });

  it('a partial sync rewrites it when only the healthCheckNodePort changed', () => {
    const eps = [endpoint('10.244.0.5', 'node-a')];
    const first = plan(stateOf([lb(), eps]));
    const next = plan(stateOf([lb({ healthCheckNodePort: 32001 }), eps]), first, 'partial');
    expect(rules(next, 'filter', 'KUBE-NODEPORTS')?.every((r) => r.includes('--dport 32001'))).toBe(
      true,
    );
  });
});

describe('planIptables: trafficDistribution (zone and node hints, topology.go)', () => {
  const ZONED = { ...NODE, zone: 'zone-a' };
  const zoned = (ip: string, node: string, zone: string, extra: Partial<Endpoint> = {}) =>
    endpoint(ip, node, { zone, zoneHints: [zone], ...extra });
  const hinted = [
    zoned('10.244.0.5', 'node-a', 'zone-a'),
    zoned('10.244.1.2', 'node-b', 'zone-b'),
    zoned('10.244.3.2', 'node-d', 'zone-a'),
  ];
  const zonePlan = (eps: Endpoint[], node: PlanInput['node'] = ZONED, svc = service()) =>
    planIptables({ node, state: stateOf([svc, eps]), previous: null, strategy: 'full' });

  it("every endpoint hinted: KUBE-SVC holds only the node's zone's, and no chain for the others", () => {
    const p = zonePlan(hinted);
    expect(rules(p, 'nat', WEB.cluster)).toEqual(
      expected(
        `! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp ${C('default/web:http cluster IP')} -m tcp --dport 80 -j KUBE-MARK-MASQ`,
        `${C('default/web:http -> 10.244.0.5:8080')} -m statistic --mode random --probability 0.5000000000 -j ${sep('10.244.0.5')}`,
        `${C('default/web:http -> 10.244.3.2:8080')} -j ${sep('10.244.3.2')}`,
      ),
    );
    expect(p.desired.nat.has(sep('10.244.1.2'))).toBe(false);
  });

  it("an endpoint without a hint, or a node outside the hints' zones: every endpoint", () => {
    const unhinted = [...hinted.slice(0, 2), endpoint('10.244.2.2', 'node-c')];
    expect(rules(zonePlan(unhinted), 'nat', WEB.cluster)).toHaveLength(4);
    expect(rules(zonePlan(hinted, { ...NODE, zone: 'zone-c' }), 'nat', WEB.cluster)).toHaveLength(4); // prettier-ignore
    expect(rules(zonePlan(hinted, NODE), 'nat', WEB.cluster)).toHaveLength(4);
  });

  it('node hints (PreferSameNode): only the endpoints hinted for this node', () => {
    const p = zonePlan(hinted.map((e) => ({ ...e, nodeHints: [e.nodeName] })));
    expect(rules(p, 'nat', WEB.cluster)).toEqual(
      expected(
        `! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp ${C('default/web:http cluster IP')} -m tcp --dport 80 -j KUBE-MARK-MASQ`,
        `${C('default/web:http -> 10.244.0.5:8080')} -j ${sep('10.244.0.5')}`,
      ),
    );
  });

  it('eTP Local: KUBE-SVL keeps a local endpoint hinted for another zone, KUBE-SVC does not', () => {
    const svc = service({
      type: 'NodePort',
      externalTrafficPolicy: 'Local',
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
    });
    const eps = [zoned('10.244.0.5', 'node-a', 'zone-b'), zoned('10.244.3.2', 'node-d', 'zone-a')];
    const p = zonePlan(eps, ZONED, svc);
    expect(rules(p, 'nat', WEB.local)).toEqual(
      expected(`${C('default/web:http -> 10.244.0.5:8080')} -j ${sep('10.244.0.5')}`),
    );
    expect(rules(p, 'nat', WEB.cluster)?.slice(1)).toEqual(
      expected(`${C('default/web:http -> 10.244.3.2:8080')} -j ${sep('10.244.3.2')}`),
    );
    // Both endpoints' chains exist: allLocallyReachableEndpoints is the union.
    expect(p.desired.nat.has(sep('10.244.0.5'))).toBe(true);
  });

  it('a partial sync rewrites a Service whose hints changed, and every Service when the zone did', () => {
    const first = zonePlan(hinted);
    const unhinted = hinted.map((e) => ({ ...e, zoneHints: undefined }));
    const second = planIptables({ node: ZONED, state: stateOf([service(), unhinted]), previous: first, strategy: 'partial' }); // prettier-ignore
    expect(second.written.nat).toContain(WEB.cluster);
    expect(rules(second, 'nat', WEB.cluster)).toHaveLength(4);
    const moved = planIptables({ node: { ...NODE, zone: 'zone-b' }, state: stateOf([service(), hinted]), previous: first, strategy: 'partial' }); // prettier-ignore
    expect(moved.written.nat).toContain(WEB.cluster);
    expect(rules(moved, 'nat', WEB.cluster)?.slice(1)).toEqual(
      expected(`${C('default/web:http -> 10.244.1.2:8080')} -j ${sep('10.244.1.2')}`),
    );
  });
});

describe('planIptables: loadBalancerSourceRanges (KUBE-FW, KUBE-PROXY-FIREWALL)', () => {
  const lb = (ranges: string[], extra: Partial<ServiceSpec> = {}) =>
    service({
      type: 'LoadBalancer',
      loadBalancerIPs: ['198.51.100.7'],
      loadBalancerSourceRanges: ranges,
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
      ...extra,
    });
  const eps = [endpoint('10.244.1.2', 'node-b')];
  const lbIP = { dst: '198.51.100.7', protocol: 'TCP' as const, dport: 80 };

  it('sends LB traffic through KUBE-FW: allowed sources on to KUBE-EXT, the rest left for KUBE-PROXY-FIREWALL', () => {
    const p = plan(stateOf([lb(['192.0.2.0/24', '203.0.113.9/32']), eps]));
    expect(rules(p, 'nat', 'KUBE-SERVICES')).toContain(
      normalizeRule(
        `-d 198.51.100.7/32 -p tcp ${C('default/web:http loadbalancer IP')} -m tcp --dport 80 -j ${WEB.firewall}`,
      ),
    );
    expect(rules(p, 'nat', WEB.firewall)).toEqual(
      expected(
        `-s 192.0.2.0/24 ${C('default/web:http loadbalancer IP')} -j ${WEB.external}`,
        `-s 203.0.113.9/32 ${C('default/web:http loadbalancer IP')} -j ${WEB.external}`,
        C('other traffic to default/web:http will be dropped by KUBE-PROXY-FIREWALL'),
      ),
    );
    expect(rules(p, 'filter', 'KUBE-PROXY-FIREWALL')).toEqual(
      expected(
        `-d 198.51.100.7/32 -p tcp ${C(`default/web:http traffic not accepted by ${WEB.firewall}`)} -m tcp --dport 80 -j DROP`,
      ),
    );
    // The node IP 172.18.0.2 is in no range: the VIP is not allowed as a source.
    expect(p.restoreInput).not.toContain('-s 198.51.100.7 ');
    const verdicts = (src: string) => trace(p, { ...lbIP, src }).map((o) => [o.dnat, o.verdict]);
    expect(verdicts('192.0.2.77')).toEqual([['10.244.1.2:8080', 'ACCEPT']]);
    expect(verdicts('203.0.113.9')).toEqual([['10.244.1.2:8080', 'ACCEPT']]);
    expect(verdicts('203.0.113.10')).toEqual([[undefined, 'DROP']]);
    // Neither the ClusterIP nor the NodePort is restricted.
    const clusterIP = trace(p, { src: '203.0.113.10', dst: '10.96.0.10', protocol: 'TCP', dport: 80 }); // prettier-ignore
    expect(clusterIP.map((o) => o.verdict)).toEqual(['ACCEPT']);
    const nodePort = trace(p, { src: '203.0.113.10', dst: '172.18.0.2', protocol: 'TCP', dport: 30080 }); // prettier-ignore
    expect(nodePort.map((o) => [o.dnat, o.verdict])).toEqual([['10.244.1.2:8080', 'ACCEPT']]);
  });

  it("lets the LB IPs in as sources when a range holds the node's IP (allowFromNode), host bits cleared", () => {
    const p = plan(stateOf([lb(['172.18.0.9/24'], { loadBalancerIPs: ['198.51.100.7', '198.51.100.8'] }), eps])); // prettier-ignore
    expect(rules(p, 'nat', WEB.firewall)).toEqual(
      expected(
        `-s 172.18.0.0/24 ${C('default/web:http loadbalancer IP')} -j ${WEB.external}`,
        `-s 198.51.100.7/32 ${C('default/web:http loadbalancer IP')} -j ${WEB.external}`,
        `-s 198.51.100.8/32 ${C('default/web:http loadbalancer IP')} -j ${WEB.external}`,
        C('other traffic to default/web:http will be dropped by KUBE-PROXY-FIREWALL'),
      ),
    );
    expect(rules(p, 'filter', 'KUBE-PROXY-FIREWALL')).toHaveLength(2);
  });

  it.each([
    ['a zero-masked range (allow any)', ['10.0.0.0/8', '0.0.0.0/0'], eps, 'LB'],
    ['no endpoints (REJECT instead)', ['192.0.2.0/24'], [], 'LB'],
    ['no ingress IP', ['192.0.2.0/24'], eps, 'none'],
  ])('no firewall with %s', (_, ranges, endpoints, ingress) => {
    const svc = lb(ranges, ingress === 'none' ? { loadBalancerIPs: [] } : {});
    const p = plan(stateOf([svc, endpoints]));
    expect(p.desired.nat.has(WEB.firewall)).toBe(false);
    expect(rules(p, 'filter', 'KUBE-PROXY-FIREWALL')).toEqual([]);
  });

  it('a partial sync that drops the ranges deletes KUBE-FW', () => {
    const first = plan(stateOf([lb(['192.0.2.0/24']), eps]));
    const next = plan(stateOf([lb([]), eps]), first, 'partial');
    expect(next.deleted).toEqual([WEB.firewall]);
    expect(next.desired).toEqual(plan(stateOf([lb([]), eps])).desired);
  });
});

describe('planIptables: node-wide chains', () => {
  const p = plan(stateOf());

  it('masquerades marked packets once, with --random-fully', () => {
    expect(rules(p, 'nat', 'KUBE-POSTROUTING')).toEqual(
      expected(
        '-m mark ! --mark 0x4000/0x4000 -j RETURN',
        '-j MARK --set-xmark 0x4000/0x0',
        `${C('kubernetes service traffic requiring SNAT')} -j MASQUERADE --random-fully`,
      ),
    );
    expect(rules(p, 'nat', 'KUBE-MARK-MASQ')).toEqual(
      expected('-j MARK --set-xmark 0x4000/0x4000'),
    );
  });

  it('forwards marked and established traffic, drops INVALID unless tcp_be_liberal', () => {
    expect(rules(p, 'filter', 'KUBE-FORWARD')).toEqual(
      expected(
        '-m conntrack --ctstate INVALID -j DROP',
        `${C('kubernetes forwarding rules')} -m mark --mark 0x4000/0x4000 -j ACCEPT`,
        `${C('kubernetes forwarding conntrack rule')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
      ),
    );
    const liberal = planIptables({
      node: NODE,
      state: stateOf(),
      previous: null,
      strategy: 'full',
      conntrackTCPLiberal: true,
    });
    expect(liberal.desired.filter.get('KUBE-FORWARD')).toHaveLength(2);
  });

  it('writes kube-proxy chains in kube-proxy order in one restore, filter first', () => {
    expect(
      p.restoreInput.split('\n').filter((l) => l.startsWith('*') || l.startsWith(':')),
    ).toEqual([
      '*filter',
      ':KUBE-SERVICES - [0:0]',
      ':KUBE-EXTERNAL-SERVICES - [0:0]',
      ':KUBE-FORWARD - [0:0]',
      ':KUBE-NODEPORTS - [0:0]',
      ':KUBE-PROXY-FIREWALL - [0:0]',
      ':KUBE-FIREWALL - [0:0]',
      '*nat',
      ':KUBE-SERVICES - [0:0]',
      ':KUBE-NODEPORTS - [0:0]',
      ':KUBE-POSTROUTING - [0:0]',
      ':KUBE-MARK-MASQ - [0:0]',
    ]);
  });
});

describe('planIptables: full and partial syncs', () => {
  const api = service({ name: 'api', clusterIP: '10.96.0.20' });
  const web = service();
  const db = service({ name: 'db', clusterIP: '10.96.0.30' });
  const API = servicePortChains('default/api:http', 'TCP');
  const DB = servicePortChains('default/db:http', 'TCP');
  const before = stateOf(
    [api, [endpoint('10.244.1.2', 'node-b')]],
    [web, [endpoint('10.244.1.3', 'node-b'), endpoint('10.244.1.4', 'node-b')]],
    [db, [endpoint('10.244.1.5', 'node-b')]],
  );
  // web loses an endpoint, db is deleted, api is unchanged.
  const after = stateOf(
    [api, [endpoint('10.244.1.2', 'node-b')]],
    [web, [endpoint('10.244.1.3', 'node-b')]],
  );

  const first = plan(before, null, 'partial');

  it('plans the first sync as full even when partial was asked for', () => {
    expect(first.strategy).toBe('full');
    expect(first.counts.servicePortsWritten).toBe(3);
  });

  it('a partial sync writes only the changed Service and deletes the removed one', () => {
    const second = plan(after, first, 'partial');
    expect(second.strategy).toBe('partial');
    expect(second.written.nat).toEqual([
      'KUBE-SERVICES',
      'KUBE-NODEPORTS',
      'KUBE-POSTROUTING',
      'KUBE-MARK-MASQ',
      WEB.cluster,
      sep('10.244.1.3'),
    ]);
    expect(second.deleted).toEqual(
      [DB.cluster, sep('10.244.1.4'), sep('10.244.1.5', 'default/db:http')].sort(),
    );
    expect(second.restoreInput).toContain(`-X ${DB.cluster}\n`);
    expect(second.restoreInput).not.toContain(API.cluster + ' - [0:0]');
    // ...but KUBE-SERVICES still jumps to the unchanged Service, and the plan knows its chains.
    expect(second.restoreInput).toContain(`-j ${API.cluster}`);
    expect(rules(second, 'nat', API.cluster)).toEqual(rules(first, 'nat', API.cluster));
    expect(second.counts).toMatchObject({
      servicePortsWritten: 1,
      servicePortsSkipped: 1,
      deletedChains: 3,
    });
    // Filter chains are always rewritten in full.
    expect(second.written.filter).toEqual(first.written.filter);
  });

  it('a partial sync with nothing changed writes no Service chain', () => {
    const again = plan(before, first, 'partial');
    expect(again.written.nat).toEqual([
      'KUBE-SERVICES',
      'KUBE-NODEPORTS',
      'KUBE-POSTROUTING',
      'KUBE-MARK-MASQ',
    ]);
    expect(again.deleted).toEqual([]);
    expect(again.desired).toEqual(first.desired);
  });

  it('a full sync writes every chain and deletes stale ones found in the kernel', () => {
    const full = planIptables({
      node: NODE,
      state: after,
      previous: first,
      strategy: 'full',
      existingNatChains: ['KUBE-SERVICES', 'KUBE-SVC-LEFTOVER0000000', DB.cluster, 'DOCKER'],
    });
    expect(full.strategy).toBe('full');
    expect(full.written.nat).toEqual(
      expect.arrayContaining([
        API.cluster,
        sep('10.244.1.2', 'default/api:http'),
        WEB.cluster,
        sep('10.244.1.3'),
      ]),
    );
    expect(full.deleted).toEqual([DB.cluster, 'KUBE-SVC-LEFTOVER0000000']);
    expect(full.counts.servicePortsSkipped).toBe(0);
  });
});

describe('planIptables: large clusters', () => {
  it('drops endpoint-rule comments above 1000 endpoints, like kube-proxy', () => {
    const many = Array.from({ length: 1001 }, (_, i) =>
      endpoint(`10.244.${i >> 8}.${i & 255}`, 'node-b'),
    );
    const big = plan(stateOf([service(), many]));
    const small = plan(stateOf([service(), many.slice(0, 1000)]));
    const first = sep(many[0]!.ip);
    expect(rules(big, 'nat', first)?.[0]).toBe(
      normalizeRule(`-s ${many[0]!.ip}/32 -j KUBE-MARK-MASQ`),
    );
    expect(rules(big, 'nat', WEB.cluster)?.[1]).toBe(
      normalizeRule(`-m statistic --mode random --probability 0.0009990010 -j ${first}`),
    );
    expect(rules(small, 'nat', first)?.[0]).toContain('--comment');
    // ClusterIP capture rules keep their comments either way.
    expect(rules(big, 'nat', 'KUBE-SERVICES')?.[0]).toContain('cluster IP');
  });
});

describe('planIptables: reusing the previous plan', () => {
  const names = ['api', 'db', 'web', 'cache', 'queue', 'auth'];
  const svcs = names.map((name, i) =>
    service({
      name,
      clusterIP: `10.96.1.${i + 1}`,
      type: i % 3 === 0 ? 'NodePort' : 'ClusterIP',
      externalTrafficPolicy: i === 3 ? 'Local' : 'Cluster',
      sessionAffinity: i === 4 ? 'ClientIP' : 'None',
      ports: [
        {
          name: 'http',
          protocol: 'TCP',
          port: 80,
          targetPort: 8080,
          nodePort: i % 3 === 0 ? 30100 + i : undefined,
        },
      ],
    }),
  );
  const eps = (i: number, n: number) =>
    Array.from({ length: n }, (_, k) =>
      endpoint(`10.244.${k % 2}.${10 + i * 8 + k}`, k % 2 ? 'node-b' : 'node-a'),
    );
  const base = stateOf(...svcs.map((s, i): [ServiceSpec, Endpoint[]] => [s, eps(i, 2)]));

  /** What the same state gives planned from nothing: the reference for every reused plan. */
  const fromScratch = (state: ProxyState) => plan(state);

  /** Rules of each chain declared by a restore input (what it makes those chains hold). */
  function writtenRules(p: IptablesPlan, table: Table): Map<string, string[]> {
    const out = new Map<string, string[]>();
    const section = p.restoreInput.split(`*${table}\n`)[1]!.split('COMMIT\n')[0]!;
    for (const line of section.split('\n')) {
      if (line.startsWith(':')) out.set(line.slice(1, line.indexOf(' ')), []);
      else if (line.startsWith('-A ')) {
        const chain = line.slice(3, line.indexOf(' ', 3));
        out.get(chain)!.push(line.slice(4 + chain.length));
      }
    }
    return out;
  }

  /** The chains of `desired` a restore input declares must hold what the input writes to them. */
  function expectConsistent(p: IptablesPlan) {
    for (const table of ['filter', 'nat'] as const) {
      for (const [chain, rules] of writtenRules(p, table)) {
        if (p.deleted.includes(chain)) continue;
        expect(rules, `${table}/${chain}`).toEqual(p.desired[table].get(chain));
      }
    }
  }

  /** Applies a restore input to a model of the kernel's tables, as iptables-restore --noflush. */
  function restore(kernel: Record<Table, Map<string, string[]>>, p: IptablesPlan) {
    for (const table of ['filter', 'nat'] as const) {
      for (const [chain, rules] of writtenRules(p, table)) kernel[table].set(chain, rules);
    }
    for (const chain of p.deleted) kernel.nat.delete(chain);
  }

  it('unchanged Services: the very same objects skip fingerprinting and share their rules', () => {
    const first = plan(base);
    const again = plan(base, first, 'partial');
    expect(again.counts.servicePortsSkipped).toBe(svcs.length);
    expect(again.counts.servicePortsWritten).toBe(0);
    expect(again.written.nat).toEqual([
      'KUBE-SERVICES',
      'KUBE-NODEPORTS',
      'KUBE-POSTROUTING',
      'KUBE-MARK-MASQ',
    ]);
    expect(again.desired).toEqual(fromScratch(base).desired);
    // Reused, not recomputed: the same rule arrays and Service entries.
    for (const [chain, rules] of first.desired.nat) {
      if (chain.startsWith('KUBE-SEP-')) expect(again.desired.nat.get(chain)).toBe(rules);
    }
    for (const [key, entry] of first.services) {
      expect(again.services.get(key)).toBe(entry);
      expect(entry.fingerprint).toBeUndefined();
    }
    expectConsistent(again);
  });

  it('equal but new objects (as a lab rebuilds its state) are unchanged too, and reuse the rules', () => {
    const first = plan(base);
    const rebuilt = structuredClone(base);
    const again = plan(rebuilt, first, 'partial');
    expect(again.counts.servicePortsSkipped).toBe(svcs.length);
    expect(again.restoreInput).toBe(plan(base, first, 'partial').restoreInput);
    expect(again.desired).toEqual(fromScratch(rebuilt).desired);
    const web = servicePortChains('default/web:http', 'TCP').cluster;
    expect(again.desired.nat.get(web)).toBe(first.desired.nat.get(web));
    // The entry now remembers the new objects: the next sync with them takes the fast path.
    const third = plan(rebuilt, again, 'partial');
    expect(third.services.get('default/web')).toBe(again.services.get('default/web'));
  });

  it('a changed Service is rewritten, and only it; its stale endpoint chain is deleted', () => {
    const first = plan(base);
    const changed: ProxyState = {
      servicePorts: base.servicePorts.map((sp) =>
        sp.service.name === 'web'
          ? { ...sp, endpoints: [sp.endpoints[0]!, endpoint('10.244.1.99', 'node-b')] }
          : sp,
      ),
    };
    const next = plan(changed, first, 'partial');
    const scratch = fromScratch(changed);
    expect(next.counts).toMatchObject({ servicePortsWritten: 1, servicePortsSkipped: 5 });
    expect(next.written.nat.slice(4)).toEqual([
      WEB.cluster,
      sep(changed.servicePorts[2]!.endpoints[0]!.ip),
      sep('10.244.1.99'),
    ]);
    expect(next.deleted).toEqual([sep(base.servicePorts[2]!.endpoints[1]!.ip)]);
    expect(next.desired).toEqual(scratch.desired);
    expectConsistent(next);
    // The node-wide chains are written whole every time.
    expect(writtenRules(next, 'nat').get('KUBE-SERVICES')).toEqual(
      scratch.desired.nat.get('KUBE-SERVICES'),
    );
  });

  it('an added Service is written, a removed one deleted', () => {
    const first = plan(base);
    const extra = service({ name: 'zeta', clusterIP: '10.96.1.99' });
    const added = stateOf(...svcs.map((s, i): [ServiceSpec, Endpoint[]] => [s, eps(i, 2)]), [
      extra,
      [endpoint('10.244.1.50', 'node-b')],
    ]);
    const withExtra = plan(added, first, 'partial');
    const ZETA = servicePortChains('default/zeta:http', 'TCP');
    expect(withExtra.counts).toMatchObject({ servicePortsWritten: 1, servicePortsSkipped: 6 });
    expect(withExtra.written.nat.slice(4)).toEqual([
      ZETA.cluster,
      sep('10.244.1.50', 'default/zeta:http'),
    ]);
    expect(withExtra.desired).toEqual(fromScratch(added).desired);

    const removed = plan(base, withExtra, 'partial');
    expect(removed.deleted).toEqual([ZETA.cluster, sep('10.244.1.50', 'default/zeta:http')].sort());
    expect(removed.counts).toMatchObject({ servicePortsWritten: 0, servicePortsSkipped: 6 });
    expect(removed.desired).toEqual(fromScratch(base).desired);
  });

  it('a full sync with the previous plan at hand writes what one from nothing writes', () => {
    const first = plan(base);
    const full = plan(structuredClone(base), first, 'full');
    expect(full.counts.servicePortsSkipped).toBe(0);
    expect(full.restoreInput).toBe(fromScratch(base).restoreInput);
    expect(full.desired).toEqual(fromScratch(base).desired);
  });

  it('a new endpoints array on the same ServicePortState is noticed', () => {
    const state = stateOf([service(), [endpoint('10.244.1.2', 'node-b')]]);
    const first = plan(state);
    state.servicePorts[0]!.endpoints = [endpoint('10.244.1.3', 'node-b')];
    const next = plan(state, first, 'partial');
    expect(next.counts.servicePortsWritten).toBe(1);
    expect(next.deleted).toEqual([sep('10.244.1.2')]);
    expect(next.desired).toEqual(fromScratch(state).desired);
  });

  it.each([
    ['name', { ...NODE, nodeName: 'node-b' }],
    ['cluster CIDR', { ...NODE, clusterCIDR: '10.0.0.0/8' }],
  ])('rules follow a change of node %s, though a partial sync does not rewrite them', (_, node) => {
    const first = plan(base);
    const next = planIptables({ node, state: base, previous: first, strategy: 'partial' });
    // kube-proxy's change tracking is per Service: a node change alone rewrites nothing...
    expect(next.counts.servicePortsWritten).toBe(0);
    // ...but the plan describes the rules for this node, as one from nothing does.
    const scratch = planIptables({ node, state: base, previous: null, strategy: 'full' });
    expect(next.desired).toEqual(scratch.desired);
    expect(next.desired).not.toEqual(first.desired);
  });

  it('crossing the large-cluster threshold rewrites every Service', () => {
    const first = plan(base);
    const many = Array.from({ length: 1001 }, (_, i) =>
      endpoint(`10.245.${i >> 8}.${i & 255}`, 'node-b'),
    );
    const big: ProxyState = {
      servicePorts: [
        ...base.servicePorts,
        ...stateOf([service({ name: 'zz' }), many]).servicePorts,
      ],
    };
    const next = plan(big, first, 'partial');
    expect(next.counts).toMatchObject({ servicePortsWritten: 7, servicePortsSkipped: 0 });
    expect(next.desired).toEqual(fromScratch(big).desired);
    const back = plan(base, next, 'partial');
    expect(back.counts).toMatchObject({ servicePortsWritten: 6, servicePortsSkipped: 0 });
    expect(back.desired).toEqual(fromScratch(base).desired);
  });

  it('Services listed out of order are planned in name order, as when sorted', () => {
    const reversed: ProxyState = { servicePorts: [...base.servicePorts].reverse() };
    const p = plan(reversed);
    expect(p.restoreInput).toBe(fromScratch(base).restoreInput);
    expect(plan(reversed, p, 'partial').counts.servicePortsSkipped).toBe(svcs.length);
  });

  it('over a series of partial syncs, the kernel holds exactly the desired chains', () => {
    // A small deterministic generator: each step changes, adds, removes, rebuilds or keeps.
    let seed = 7;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    let specs = svcs.map((s, i) => ({ svc: s, eps: eps(i, 1 + (i % 3)) }));
    let state = base;
    let previous: IptablesPlan | null = null;
    const kernel: Record<Table, Map<string, string[]>> = { filter: new Map(), nat: new Map() };
    let skipped = 0;
    for (let step = 0; step < 40; step++) {
      const p: IptablesPlan = plan(state, previous, 'partial');
      restore(kernel, p);
      const serviceChains = (m: Map<string, string[]>) =>
        new Map([...m].filter(([chain]) => chain.startsWith('KUBE-')));
      expect(serviceChains(kernel.nat), `step ${step}`).toEqual(p.desired.nat);
      expect(serviceChains(kernel.filter), `step ${step}`).toEqual(p.desired.filter);
      expect(p.desired, `step ${step}`).toEqual(fromScratch(state).desired);
      skipped += p.counts.servicePortsSkipped;
      previous = p;

      const k = rnd(specs.length);
      switch (rnd(5)) {
        case 0: // new endpoints for one Service
          specs = specs.map((s, i) => (i === k ? { ...s, eps: eps(step + 10, 1 + rnd(3)) } : s));
          break;
        case 1: // a Service added
          specs = [...specs, { svc: service({ name: `s${step}`, clusterIP: `10.96.2.${step}` }), eps: eps(step, 2) }]; // prettier-ignore
          break;
        case 2: // a Service removed
          if (specs.length > 1) specs = specs.filter((_, i) => i !== k);
          break;
        case 3: // the same contents as new objects
          state = structuredClone(state);
          continue;
        default: // nothing changed
          continue;
      }
      state = stateOf(...specs.map((s): [ServiceSpec, Endpoint[]] => [s.svc, s.eps]));
    }
    // Rebuilding every ServicePortState from specs makes new objects: the skips came by
    // fingerprint as often as by identity.
    expect(skipped).toBeGreaterThan(40);
  });
});
