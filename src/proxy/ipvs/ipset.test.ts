import { describe, expect, it } from 'vitest';
import { IPSETS, ipsetCreateLine } from './ipset.js';

/**
 * kube-proxy v1.37.2's sets (pkg/proxy/ipvs/ipset.go constants, proxier.go ipsetInfo): name, type
 * and comment, copied from the source. The comments are what the iptables rules that match a
 * set carry in `--comment`, so a wrong one is a rule kube-proxy does not write.
 */
const UPSTREAM: [name: string, type: string, comment: string][] = [
  [
    'KUBE-LOOP-BACK',
    'hash:ip,port,ip',
    'Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose',
  ],
  [
    'KUBE-CLUSTER-IP',
    'hash:ip,port',
    'Kubernetes service cluster ip + port for masquerade purpose',
  ],
  [
    'KUBE-EXTERNAL-IP',
    'hash:ip,port',
    'Kubernetes service external ip + port for masquerade and filter purpose',
  ],
  [
    'KUBE-EXTERNAL-IP-LOCAL',
    'hash:ip,port',
    'Kubernetes service external ip + port with externalTrafficPolicy=local',
  ],
  ['KUBE-LOAD-BALANCER', 'hash:ip,port', 'Kubernetes service lb portal'],
  [
    'KUBE-LOAD-BALANCER-FW',
    'hash:ip,port',
    'Kubernetes service load balancer ip + port for load balancer with sourceRange',
  ],
  [
    'KUBE-LOAD-BALANCER-LOCAL',
    'hash:ip,port',
    'Kubernetes service load balancer ip + port with externalTrafficPolicy=local',
  ],
  [
    'KUBE-LOAD-BALANCER-SOURCE-IP',
    'hash:ip,port,ip',
    'Kubernetes service load balancer ip + port + source IP for packet filter purpose',
  ],
  [
    'KUBE-LOAD-BALANCER-SOURCE-CIDR',
    'hash:ip,port,net',
    'Kubernetes service load balancer ip + port + source cidr for packet filter purpose',
  ],
  ['KUBE-NODE-PORT-TCP', 'bitmap:port', 'Kubernetes nodeport TCP port for masquerade purpose'],
  [
    'KUBE-NODE-PORT-LOCAL-TCP',
    'bitmap:port',
    'Kubernetes nodeport TCP port with externalTrafficPolicy=local',
  ],
  ['KUBE-NODE-PORT-UDP', 'bitmap:port', 'Kubernetes nodeport UDP port for masquerade purpose'],
  [
    'KUBE-NODE-PORT-LOCAL-UDP',
    'bitmap:port',
    'Kubernetes nodeport UDP port with externalTrafficPolicy=local',
  ],
  [
    'KUBE-NODE-PORT-SCTP-HASH',
    'hash:ip,port',
    "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'",
  ],
  [
    'KUBE-NODE-PORT-LOCAL-SCTP-HASH',
    'hash:ip,port',
    "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'",
  ],
  ['KUBE-HEALTH-CHECK-NODE-PORT', 'bitmap:port', 'Kubernetes health check node port'],
  ['KUBE-IPVS-IPS', 'hash:ip', 'Addresses on the ipvs interface'],
];

describe('IPSETS', () => {
  it("has kube-proxy v1.37.2's name, type and comment for every set", () => {
    const ours = Object.values(IPSETS).map((s) => [s.name, s.type, s.comment]);
    for (const u of UPSTREAM) expect(ours).toContainEqual(u);
    // Every one of kube-proxy's sets, and no other: kube-proxy creates them all on every node.
    expect(ours.map((s) => s[0]).sort()).toEqual(UPSTREAM.map((u) => u[0]).sort());
  });

  it('creates the sets as kube-proxy does: no comment option', () => {
    expect(ipsetCreateLine(IPSETS.clusterIP)).toBe(
      'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 -exist',
    );
    expect(ipsetCreateLine(IPSETS.nodePortTCP)).toBe(
      'create KUBE-NODE-PORT-TCP bitmap:port range 0-65535 -exist',
    );
  });

  it("comments KUBE-IPVS-IPS with kubeIPVSSetComment (it said 'IPVS virtual server IP addresses')", () => {
    expect(IPSETS.ipvsIPs.comment).toBe('Addresses on the ipvs interface');
  });
});
