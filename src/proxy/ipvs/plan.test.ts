import { describe, expect, it } from 'vitest';
import type { ServicePortState } from '../types.js';
import { countRules } from './iptables.js';
import { vsLine } from './ipvsadm.js';
import { IpvsPlanner, planIpvs, type PlanInput } from './plan.js';
import { endpoint, service, servicePorts } from './testing.js';

const NODE = 'node-a';
const NODE_IPS = ['192.168.100.2', '192.168.200.2'];

function plan(servicePortStates: ServicePortState[], extra: Partial<PlanInput> = {}) {
  return planIpvs({
    state: { servicePorts: servicePortStates },
    nodeName: NODE,
    nodeIPs: NODE_IPS,
    clusterCIDR: '10.244.0.0/16',
    scheduler: 'rr',
    ...extra,
  });
}

const rs = (p: ReturnType<typeof plan>, key: string) =>
  p.virtualServers.get(key)?.realServers.map((r) => `${r.address}:${r.port}/${r.weight}`);
const members = (
  p: ReturnType<typeof plan>,
  set: Parameters<ReturnType<typeof plan>['ipsets']['get']>[0],
) => [...(p.ipsets.get(set) ?? [])].sort();

const three = [
  endpoint('10.244.1.2', NODE),
  endpoint('10.244.2.2', 'node-b'),
  endpoint('10.244.1.3', NODE),
];

describe('planIpvs', () => {
  it('ClusterIP with 3 endpoints: one virtual server, 3 masqueraded real servers, VIP bound, hairpin set for local ones', () => {
    const p = plan(
      servicePorts(service({ name: 'web', clusterIP: '10.96.0.10' }), [{ port: 80 }], three),
    );
    expect([...p.virtualServers.keys()]).toEqual(['TCP/10.96.0.10:80']);
    const vs = p.virtualServers.get('TCP/10.96.0.10:80')!;
    expect(vs.scheduler).toBe('rr');
    expect(vs.persistence).toBeUndefined();
    expect(rs(p, 'TCP/10.96.0.10:80')).toEqual([
      '10.244.1.2:8080/1',
      '10.244.1.3:8080/1',
      '10.244.2.2:8080/1',
    ]);
    expect([...p.boundAddresses]).toEqual(['10.96.0.10']);
    expect(members(p, 'clusterIP')).toEqual(['10.96.0.10,tcp:80']);
    expect(members(p, 'loopBack')).toEqual([
      '10.244.1.2,tcp:8080,10.244.1.2',
      '10.244.1.3,tcp:8080,10.244.1.3',
    ]);
    expect(members(p, 'ipvsIPs')).toEqual(['10.96.0.10']);
    expect(p.iptables).toContain(
      '-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" ' +
        '-m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ',
    );
    expect(p.iptables).toContain(
      '-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" ' +
        '-m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE',
    );
  });

  it('ClientIP affinity is persistence with the affinity timeout, on every virtual server of the Service', () => {
    const svc = service({
      name: 'sticky',
      type: 'NodePort',
      clusterIP: '10.96.0.11',
      sessionAffinity: 'ClientIP',
      sessionAffinityTimeoutSeconds: 60,
    });
    const p = plan(servicePorts(svc, [{ port: 80, nodePort: 30080 }], three));
    expect([...p.virtualServers.values()].map((v) => v.persistence)).toEqual([60, 60, 60]);
    expect(vsLine('-A', p.virtualServers.get('TCP/10.96.0.11:80')!)).toBe(
      '-A -t 10.96.0.11:80 -s rr -p 60',
    );
  });

  it('NodePort: one virtual server per node address, never 127.0.0.1, and the port in KUBE-NODE-PORT-TCP', () => {
    const svc = service({ name: 'np', type: 'NodePort', clusterIP: '10.96.0.12' });
    const p = plan(servicePorts(svc, [{ port: 80, nodePort: 30080 }], three), {
      nodeIPs: ['127.0.0.1', ...NODE_IPS],
    });
    expect([...p.virtualServers.keys()].sort()).toEqual([
      'TCP/10.96.0.12:80',
      'TCP/192.168.100.2:30080',
      'TCP/192.168.200.2:30080',
    ]);
    expect(rs(p, 'TCP/192.168.100.2:30080')).toHaveLength(3);
    // Node addresses are local already: only the ClusterIP is bound on kube-ipvs0.
    expect([...p.boundAddresses]).toEqual(['10.96.0.12']);
    expect(members(p, 'nodePortTCP')).toEqual(['30080']);
    expect(members(p, 'nodePortLocalTCP')).toEqual([]);
    expect(p.iptables).toContain(
      '-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" ' +
        '-m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ',
    );
    expect(p.iptables).not.toContain('KUBE-NODE-PORT-LOCAL-TCP');
    expect(p.iptables).toContain('-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT');
  });

  it('externalTrafficPolicy=Local: NodePort virtual servers get only local endpoints, the ClusterIP all; NodePort not masqueraded', () => {
    const svc = service({
      name: 'local',
      type: 'NodePort',
      clusterIP: '10.96.0.13',
      externalTrafficPolicy: 'Local',
    });
    const p = plan(servicePorts(svc, [{ port: 80, nodePort: 30081 }], three));
    expect(rs(p, 'TCP/192.168.100.2:30081')).toEqual(['10.244.1.2:8080/1', '10.244.1.3:8080/1']);
    expect(rs(p, 'TCP/10.96.0.13:80')).toHaveLength(3);
    expect(members(p, 'nodePortLocalTCP')).toEqual(['30081']);
    expect(members(p, 'nodePortTCP')).toEqual(['30081']);
    // The LOCAL set's RETURN comes before the masquerading rule of the same protocol.
    const lines = p.iptables.split('\n');
    const ret = lines.findIndex((l) => l.includes('KUBE-NODE-PORT-LOCAL-TCP dst -j RETURN'));
    const masq = lines.findIndex((l) => l.includes('KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ'));
    expect(ret).toBeGreaterThan(-1);
    expect(ret).toBeLessThan(masq);
  });

  it('externalTrafficPolicy=Local without local endpoints falls back to cluster endpoints (kubernetes PR 97081)', () => {
    const svc = service({
      name: 'remote',
      type: 'NodePort',
      clusterIP: '10.96.0.14',
      externalTrafficPolicy: 'Local',
    });
    const p = plan(
      servicePorts(svc, [{ port: 80, nodePort: 30082 }], [endpoint('10.244.2.2', 'node-b')]),
    );
    expect(rs(p, 'TCP/192.168.100.2:30082')).toEqual(['10.244.2.2:8080/1']);
  });

  it('internalTrafficPolicy=Local: the ClusterIP virtual server gets only local endpoints, none when there are none', () => {
    const svc = service({ name: 'itp', clusterIP: '10.96.0.15', internalTrafficPolicy: 'Local' });
    expect(rs(plan(servicePorts(svc, [{ port: 80 }], three)), 'TCP/10.96.0.15:80')).toEqual([
      '10.244.1.2:8080/1',
      '10.244.1.3:8080/1',
    ]);
    const remoteOnly = plan(servicePorts(svc, [{ port: 80 }], [endpoint('10.244.2.2', 'node-b')]));
    expect(rs(remoteOnly, 'TCP/10.96.0.15:80')).toEqual([]);
  });

  // svclab issue 15: with both policies Local, the planner's own UsesClusterEndpoints was false
  // (kube-proxy's holds for every externally accessible port), so it had no cluster endpoints
  // for kube-proxy's fallback and left the virtual servers without real servers.
  it('both traffic policies Local: local endpoints when there are some, else the fallback to cluster ones on every virtual server', () => {
    const svc = service({
      name: 'both',
      type: 'NodePort',
      clusterIP: '10.96.0.17',
      externalIPs: ['192.0.2.20'],
      internalTrafficPolicy: 'Local',
      externalTrafficPolicy: 'Local',
    });
    const keys = ['TCP/10.96.0.17:80', 'TCP/192.0.2.20:80', 'TCP/192.168.100.2:30085'];
    const withLocal = plan(servicePorts(svc, [{ port: 80, nodePort: 30085 }], three));
    for (const key of keys)
      expect(rs(withLocal, key), key).toEqual(['10.244.1.2:8080/1', '10.244.1.3:8080/1']);
    const remoteOnly = plan(
      servicePorts(svc, [{ port: 80, nodePort: 30085 }], [endpoint('10.244.2.2', 'node-b')]),
    );
    for (const key of keys) expect(rs(remoteOnly, key), key).toEqual(['10.244.2.2:8080/1']);
    expect(members(remoteOnly, 'externalIPLocal')).toEqual(['192.0.2.20,tcp:80']);
    expect(members(remoteOnly, 'nodePortLocalTCP')).toEqual(['30085']);
  });

  it('ClusterIP Service with externalIPs and externalTrafficPolicy=Local: the external IP is Local, the ClusterIP is not', () => {
    const svc = service({
      name: 'eip',
      clusterIP: '10.96.0.18',
      externalIPs: ['192.0.2.21'],
      externalTrafficPolicy: 'Local',
    });
    const p = plan(servicePorts(svc, [{ port: 80 }], three));
    expect(rs(p, 'TCP/192.0.2.21:80')).toEqual(['10.244.1.2:8080/1', '10.244.1.3:8080/1']);
    expect(rs(p, 'TCP/10.96.0.18:80')).toHaveLength(3);
    expect(members(p, 'externalIPLocal')).toEqual(['192.0.2.21,tcp:80']);
    expect(members(p, 'externalIP')).toEqual([]);
  });

  it('no endpoints: the virtual server exists without real servers (IPVS answers ICMP port unreachable), VIP still bound', () => {
    const p = plan(
      servicePorts(service({ name: 'empty', clusterIP: '10.96.0.16' }), [{ port: 80 }], []),
    );
    expect(rs(p, 'TCP/10.96.0.16:80')).toEqual([]);
    expect([...p.boundAddresses]).toEqual(['10.96.0.16']);
    expect(members(p, 'clusterIP')).toEqual(['10.96.0.16,tcp:80']);
  });

  it('multi-port Service: one virtual server per port on the same VIP, bound once', () => {
    const svc = service({ name: 'multi', clusterIP: '10.96.0.17' });
    const p = plan(
      servicePorts(
        svc,
        [
          { name: 'http', port: 80, targetPort: 8080 },
          { name: 'metrics', port: 9090, targetPort: 9091 },
        ],
        three,
      ),
    );
    expect([...p.virtualServers.keys()].sort()).toEqual([
      'TCP/10.96.0.17:80',
      'TCP/10.96.0.17:9090',
    ]);
    expect(rs(p, 'TCP/10.96.0.17:9090')).toEqual([
      '10.244.1.2:9091/1',
      '10.244.1.3:9091/1',
      '10.244.2.2:9091/1',
    ]);
    expect([...p.boundAddresses]).toEqual(['10.96.0.17']);
    expect(members(p, 'clusterIP')).toEqual(['10.96.0.17,tcp:80', '10.96.0.17,tcp:9090']);
  });

  it('UDP: -u virtual servers, udp ipset members and KUBE-NODE-PORT-UDP', () => {
    const svc = service({ name: 'dns', type: 'NodePort', clusterIP: '10.96.0.53' });
    const p = plan(
      servicePorts(svc, [{ port: 53, protocol: 'UDP', targetPort: 5353, nodePort: 30053 }], three),
    );
    const vs = p.virtualServers.get('UDP/10.96.0.53:53')!;
    expect(vsLine('-A', vs)).toBe('-A -u 10.96.0.53:53 -s rr');
    expect(members(p, 'clusterIP')).toEqual(['10.96.0.53,udp:53']);
    expect(members(p, 'nodePortUDP')).toEqual(['30053']);
    expect(p.iptables).toContain('-A KUBE-NODE-PORT -p udp ');
    expect(p.iptables).not.toContain('-p tcp');
  });

  it('externalIPs: a virtual server and a bound /32 each, in KUBE-EXTERNAL-IP (or -LOCAL), not bound when it is a node address', () => {
    const svc = service({
      name: 'ext',
      clusterIP: '10.96.0.18',
      externalIPs: ['203.0.113.10', '192.168.100.2'],
    });
    const p = plan(servicePorts(svc, [{ port: 80 }], three));
    expect(rs(p, 'TCP/203.0.113.10:80')).toHaveLength(3);
    expect([...p.boundAddresses].sort()).toEqual(['10.96.0.18', '203.0.113.10']);
    expect(members(p, 'externalIP')).toEqual(['192.168.100.2,tcp:80', '203.0.113.10,tcp:80']);
    expect(p.iptables).toMatch(
      /-A KUBE-SERVICES .* --match-set KUBE-EXTERNAL-IP dst,dst -j KUBE-MARK-MASQ/,
    );
    expect(p.iptables).toMatch(
      /--match-set KUBE-EXTERNAL-IP dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT/,
    );

    const local = plan(
      servicePorts({ ...svc, externalTrafficPolicy: 'Local' }, [{ port: 80 }], three),
    );
    expect(members(local, 'externalIP')).toEqual([]);
    expect(members(local, 'externalIPLocal')).toEqual([
      '192.168.100.2,tcp:80',
      '203.0.113.10,tcp:80',
    ]);
    expect(rs(local, 'TCP/203.0.113.10:80')).toEqual(['10.244.1.2:8080/1', '10.244.1.3:8080/1']);
    expect(local.iptables).not.toMatch(/KUBE-EXTERNAL-IP-LOCAL dst,dst -j KUBE-MARK-MASQ/);
  });

  it('LoadBalancer ingress IP: virtual server, bound /32, KUBE-LOAD-BALANCER (+ -LOCAL with ETP=Local) and the LB chain', () => {
    const svc = service({
      name: 'lb',
      type: 'LoadBalancer',
      clusterIP: '10.96.0.19',
      loadBalancerIPs: ['198.51.100.7'],
      externalTrafficPolicy: 'Local',
    });
    const p = plan(servicePorts(svc, [{ port: 443, nodePort: 30443 }], three));
    expect(rs(p, 'TCP/198.51.100.7:443')).toEqual(['10.244.1.2:8080/1', '10.244.1.3:8080/1']);
    expect([...p.boundAddresses].sort()).toEqual(['10.96.0.19', '198.51.100.7']);
    expect(members(p, 'loadBalancer')).toEqual(['198.51.100.7,tcp:443']);
    expect(members(p, 'loadBalancerLocal')).toEqual(['198.51.100.7,tcp:443']);
    expect(p.iptables).toContain('--match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER');
    expect(p.iptables).toContain('--match-set KUBE-LOAD-BALANCER-LOCAL dst,dst -j RETURN');
    expect(p.iptables).toContain('-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ');
  });

  it('healthCheckNodePort: one member of KUBE-HEALTH-CHECK-NODE-PORT for all ports, accepted by filter KUBE-NODE-PORT', () => {
    const svc = service({
      name: 'lb',
      type: 'LoadBalancer',
      clusterIP: '10.96.0.19',
      externalTrafficPolicy: 'Local',
      healthCheckNodePort: 32000,
    });
    const ports = servicePorts(
      svc,
      [
        { port: 443, nodePort: 30443 },
        { port: 80, nodePort: 30080 },
      ],
      [],
    );
    const p = plan(ports);
    expect(members(p, 'healthCheckNodePort')).toEqual(['32000']);
    // pkg/proxy/ipvs/proxier.go writeIptablesRules: both rules whatever the set holds.
    const accept =
      '-A KUBE-NODE-PORT -m comment --comment "Kubernetes health check node port" -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT';
    const ret = '-A KUBE-IPVS-FILTER -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j RETURN';
    const filter = p.iptables.slice(p.iptables.indexOf('*filter'));
    expect(filter).toContain(`${accept}\n`);
    expect(filter.indexOf(ret)).toBeGreaterThan(0);
    expect(filter.indexOf(ret)).toBeLessThan(filter.indexOf('-j REJECT'));
    const cluster = plan(
      servicePorts(
        { ...svc, externalTrafficPolicy: 'Cluster' },
        [{ port: 443, nodePort: 30443 }],
        [],
      ),
    );
    expect(members(cluster, 'healthCheckNodePort')).toEqual([]);
    expect(cluster.iptables).toContain(accept);
  });

  it("trafficDistribution: with every endpoint zone-hinted, the ClusterIP's real servers are the node's zone's (topology.go)", () => {
    const zoned = (ip: string, node: string, zone: string, extra = {}) =>
      endpoint(ip, node, 8080, 'TCP', { zone, zoneHints: [zone], ...extra });
    const svc = service({ name: 'web', clusterIP: '10.96.0.10', type: 'NodePort', externalTrafficPolicy: 'Local' }); // prettier-ignore
    const eps = [
      zoned('10.244.1.2', NODE, 'zone-b'),
      zoned('10.244.2.2', 'node-b', 'zone-a'),
      zoned('10.244.3.2', 'node-d', 'zone-b'),
    ];
    const sps = servicePorts(svc, [{ port: 80, nodePort: 30081 }], eps);
    const p = plan(sps, { zone: 'zone-a' });
    expect(rs(p, 'TCP/10.96.0.10:80')).toEqual(['10.244.2.2:8080/1']);
    // Local policy: the local endpoint, whatever its hint (topology never filters those).
    expect(rs(p, 'TCP/192.168.100.2:30081')).toEqual(['10.244.1.2:8080/1']);
    expect(rs(plan(sps, { zone: 'zone-c' }), 'TCP/10.96.0.10:80')).toHaveLength(3);
    expect(rs(plan(sps), 'TCP/10.96.0.10:80')).toHaveLength(3);
    const unhinted = servicePorts(svc, [{ port: 80, nodePort: 30081 }], [...eps, endpoint('10.244.4.2', 'node-e')]); // prettier-ignore
    expect(rs(plan(unhinted, { zone: 'zone-a' }), 'TCP/10.96.0.10:80')).toHaveLength(4);
    const byNode = servicePorts(svc, [{ port: 80, nodePort: 30081 }], eps.map((e) => ({ ...e, nodeHints: [e.nodeName] }))); // prettier-ignore
    expect(rs(plan(byNode, { zone: 'zone-a' }), 'TCP/10.96.0.10:80')).toEqual([
      '10.244.1.2:8080/1',
    ]);
  });

  it('loadBalancerSourceRanges: KUBE-LOAD-BALANCER-FW and -SOURCE-CIDR, KUBE-SOURCE-RANGES-FIREWALL; the node shut out unless a range holds it', () => {
    const svc = (ranges: string[]) =>
      service({
        name: 'lb',
        type: 'LoadBalancer',
        clusterIP: '10.96.0.21',
        loadBalancerIPs: ['198.51.100.7'],
        loadBalancerSourceRanges: ranges,
      });
    const p = plan(servicePorts(svc(['203.0.113.0/24', '192.0.2.9/32']), [{ port: 80 }], three), {
      nodeIP: '192.168.100.2',
    });
    expect(members(p, 'loadBalancerFW')).toEqual(['198.51.100.7,tcp:80']);
    expect(members(p, 'loadBalancerSourceCIDR')).toEqual([
      '198.51.100.7,tcp:80,192.0.2.9/32',
      '198.51.100.7,tcp:80,203.0.113.0/24',
    ]);
    expect(members(p, 'loadBalancerSourceIP')).toEqual([]);
    const filterRules = (text: string) =>
      text.split('\n').filter((l) => /FIREWALL|OUT-FILTER/.test(l) && l.startsWith('-A'));
    expect(filterRules(p.iptables)).toEqual([
      '-A KUBE-PROXY-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port for load balancer with sourceRange" -m set --match-set KUBE-LOAD-BALANCER-FW dst,dst -j KUBE-SOURCE-RANGES-FIREWALL',
      '-A KUBE-SOURCE-RANGES-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port + source cidr for packet filter purpose" -m set --match-set KUBE-LOAD-BALANCER-SOURCE-CIDR dst,dst,src -j RETURN',
      '-A KUBE-SOURCE-RANGES-FIREWALL -j DROP',
      // kubernetes#119656: the node reaches the VIP from the VIP; the ranges leave it out.
      '-A KUBE-IPVS-OUT-FILTER -s 198.51.100.7 -m ipvs --vaddr 198.51.100.7 --vproto tcp --vport 80 -j DROP',
    ]);

    const withNode = plan(servicePorts(svc(['192.168.100.0/24']), [{ port: 80 }], three), {
      nodeIP: '192.168.100.2',
    });
    expect(members(withNode, 'loadBalancerSourceIP')).toEqual(['198.51.100.7,tcp:80,198.51.100.7']);
    expect(withNode.iptables).toContain('--match-set KUBE-LOAD-BALANCER-SOURCE-IP dst,dst,src -j RETURN'); // prettier-ignore
    expect(withNode.iptables).not.toContain('-A KUBE-IPVS-OUT-FILTER -s');

    // A zero-masked range allows any source: nothing firewalled; the DROP rule is constant.
    const open = plan(servicePorts(svc(['0.0.0.0/0']), [{ port: 80 }], three));
    expect(members(open, 'loadBalancerFW')).toEqual([]);
    expect(filterRules(open.iptables)).toEqual(['-A KUBE-SOURCE-RANGES-FIREWALL -j DROP']);

    // Kept up to date: the node's DROP rule leaves with the Service port that needed it.
    const planner = new IpvsPlanner({ nodeName: NODE, nodeIP: '192.168.100.2', clusterCIDR: '10.244.0.0/16', scheduler: 'rr' }); // prettier-ignore
    const firewalled = servicePorts(svc(['203.0.113.0/24']), [{ port: 80 }], three);
    expect(planner.plan({ servicePorts: firewalled }, NODE_IPS).iptables).toContain('-A KUBE-IPVS-OUT-FILTER -s'); // prettier-ignore
    planner.commit();
    const after = planner.plan({ servicePorts: [] }, NODE_IPS);
    expect(after.iptables).not.toContain('-A KUBE-IPVS-OUT-FILTER -s');
    expect(members(after, 'loadBalancerSourceCIDR')).toEqual([]);
  });

  it('uses the configured scheduler', () => {
    const p = plan(
      servicePorts(service({ name: 'w', clusterIP: '10.96.0.20' }), [{ port: 80 }], three),
      { scheduler: 'sh' },
    );
    expect(p.virtualServers.get('TCP/10.96.0.20:80')!.scheduler).toBe('sh');
  });

  it('iptables rules do not grow with Services: 10 and 1,000 Services give the same ruleset', () => {
    const many = (n: number) =>
      Array.from({ length: n }, (_, i) => {
        const svc = service({
          name: `svc-${i}`,
          type: 'NodePort',
          clusterIP: `10.96.${Math.floor(i / 250)}.${(i % 250) + 1}`,
          externalIPs: [`203.0.${Math.floor(i / 250)}.${(i % 250) + 1}`],
        });
        return servicePorts(
          svc,
          [{ port: 80, nodePort: 30000 + i }],
          [endpoint(`10.244.1.${(i % 250) + 2}`, NODE)],
        );
      }).flat();
    const ten = plan(many(10));
    const thousand = plan(many(1000));
    expect(thousand.virtualServers.size).toBe(1000 * (2 + NODE_IPS.length));
    expect(members(thousand, 'clusterIP')).toHaveLength(1000);
    const total = (t: string) => Object.values(countRules(t)).reduce((a, b) => a + b, 0);
    expect(total(ten.iptables)).toBe(total(thousand.iptables));
    expect(total(ten.iptables)).toBeGreaterThan(10);
    expect(thousand.iptables).toBe(ten.iptables);
  });
});
