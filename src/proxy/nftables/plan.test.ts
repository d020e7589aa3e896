import { describe, expect, it } from 'vitest';
import type { ServicePortState } from '../types.js';
import { NODE_CONFIG, endpoint, service, servicePorts, tcpPort } from './fixtures.js';
import { endpointChainName, servicePortChainNames } from './names.js';
import { NftablesPlanner, planRuleset, type NftablesPlanConfig } from './plan.js';
import { undeclaredJumps, type Ruleset } from './ruleset.js';
import { planTransactions } from './transaction.js';

/** Hashes make names unreadable in expectations; kube-proxy's own vectors are checked once below. */
function unhash(s: string): string {
  return s.replace(/\b(service|local|external|firewall|endpoint|affinity)-[A-Z2-7]{8}-/g, '$1-');
}

/** Everything one Service port contributes: chain rules, set definitions and map elements. */
function owned(rs: Ruleset, owner: string): string[] {
  const out: string[] = [];
  for (const s of rs.sets.values()) {
    if (s.owner === owner)
      out.push(`set ${s.name} timeout=${s.timeoutSeconds}s flags=${s.flags?.join(',')}`);
    for (const [key, el] of s.elements) {
      if (el.owner !== owner) continue;
      out.push(
        `${s.name}: ${key}${el.comment ? ` comment "${el.comment}"` : ''}${el.value ? ` : ${el.value}` : ''}`,
      );
    }
  }
  for (const c of rs.chains.values()) {
    if (c.owner !== owner) continue;
    out.push(`chain ${c.name}`, ...c.rules.map((r) => `  ${r}`));
  }
  return out.map(unhash);
}

const A = 'node-a';
const B = 'node-b';

function plan(...sps: ServicePortState[][]): Ruleset {
  const rs = planRuleset({ servicePorts: sps.flat() }, NODE_CONFIG);
  // What `nft -f` would refuse, for every plan of these tests.
  expect(undeclaredJumps(rs)).toEqual([]);
  return rs;
}

describe('chain names', () => {
  it('match kube-proxy for the same Service port and endpoint', () => {
    // Vectors from kubernetes pkg/proxy/nftables/proxier_test.go.
    const ref = { namespace: 'ns1', name: 'svc1', protocol: 'tcp', portName: 'p80' };
    expect(servicePortChainNames(ref).cluster).toBe('service-ULMVA6XW-ns1/svc1/tcp/p80');
    expect(endpointChainName(ref, '10.180.0.1', 80)).toBe(
      'endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80',
    );
  });
});

describe('planRuleset: table skeleton', () => {
  const rs = plan();

  it("hooks kube-proxy 1.37's base chains: pre-DNAT filters at dstnat - 10, the rest at filter, nat at dstnat/srcnat", () => {
    const hooks = [...rs.chains.values()]
      .filter((c) => c.base)
      .map((c) => `${c.name} ${c.base!.type} ${c.base!.hook} ${c.base!.priority}`);
    expect(hooks).toEqual([
      'filter-prerouting-pre-dnat filter prerouting -110',
      'filter-output-pre-dnat filter output -110',
      'filter-input filter input 0',
      'filter-forward filter forward 0',
      'filter-output filter output 0',
      'nat-prerouting nat prerouting -100',
      'nat-output nat output -100',
      'nat-postrouting nat postrouting 100',
    ]);
    expect(rs.chains.get('filter-input')!.rules).toEqual([
      'ct state new jump nodeport-endpoints-check',
      'ct state new jump service-endpoints-check',
    ]);
    expect(rs.chains.get('nat-prerouting')!.rules).toEqual(['jump services']);
    expect(rs.chains.get('nat-postrouting')!.rules).toEqual(['jump masquerading']);
    expect(rs.chains.get('filter-forward')!.rules).toEqual([
      'ct state new jump service-endpoints-check',
      'ct state new jump cluster-ips-check',
    ]);
    expect(rs.chains.get('filter-prerouting-pre-dnat')!.rules).toEqual([
      'ct state new jump firewall-check',
    ]);
  });

  it('dispatches through named verdict maps and masquerades marked packets and hairpin connections', () => {
    expect(rs.chains.get('services')!.rules).toEqual([
      'ip daddr @cluster-ips ip saddr != 10.244.0.0/16 meta mark set meta mark | 0x00004000 comment "masquerade clusterIP traffic from outside cluster"',
      'ip daddr . meta l4proto . th dport vmap @service-ips',
      'fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports',
    ]);
    // kube-proxy 1.37 marks inline: no mark-for-masquerade chain to jump to.
    expect(rs.chains.has('mark-for-masquerade')).toBe(false);
    expect(rs.chains.get('masquerading')!.rules).toEqual([
      'meta mark & 0x00004000 != 0x00000000 meta mark set meta mark ^ 0x00004000 masquerade fully-random',
      'ct status dnat ip saddr . ip daddr . meta l4proto . th dport @hairpin-connections masquerade fully-random',
    ]);
    expect(rs.sets.get('hairpin-connections')!.type).toBe(
      'ipv4_addr . ipv4_addr . inet_proto . inet_service',
    );
    expect(rs.chains.get('cluster-ips-check')!.rules).toEqual([
      'ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"',
      'ip daddr 10.96.0.0/16 drop comment "Drop traffic to unallocated ClusterIPs"',
    ]);
    expect(rs.sets.get('service-ips')!.type).toBe(
      'ipv4_addr . inet_proto . inet_service : verdict',
    );
    expect(rs.sets.get('service-nodeports')!.type).toBe('inet_proto . inet_service : verdict');
  });

  it('accepts NodePorts only on the node IP with nodePortAddresses=primary', () => {
    const primary = planRuleset(
      { servicePorts: [] },
      { ...NODE_CONFIG, nodePortAddresses: 'primary' },
    );
    expect([...primary.sets.get('nodeport-ips')!.elements.keys()]).toEqual(['192.168.200.2']);
    expect(primary.chains.get('services')!.rules[2]).toBe(
      'ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports',
    );
  });
});

describe('planRuleset: Service ports', () => {
  it('ClusterIP with three endpoints: one numgen DNAT map, hairpin element for the local endpoint', () => {
    const svc = service({ name: 'web', clusterIP: '10.96.0.10', ports: [tcpPort(80)] });
    const rs = plan(
      servicePorts(svc, [
        endpoint('10.244.1.2', A),
        endpoint('10.244.2.2', B),
        endpoint('10.244.2.3', B),
      ]),
    );
    expect(owned(rs, 'default/web:p80')).toEqual([
      'hairpin-connections: 10.244.1.2 . 10.244.1.2 . tcp . 8080',
      'cluster-ips: 10.96.0.10',
      'service-ips: 10.96.0.10 . tcp . 80 : goto service-default/web/tcp/p80',
      'chain service-default/web/tcp/p80',
      '  meta l4proto tcp dnat ip to numgen random mod 3 map { 0 : 10.244.1.2 . 8080, 1 : 10.244.2.2 . 8080, 2 : 10.244.2.3 . 8080 }',
    ]);
  });

  it('ClientIP affinity: a timed set per endpoint, checked before load balancing, updated in the endpoint chain', () => {
    const svc = service({
      name: 'sticky',
      clusterIP: '10.96.0.11',
      ports: [tcpPort(80)],
      sessionAffinity: 'ClientIP',
      sessionAffinityTimeoutSeconds: 30,
    });
    const rs = plan(servicePorts(svc, [endpoint('10.244.1.2', A), endpoint('10.244.2.2', B)]));
    expect(owned(rs, 'default/sticky:p80')).toEqual([
      'hairpin-connections: 10.244.1.2 . 10.244.1.2 . tcp . 8080',
      'cluster-ips: 10.96.0.11',
      'service-ips: 10.96.0.11 . tcp . 80 : goto service-default/sticky/tcp/p80',
      'set affinity-default/sticky/tcp/p80__10.244.1.2/8080 timeout=30s flags=dynamic,timeout',
      'set affinity-default/sticky/tcp/p80__10.244.2.2/8080 timeout=30s flags=dynamic,timeout',
      'chain service-default/sticky/tcp/p80',
      '  ip saddr @affinity-default/sticky/tcp/p80__10.244.1.2/8080 goto endpoint-default/sticky/tcp/p80__10.244.1.2/8080',
      '  ip saddr @affinity-default/sticky/tcp/p80__10.244.2.2/8080 goto endpoint-default/sticky/tcp/p80__10.244.2.2/8080',
      '  numgen random mod 2 vmap { 0 : goto endpoint-default/sticky/tcp/p80__10.244.1.2/8080, 1 : goto endpoint-default/sticky/tcp/p80__10.244.2.2/8080 }',
      'chain endpoint-default/sticky/tcp/p80__10.244.1.2/8080',
      '  update @affinity-default/sticky/tcp/p80__10.244.1.2/8080 { ip saddr }',
      '  meta l4proto tcp dnat to 10.244.1.2:8080',
      'chain endpoint-default/sticky/tcp/p80__10.244.2.2/8080',
      '  update @affinity-default/sticky/tcp/p80__10.244.2.2/8080 { ip saddr }',
      '  meta l4proto tcp dnat to 10.244.2.2:8080',
    ]);
  });

  it('NodePort with externalTrafficPolicy=Cluster: masquerade, then the cluster chain', () => {
    const svc = service({
      name: 'np',
      type: 'NodePort',
      clusterIP: '10.96.0.12',
      ports: [tcpPort(80, { nodePort: 30080 })],
    });
    const rs = plan(servicePorts(svc, [endpoint('10.244.2.2', B)]));
    const lines = owned(rs, 'default/np:p80');
    expect(lines.filter((l) => !l.startsWith(' ') && !l.startsWith('chain'))).toEqual([
      'cluster-ips: 10.96.0.12',
      'service-ips: 10.96.0.12 . tcp . 80 : goto service-default/np/tcp/p80',
      'service-nodeports: tcp . 30080 : goto external-default/np/tcp/p80',
    ]);
    expect(unhashed(rs, 'external-default/np/tcp/p80')).toEqual([
      'meta mark set meta mark | 0x00004000 comment "masquerade"',
      'goto service-default/np/tcp/p80',
    ]);
  });

  it('externalTrafficPolicy=Local with a local endpoint: short-circuits, then only local endpoints', () => {
    const svc = service({
      name: 'etp',
      type: 'NodePort',
      clusterIP: '10.96.0.13',
      ports: [tcpPort(80, { nodePort: 30081 })],
      externalTrafficPolicy: 'Local',
    });
    const rs = plan(servicePorts(svc, [endpoint('10.244.1.2', A), endpoint('10.244.2.2', B)]));
    expect(unhashed(rs, 'external-default/etp/tcp/p80')).toEqual([
      'ip saddr 10.244.0.0/16 goto service-default/etp/tcp/p80 comment "short-circuit pod traffic"',
      'fib saddr type local meta mark set meta mark | 0x00004000 comment "masquerade local traffic"',
      'fib saddr type local goto service-default/etp/tcp/p80 comment "short-circuit local traffic"',
      'goto local-default/etp/tcp/p80',
    ]);
    expect(unhashed(rs, 'local-default/etp/tcp/p80')).toEqual([
      'meta l4proto tcp dnat to 10.244.1.2:8080',
    ]);
    // The ClusterIP keeps using every endpoint.
    expect(unhashed(rs, 'service-default/etp/tcp/p80')).toEqual([
      'meta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 10.244.1.2 . 8080, 1 : 10.244.2.2 . 8080 }',
    ]);
    expect(owned(rs, 'default/etp:p80').some((l) => l.startsWith('no-endpoint'))).toBe(false);
  });

  it('externalTrafficPolicy=Local without a local endpoint: external traffic dropped, short-circuits kept', () => {
    const svc = service({
      name: 'etp',
      type: 'LoadBalancer',
      clusterIP: '10.96.0.14',
      ports: [tcpPort(80, { nodePort: 30082 })],
      externalTrafficPolicy: 'Local',
      loadBalancerIPs: ['192.168.200.50'],
    });
    const rs = plan(servicePorts(svc, [endpoint('10.244.2.2', B)]));
    expect(
      owned(rs, 'default/etp:p80').filter((l) => !l.startsWith(' ') && !l.startsWith('chain')),
    ).toEqual([
      'cluster-ips: 10.96.0.14',
      'no-endpoint-services: 192.168.200.50 . tcp . 80 comment "default/etp:p80" : drop',
      'no-endpoint-nodeports: tcp . 30082 comment "default/etp:p80" : drop',
      'service-ips: 10.96.0.14 . tcp . 80 : goto service-default/etp/tcp/p80',
      'service-ips: 192.168.200.50 . tcp . 80 : goto external-default/etp/tcp/p80',
      'service-nodeports: tcp . 30082 : goto external-default/etp/tcp/p80',
    ]);
    expect(unhashed(rs, 'external-default/etp/tcp/p80')).toHaveLength(3);
    expect(rs.chains.has(unhashName(rs, 'local-default/etp/tcp/p80'))).toBe(false);
  });

  it('loadBalancerSourceRanges: firewall-ips sends the LB IP to a firewall chain that drops other sources', () => {
    const svc = (ranges: string[], loadBalancerIPs = ['192.168.200.60']) =>
      service({
        name: 'fw',
        type: 'LoadBalancer',
        clusterIP: '10.96.0.16',
        ports: [tcpPort(80, { nodePort: 30083 })],
        loadBalancerIPs,
        loadBalancerSourceRanges: ranges,
      });
    const firewall = (rs: Ruleset) =>
      owned(rs, 'default/fw:p80').filter((l) => l.startsWith('firewall-ips'));
    const rs = plan(servicePorts(svc(['203.0.113.0/24', '198.51.100.9/32']), [endpoint('10.244.2.2', B)])); // prettier-ignore
    expect(firewall(rs)).toEqual([
      'firewall-ips: 192.168.200.60 . tcp . 80 : goto firewall-default/fw/tcp/p80',
    ]);
    expect(unhashed(rs, 'firewall-default/fw/tcp/p80')).toEqual([
      'ip saddr != { 203.0.113.0/24, 198.51.100.9/32 } drop',
    ]);
    // The node IP 192.168.200.2 is in the range: the LB IPs are allowed as sources too; and
    // unlike iptables mode, the firewall stays without endpoints.
    const withNode = plan(servicePorts(svc(['192.168.200.9/24'], ['192.168.200.60', '192.168.200.61']), [])); // prettier-ignore
    expect(firewall(withNode)).toHaveLength(2);
    expect(unhashed(withNode, 'firewall-default/fw/tcp/p80')).toEqual([
      'ip saddr != { 192.168.200.0/24, 192.168.200.60, 192.168.200.61 } drop',
    ]);
    // A zero-masked range allows any source: no firewall at all.
    const open = plan(servicePorts(svc(['0.0.0.0/0']), [endpoint('10.244.2.2', B)]));
    expect(firewall(open)).toEqual([]);
    expect(owned(open, 'default/fw:p80').join('\n')).not.toContain('firewall');
  });

  it('internalTrafficPolicy=Local: ClusterIP goes to the local chain, or is dropped without local endpoints', () => {
    const svc = service({
      name: 'itp',
      clusterIP: '10.96.0.15',
      ports: [tcpPort(80)],
      internalTrafficPolicy: 'Local',
    });
    const withLocal = plan(
      servicePorts(svc, [endpoint('10.244.1.2', A), endpoint('10.244.2.2', B)]),
    );
    expect(owned(withLocal, 'default/itp:p80')).toEqual([
      'hairpin-connections: 10.244.1.2 . 10.244.1.2 . tcp . 8080',
      'cluster-ips: 10.96.0.15',
      'service-ips: 10.96.0.15 . tcp . 80 : goto local-default/itp/tcp/p80',
      'chain local-default/itp/tcp/p80',
      '  meta l4proto tcp dnat to 10.244.1.2:8080',
    ]);
    const remoteOnly = plan(servicePorts(svc, [endpoint('10.244.2.2', B)]));
    expect(owned(remoteOnly, 'default/itp:p80')).toEqual([
      'cluster-ips: 10.96.0.15',
      'no-endpoint-services: 10.96.0.15 . tcp . 80 comment "default/itp:p80" : drop',
    ]);
  });

  it('no endpoints: every address of the Service port is rejected, no chains', () => {
    const svc = service({
      name: 'empty',
      type: 'NodePort',
      clusterIP: '10.96.0.16',
      ports: [tcpPort(80, { nodePort: 30083 })],
      externalIPs: ['192.168.200.60'],
    });
    const rs = plan(servicePorts(svc, []));
    expect(owned(rs, 'default/empty:p80')).toEqual([
      'cluster-ips: 10.96.0.16',
      'no-endpoint-services: 10.96.0.16 . tcp . 80 comment "default/empty:p80" : goto reject-chain',
      'no-endpoint-services: 192.168.200.60 . tcp . 80 comment "default/empty:p80" : goto reject-chain',
      'no-endpoint-nodeports: tcp . 30083 comment "default/empty:p80" : goto reject-chain',
    ]);
  });

  it('terminating endpoints are used only when no endpoint is ready', () => {
    const svc = service({ name: 'term', clusterIP: '10.96.0.17', ports: [tcpPort(80)] });
    const terminating = {
      ...endpoint('10.244.2.9', B),
      ready: false,
      serving: true,
      terminating: true,
    };
    const rs = plan(servicePorts(svc, [terminating, endpoint('10.244.2.2', B)]));
    expect(unhashed(rs, 'service-default/term/tcp/p80')).toEqual([
      'meta l4proto tcp dnat to 10.244.2.2:8080',
    ]);
    const onlyTerminating = plan(servicePorts(svc, [terminating]));
    expect(unhashed(onlyTerminating, 'service-default/term/tcp/p80')).toEqual([
      'meta l4proto tcp dnat to 10.244.2.9:8080',
    ]);
  });

  it('multi-port TCP and UDP Service: one chain set per port, protocol in keys, matches and DNAT', () => {
    const svc = service({
      name: 'dns',
      clusterIP: '10.96.0.18',
      ports: [
        { name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353 },
        { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 5353 },
      ],
    });
    const rs = plan(servicePorts(svc, [endpoint('10.244.1.5', A)]));
    expect(owned(rs, 'default/dns:dns')).toEqual([
      'hairpin-connections: 10.244.1.5 . 10.244.1.5 . udp . 5353',
      'cluster-ips: 10.96.0.18',
      'service-ips: 10.96.0.18 . udp . 53 : goto service-default/dns/udp/dns',
      'chain service-default/dns/udp/dns',
      '  meta l4proto udp dnat to 10.244.1.5:5353',
    ]);
    expect(owned(rs, 'default/dns:dns-tcp').slice(0, 3)).toEqual([
      'hairpin-connections: 10.244.1.5 . 10.244.1.5 . tcp . 5353',
      // The ClusterIP element belongs to the first port that claimed it.
      'service-ips: 10.96.0.18 . tcp . 53 : goto service-default/dns/tcp/dns-tcp',
      'chain service-default/dns/tcp/dns-tcp',
    ]);
  });

  // svclab issue 15: a ClusterIP Service with externalIPs is externally accessible, so its
  // externalTrafficPolicy applies (kube-proxy's apiservice.ExternalPolicyLocal). svclab's
  // planner honoured Local only for NodePort and LoadBalancer types and masqueraded this one.
  describe('ClusterIP with externalIPs and externalTrafficPolicy=Local', () => {
    const svc = service({
      name: 'eip',
      clusterIP: '10.96.0.20',
      ports: [tcpPort(80)],
      externalIPs: ['192.168.200.90'],
      externalTrafficPolicy: 'Local',
    });

    it('with a local endpoint: the external IP keeps the client address and uses it only', () => {
      const rs = plan(servicePorts(svc, [endpoint('10.244.1.2', A), endpoint('10.244.2.2', B)]));
      expect(unhashed(rs, 'external-default/eip/tcp/p80')).toEqual([
        'ip saddr 10.244.0.0/16 goto service-default/eip/tcp/p80 comment "short-circuit pod traffic"',
        'fib saddr type local meta mark set meta mark | 0x00004000 comment "masquerade local traffic"',
        'fib saddr type local goto service-default/eip/tcp/p80 comment "short-circuit local traffic"',
        'goto local-default/eip/tcp/p80',
      ]);
      expect(unhashed(rs, 'local-default/eip/tcp/p80')).toEqual([
        'meta l4proto tcp dnat to 10.244.1.2:8080',
      ]);
      expect(unhashed(rs, 'service-default/eip/tcp/p80')).toEqual([
        'meta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 10.244.1.2 . 8080, 1 : 10.244.2.2 . 8080 }',
      ]);
    });

    it('without a local endpoint: traffic from outside to the external IP is dropped', () => {
      const rs = plan(servicePorts(svc, [endpoint('10.244.2.2', B)]));
      expect(
        owned(rs, 'default/eip:p80').filter((l) => !l.startsWith(' ') && !l.startsWith('chain')),
      ).toEqual([
        'cluster-ips: 10.96.0.20',
        'no-endpoint-services: 192.168.200.90 . tcp . 80 comment "default/eip:p80" : drop',
        'service-ips: 10.96.0.20 . tcp . 80 : goto service-default/eip/tcp/p80',
        'service-ips: 192.168.200.90 . tcp . 80 : goto external-default/eip/tcp/p80',
      ]);
      expect(unhashed(rs, 'external-default/eip/tcp/p80')).toHaveLength(3);
    });
  });

  it('both traffic policies Local on a NodePort: the short circuits have their cluster chain', () => {
    const svc = service({
      name: 'both',
      type: 'NodePort',
      clusterIP: '10.96.0.21',
      ports: [tcpPort(80, { nodePort: 30084 })],
      internalTrafficPolicy: 'Local',
      externalTrafficPolicy: 'Local',
    });
    const rs = plan(servicePorts(svc, [endpoint('10.244.2.2', B)]));
    expect(unhashed(rs, 'external-default/both/tcp/p80')).toEqual([
      'ip saddr 10.244.0.0/16 goto service-default/both/tcp/p80 comment "short-circuit pod traffic"',
      'fib saddr type local meta mark set meta mark | 0x00004000 comment "masquerade local traffic"',
      'fib saddr type local goto service-default/both/tcp/p80 comment "short-circuit local traffic"',
    ]);
    expect(unhashed(rs, 'service-default/both/tcp/p80')).toEqual([
      'meta l4proto tcp dnat to 10.244.2.2:8080',
    ]);
    expect(owned(rs, 'default/both:p80').filter((l) => l.startsWith('no-endpoint'))).toEqual([
      'no-endpoint-services: 10.96.0.21 . tcp . 80 comment "default/both:p80" : drop',
      'no-endpoint-nodeports: tcp . 30084 comment "default/both:p80" : drop',
    ]);
  });

  it('externalIPs and load-balancer IPs dispatch to the external chain', () => {
    const svc = service({
      name: 'lb',
      type: 'LoadBalancer',
      clusterIP: '10.96.0.19',
      ports: [tcpPort(443, { nodePort: 30443 })],
      externalIPs: ['192.168.200.70'],
      loadBalancerIPs: ['192.168.200.80'],
    });
    const rs = plan(servicePorts(svc, [endpoint('10.244.2.2', B)]));
    expect(owned(rs, 'default/lb:p443').filter((l) => l.startsWith('service-'))).toEqual([
      'service-ips: 10.96.0.19 . tcp . 443 : goto service-default/lb/tcp/p443',
      'service-ips: 192.168.200.70 . tcp . 443 : goto external-default/lb/tcp/p443',
      'service-ips: 192.168.200.80 . tcp . 443 : goto external-default/lb/tcp/p443',
      'service-nodeports: tcp . 30443 : goto external-default/lb/tcp/p443',
    ]);
  });
});

describe('planRuleset: trafficDistribution (zone and node hints, topology.go)', () => {
  const ZONED = { ...NODE_CONFIG, zone: 'zone-a' };
  const svc = service({ name: 'web', clusterIP: '10.96.0.10', ports: [tcpPort(80)] });
  const zoned = (ip: string, node: string, zone: string) => ({
    ...endpoint(ip, node),
    zone,
    zoneHints: [zone],
  });
  const hinted = [
    zoned('10.244.1.2', A, 'zone-a'),
    zoned('10.244.2.2', B, 'zone-b'),
    zoned('10.244.3.2', 'node-d', 'zone-a'),
  ];
  const zonePlan = (eps: ReturnType<typeof endpoint>[], cfg: NftablesPlanConfig = ZONED) => {
    const rs = planRuleset({ servicePorts: servicePorts(svc, eps) }, cfg);
    expect(undeclaredJumps(rs)).toEqual([]);
    return rs;
  };

  it("every endpoint hinted: the service chain picks among the node's zone's only", () => {
    expect(unhashed(zonePlan(hinted), 'service-default/web/tcp/p80')).toEqual([
      'meta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 10.244.1.2 . 8080, 1 : 10.244.3.2 . 8080 }',
    ]);
  });

  it("one endpoint unhinted, or the node's zone not among the hints: every endpoint", () => {
    const all =
      'meta l4proto tcp dnat ip to numgen random mod 3 map { 0 : 10.244.1.2 . 8080, 1 : 10.244.2.2 . 8080, 2 : 10.244.3.2 . 8080 }';
    const unhinted = hinted.map((e, i) => (i === 1 ? { ...e, zoneHints: undefined } : e));
    expect(unhashed(zonePlan(unhinted), 'service-default/web/tcp/p80')).toEqual([all]);
    expect(unhashed(zonePlan(hinted, { ...NODE_CONFIG, zone: 'zone-c' }), 'service-default/web/tcp/p80')).toEqual([all]); // prettier-ignore
    expect(unhashed(zonePlan(hinted, NODE_CONFIG), 'service-default/web/tcp/p80')).toEqual([all]);
  });

  it('node hints (PreferSameNode): the endpoint hinted for this node only', () => {
    const rs = zonePlan(hinted.map((e) => ({ ...e, nodeHints: [e.nodeName] })));
    expect(unhashed(rs, 'service-default/web/tcp/p80')).toEqual([
      'meta l4proto tcp dnat to 10.244.1.2:8080',
    ]);
  });
});

describe('planTransactions', () => {
  const web = service({
    name: 'web',
    clusterIP: '10.96.0.10',
    ports: [tcpPort(80)],
    sessionAffinity: 'ClientIP',
  });
  const api = service({ name: 'api', clusterIP: '10.96.0.20', ports: [tcpPort(80)] });
  const webEps = [endpoint('10.244.1.2', A), endpoint('10.244.2.2', B)];
  const apiEps = [endpoint('10.244.1.3', A)];
  const before = plan(servicePorts(web, webEps), servicePorts(api, apiEps));
  const opts = { rewriteAll: false, chunkSize: 2000 };

  it('first sync creates the table, its chains before rules, rules before elements', () => {
    const { transactions } = planTransactions(undefined, before, opts);
    expect(transactions).toHaveLength(1);
    const lines = transactions[0]!.trim().split('\n');
    expect(lines[0]).toBe('add table ip kube-proxy { comment "rules for kube-proxy" ; }');
    const firstRule = lines.findIndex((l) => l.startsWith('add rule'));
    const lastChain = lines.findLastIndex((l) => l.startsWith('add chain'));
    const firstElement = lines.findIndex((l) => l.startsWith('add element'));
    expect(lastChain).toBeLessThan(firstRule);
    expect(lines.findLastIndex((l) => l.startsWith('add rule'))).toBeLessThan(firstElement);
  });

  it('an unchanged state writes nothing', () => {
    expect(
      planTransactions(before, plan(servicePorts(web, webEps), servicePorts(api, apiEps)), opts)
        .transactions,
    ).toEqual([]);
  });

  it("changing one Service's endpoints touches only its chains, sets and elements", () => {
    const after = plan(
      servicePorts(web, [...webEps, endpoint('10.244.2.3', B)]),
      servicePorts(api, apiEps),
    );
    const { transactions, staleChains, counts } = planTransactions(before, after, opts);
    const lines = unhash(transactions.join('')).trim().split('\n');
    expect(lines).toEqual([
      'add chain ip kube-proxy service-default/web/tcp/p80',
      'add chain ip kube-proxy endpoint-default/web/tcp/p80__10.244.2.3/8080',
      'flush chain ip kube-proxy service-default/web/tcp/p80',
      'add set ip kube-proxy affinity-default/web/tcp/p80__10.244.2.3/8080 { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }',
      'add rule ip kube-proxy service-default/web/tcp/p80 ip saddr @affinity-default/web/tcp/p80__10.244.1.2/8080 goto endpoint-default/web/tcp/p80__10.244.1.2/8080',
      'add rule ip kube-proxy service-default/web/tcp/p80 ip saddr @affinity-default/web/tcp/p80__10.244.2.2/8080 goto endpoint-default/web/tcp/p80__10.244.2.2/8080',
      'add rule ip kube-proxy service-default/web/tcp/p80 ip saddr @affinity-default/web/tcp/p80__10.244.2.3/8080 goto endpoint-default/web/tcp/p80__10.244.2.3/8080',
      'add rule ip kube-proxy service-default/web/tcp/p80 numgen random mod 3 vmap { 0 : goto endpoint-default/web/tcp/p80__10.244.1.2/8080, 1 : goto endpoint-default/web/tcp/p80__10.244.2.2/8080, 2 : goto endpoint-default/web/tcp/p80__10.244.2.3/8080 }',
      'add rule ip kube-proxy endpoint-default/web/tcp/p80__10.244.2.3/8080 update @affinity-default/web/tcp/p80__10.244.2.3/8080 { ip saddr }',
      'add rule ip kube-proxy endpoint-default/web/tcp/p80__10.244.2.3/8080 meta l4proto tcp dnat to 10.244.2.3:8080',
    ]);
    expect(staleChains).toEqual([]);
    expect(counts).toMatchObject({
      chainsWritten: 2,
      elementsAdded: 0,
      elementsDeleted: 0,
      setsAdded: 1,
      setsDeleted: 0,
    });
  });

  it('removing a Service deletes its map elements and sets, flushes its chains and lists them for deletion', () => {
    const after = plan(servicePorts(api, apiEps));
    const { transactions, staleChains } = planTransactions(before, after, opts);
    const lines = unhash(transactions.join('')).trim().split('\n');
    expect(lines).toEqual([
      'flush chain ip kube-proxy service-default/web/tcp/p80',
      'flush chain ip kube-proxy endpoint-default/web/tcp/p80__10.244.1.2/8080',
      'flush chain ip kube-proxy endpoint-default/web/tcp/p80__10.244.2.2/8080',
      'delete element ip kube-proxy hairpin-connections { 10.244.1.2 . 10.244.1.2 . tcp . 8080 }',
      'delete element ip kube-proxy cluster-ips { 10.96.0.10 }',
      'delete element ip kube-proxy service-ips { 10.96.0.10 . tcp . 80 }',
      'delete set ip kube-proxy affinity-default/web/tcp/p80__10.244.1.2/8080',
      'delete set ip kube-proxy affinity-default/web/tcp/p80__10.244.2.2/8080',
    ]);
    expect(staleChains.map(unhash)).toEqual([
      'service-default/web/tcp/p80',
      'endpoint-default/web/tcp/p80__10.244.1.2/8080',
      'endpoint-default/web/tcp/p80__10.244.2.2/8080',
    ]);
  });

  it('a Service losing its endpoints moves from service-ips to no-endpoint-services', () => {
    const after = plan(servicePorts(web, webEps), servicePorts(api, []));
    const lines = unhash(planTransactions(before, after, opts).transactions.join(''))
      .trim()
      .split('\n');
    expect(lines).toEqual([
      'flush chain ip kube-proxy service-default/api/tcp/p80',
      'delete element ip kube-proxy hairpin-connections { 10.244.1.3 . 10.244.1.3 . tcp . 8080 }',
      'delete element ip kube-proxy service-ips { 10.96.0.20 . tcp . 80 }',
      'add element ip kube-proxy no-endpoint-services { 10.96.0.20 . tcp . 80 comment "default/api:p80" : goto reject-chain }',
    ]);
  });

  it('a changed affinity timeout re-creates the sets and rewrites the chains that name them', () => {
    const after = plan(
      servicePorts({ ...web, sessionAffinityTimeoutSeconds: 60 }, webEps),
      servicePorts(api, apiEps),
    );
    const lines = unhash(planTransactions(before, after, opts).transactions.join(''))
      .trim()
      .split('\n');
    const flushAt = lines.indexOf('flush chain ip kube-proxy service-default/web/tcp/p80');
    const deleteAt = lines.indexOf(
      'delete set ip kube-proxy affinity-default/web/tcp/p80__10.244.1.2/8080',
    );
    expect(flushAt).toBeGreaterThanOrEqual(0);
    expect(lines).toContain(
      'flush chain ip kube-proxy endpoint-default/web/tcp/p80__10.244.1.2/8080',
    );
    expect(deleteAt).toBeGreaterThan(flushAt);
    expect(lines).toContain(
      'add set ip kube-proxy affinity-default/web/tcp/p80__10.244.1.2/8080 { type ipv4_addr ; flags dynamic,timeout ; timeout 60s ; }',
    );
    expect(lines.some((l) => l.includes('api'))).toBe(false);
  });

  it('splits a large load into chunks of Service ports, each with its chains and elements', () => {
    const many = Array.from({ length: 5 }, (_, i) =>
      servicePorts(
        service({ name: `s${i}`, clusterIP: `10.96.1.${i + 1}`, ports: [tcpPort(80)] }),
        [endpoint(`10.244.2.${i + 2}`, B)],
      ),
    );
    const { transactions } = planTransactions(undefined, plan(...many), {
      rewriteAll: false,
      chunkSize: 2,
    });
    expect(transactions).toHaveLength(3);
    expect(transactions[0]).toContain('add table ip kube-proxy');
    expect(transactions.slice(1).some((t) => t.includes('add table'))).toBe(false);
    for (const [i, names] of [['s0', 's1'], ['s2', 's3'], ['s4']].entries()) {
      for (const n of names) {
        expect(transactions[i]).toContain(`-default/${n}/tcp/p80`);
        expect(transactions[i]).toMatch(
          new RegExp(
            `add element ip kube-proxy service-ips \\{[^}]*goto service-[A-Z2-7]{8}-default/${n}/`,
          ),
        );
      }
    }
  });

  it('a full sync rewrites every chain even when nothing changed', () => {
    const { transactions, counts } = planTransactions(before, before, {
      rewriteAll: true,
      chunkSize: 2000,
    });
    expect(counts.chainsWritten).toBe(before.chains.size);
    expect(counts.elementsAdded).toBe(0);
    expect(transactions.join('')).toContain('flush chain ip kube-proxy services');
  });
});

function unhashName(rs: Ruleset, readable: string): string {
  return [...rs.chains.keys()].find((n) => unhash(n) === readable) ?? readable;
}

function unhashed(rs: Ruleset, readable: string): string[] {
  const chain = rs.chains.get(unhashName(rs, readable));
  if (!chain)
    throw new Error(`no chain ${readable}; have ${[...rs.chains.keys()].map(unhash).join(', ')}`);
  return chain.rules.map(unhash);
}

describe('NftablesPlanner: incremental planning', () => {
  const multi = service({
    name: 'multi',
    clusterIP: '10.96.0.30',
    type: 'NodePort',
    ports: [tcpPort(80, { nodePort: 30080 }), tcpPort(81, { name: 'a81' })],
  });
  const affine = service({
    name: 'affine',
    clusterIP: '10.96.0.40',
    ports: [tcpPort(80)],
    sessionAffinity: 'ClientIP',
  });
  const local = service({
    name: 'local',
    clusterIP: '10.96.0.50',
    type: 'LoadBalancer',
    loadBalancerIPs: ['172.18.200.9'],
    externalTrafficPolicy: 'Local',
    ports: [tcpPort(80, { nodePort: 30090 })],
  });
  const base: ServicePortState[] = [
    ...servicePorts(multi, [endpoint('10.244.1.2', A), endpoint('10.244.2.2', B)]),
    ...servicePorts(affine, [endpoint('10.244.1.3', A)]),
    ...servicePorts(local, [endpoint('10.244.2.4', B)]),
  ];
  const replace = (i: number, sp: ServicePortState) => base.map((x, j) => (j === i ? sp : x));
  const changes: [string, ServicePortState[]][] = [
    ['nothing', base],
    [
      'one port gains an endpoint',
      replace(1, { ...base[1]!, endpoints: [...base[1]!.endpoints, endpoint('10.244.1.9', A)] }),
    ],
    // multi's ports share a cluster-ips element, owned by the first in name order (a81).
    ['the port owning a shared ClusterIP is removed', base.filter((_, i) => i !== 1)],
    ['the other port sharing the ClusterIP is removed', base.slice(1)],
    [
      'a Service is added',
      [
        ...base,
        ...servicePorts(service({ name: 'new', clusterIP: '10.96.0.60', ports: [tcpPort(80)] }), [
          endpoint('10.244.1.5', A),
        ]),
      ],
    ],
    [
      'a two-port Service is added',
      [
        ...base,
        ...servicePorts(
          service({
            name: 'two',
            clusterIP: '10.96.0.70',
            ports: [tcpPort(80), tcpPort(443)],
          }),
          [endpoint('10.244.1.6', A)],
        ),
      ],
    ],
    ['a Service loses its endpoints', replace(3, { ...base[3]!, endpoints: [] })],
    [
      'an affinity timeout changes',
      replace(2, {
        ...base[2]!,
        service: { ...affine, sessionAffinityTimeoutSeconds: 60 },
      }),
    ],
    [
      'the local endpoint moves here',
      replace(3, { ...base[3]!, endpoints: [endpoint('10.244.1.4', A)] }),
    ],
  ];
  const opts = { rewriteAll: false, chunkSize: 2 };
  // One line per element: how elements are batched into `add element` lines does not matter.
  const sorted = (p: ReturnType<typeof planTransactions>) => ({
    lines: p.transactions
      .join('')
      .split('\n')
      .flatMap((l) => {
        const m = /^((?:add|delete) element [^{]*)\{ (.*) \}$/.exec(l);
        return m ? m[2]!.split(', ').map((item) => `${m[1]}${item}`) : [l];
      })
      .sort(),
    stale: [...p.staleChains].sort(),
    counts: p.counts,
  });
  /** Chains with rules, sets with definitions and elements (values and comments, not owners). */
  const content = (rs: Ruleset) => ({
    chains: [...rs.chains.values()]
      .map((c) => `${c.name}: ${c.base?.hook ?? ''} ${c.rules.join(' ; ')}`)
      .sort(),
    sets: [...rs.sets.values()]
      .map(
        (s) =>
          `${s.name} ${s.type} ${s.timeoutSeconds}: ` +
          [...s.elements]
            .map(([k, e]) => `${k}=${e.value ?? ''}/${e.comment ?? ''}`)
            .sort()
            .join(', '),
      )
      .sort(),
  });

  for (const [what, next] of changes) {
    it(`a plan updated in place diffs like two full plans: ${what}`, () => {
      const planner = new NftablesPlanner(NODE_CONFIG);
      const before = planner.plan({ servicePorts: base });
      const after = planner.plan({ servicePorts: next });
      // Small changes update the previous plan's maps and carry a delta instead.
      expect(after.delta?.base).toBe(before);
      expect(before.superseded).toBe(true);
      expect(content(after)).toEqual(content(planRuleset({ servicePorts: next }, NODE_CONFIG)));
      const fast = planTransactions(before, after, opts);
      const full = planTransactions(
        planRuleset({ servicePorts: base }, NODE_CONFIG),
        planRuleset({ servicePorts: next }, NODE_CONFIG),
        opts,
      );
      expect(sorted(fast)).toEqual(sorted(full));
      // A ClusterIP two ports share is written once.
      const items = fast.transactions
        .join('')
        .split('\n')
        .filter((l) => l.startsWith('add element'))
        .flatMap((l) => l.replace(/^[^{]*\{ | \}$/g, '').split(', '));
      expect(new Set(items).size).toBe(items.length);
      // Diffing against the superseded plan without the delta would read the later state.
      expect(() => planTransactions(before, after, { ...opts, rewriteAll: true })).toThrow(
        /superseded/,
      );
    });
  }

  it('a sequence of in-place updates stays equal to planning from scratch', () => {
    const planner = new NftablesPlanner(NODE_CONFIG);
    let prev = planner.plan({ servicePorts: base });
    let prevFresh = planRuleset({ servicePorts: base }, NODE_CONFIG);
    for (const [, next] of [...changes, ...changes.slice().reverse()]) {
      const rs = planner.plan({ servicePorts: next });
      const fresh = planRuleset({ servicePorts: next }, NODE_CONFIG);
      expect(content(rs)).toEqual(content(fresh));
      expect(sorted(planTransactions(prev, rs, opts))).toEqual(
        sorted(planTransactions(prevFresh, fresh, opts)),
      );
      prev = rs;
      prevFresh = fresh;
    }
  });

  it('reuses the fragment of an unchanged Service port and re-plans a changed one', () => {
    const planner = new NftablesPlanner(NODE_CONFIG);
    const before = planner.plan({ servicePorts: base });
    const [kept, replaced] = [base[0]!.name, base[1]!.name].map((n) => before.fragments!.get(n));
    const changed = { ...base[1]!, endpoints: [endpoint('10.244.1.9', A)] };
    const after = planner.plan({ servicePorts: replace(1, changed) });
    expect(after.fragments!.get(base[0]!.name)).toBe(kept);
    expect(after.fragments!.get(changed.name)).not.toBe(replaced);
    const { transactions } = planTransactions(before, after, opts);
    expect(unhash(transactions.join(''))).not.toContain('default/multi/tcp/p80/');
    expect(unhash(transactions.join(''))).toContain(
      'add rule ip kube-proxy service-default/multi/tcp/a81 meta l4proto tcp dnat to 10.244.1.9:8080',
    );
  });

  it('numgen-rules gives every endpoint 1/k without a map', () => {
    const eps = [endpoint('10.244.1.2', A), endpoint('10.244.2.2', B), endpoint('10.244.2.3', B)];
    const rs = planRuleset(
      {
        servicePorts: servicePorts(
          service({ name: 'web', clusterIP: '10.96.0.10', ports: [tcpPort(80)] }),
          eps,
        ),
      },
      { ...NODE_CONFIG, endpointSelection: 'numgen-rules' },
    );
    expect(unhashed(rs, 'service-default/web/tcp/p80')).toEqual([
      'numgen random mod 3 0 meta l4proto tcp dnat to 10.244.1.2:8080',
      'numgen random mod 2 0 meta l4proto tcp dnat to 10.244.2.2:8080',
      'meta l4proto tcp dnat to 10.244.2.3:8080',
    ]);
    expect([...rs.chains.values()].some((c) => c.rules.some((r) => /\bv?map \{/.test(r)))).toBe(
      false,
    );
  });
});

describe('planTransactions: a table-level map re-created', () => {
  it('re-adds every element when the kernel holds the map with another definition', () => {
    const web = service({ name: 'web', clusterIP: '10.96.0.10', ports: [tcpPort(80)] });
    const next = plan(servicePorts(web, [endpoint('10.244.1.2', A)]));
    // What a kernel listing looks like after someone re-created service-ips with another type.
    const listed: Ruleset = {
      ...next,
      fragments: undefined,
      sets: new Map(
        [...next.sets].map(([name, s]) => [
          name,
          name === 'service-ips' ? { ...s, type: 'ipv4_addr . inet_service : verdict' } : s,
        ]),
      ),
    };
    const lines = unhash(
      planTransactions(listed, next, { rewriteAll: true, chunkSize: 2000 }).transactions.join(''),
    );
    expect(lines).toContain('delete map ip kube-proxy service-ips');
    expect(lines).toMatch(/add map ip kube-proxy service-ips \{ type ipv4_addr \. inet_proto/);
    expect(lines).toContain(
      'add element ip kube-proxy service-ips { 10.96.0.10 . tcp . 80 : goto service-default/web/tcp/p80 }',
    );
  });
});
