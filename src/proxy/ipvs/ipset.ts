import type { Protocol } from '../../model/types.js';

/**
 * The ipsets kube-proxy's IPVS mode keeps (pkg/proxy/ipvs/ipset.go, proxier.go ipsetInfo), with
 * kube-proxy's names, types and comments, all of them created on every node whether or not
 * anything fills them (`ipset save` lists them). The comments are what the iptables rules carry
 * in `--comment`; the sets themselves have none.
 */
export const IPSETS = {
  loopBack: {
    name: 'KUBE-LOOP-BACK',
    type: 'hash:ip,port,ip',
    comment: 'Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose',
  },
  clusterIP: {
    name: 'KUBE-CLUSTER-IP',
    type: 'hash:ip,port',
    comment: 'Kubernetes service cluster ip + port for masquerade purpose',
  },
  externalIP: {
    name: 'KUBE-EXTERNAL-IP',
    type: 'hash:ip,port',
    comment: 'Kubernetes service external ip + port for masquerade and filter purpose',
  },
  externalIPLocal: {
    name: 'KUBE-EXTERNAL-IP-LOCAL',
    type: 'hash:ip,port',
    comment: 'Kubernetes service external ip + port with externalTrafficPolicy=local',
  },
  loadBalancer: {
    name: 'KUBE-LOAD-BALANCER',
    type: 'hash:ip,port',
    comment: 'Kubernetes service lb portal',
  },
  loadBalancerLocal: {
    name: 'KUBE-LOAD-BALANCER-LOCAL',
    type: 'hash:ip,port',
    comment: 'Kubernetes service load balancer ip + port with externalTrafficPolicy=local',
  },
  /** loadBalancerSourceRanges: LB IP:ports that are firewalled... */
  loadBalancerFW: {
    name: 'KUBE-LOAD-BALANCER-FW',
    type: 'hash:ip,port',
    comment: 'Kubernetes service load balancer ip + port for load balancer with sourceRange',
  },
  /** ...the LB IP as an allowed source of itself (when a range holds the node's IP)... */
  loadBalancerSourceIP: {
    name: 'KUBE-LOAD-BALANCER-SOURCE-IP',
    type: 'hash:ip,port,ip',
    comment: 'Kubernetes service load balancer ip + port + source IP for packet filter purpose',
  },
  /** ...and the allowed source CIDRs of each. */
  loadBalancerSourceCIDR: {
    name: 'KUBE-LOAD-BALANCER-SOURCE-CIDR',
    type: 'hash:ip,port,net',
    comment: 'Kubernetes service load balancer ip + port + source cidr for packet filter purpose',
  },
  nodePortTCP: {
    name: 'KUBE-NODE-PORT-TCP',
    type: 'bitmap:port',
    comment: 'Kubernetes nodeport TCP port for masquerade purpose',
  },
  nodePortLocalTCP: {
    name: 'KUBE-NODE-PORT-LOCAL-TCP',
    type: 'bitmap:port',
    comment: 'Kubernetes nodeport TCP port with externalTrafficPolicy=local',
  },
  nodePortUDP: {
    name: 'KUBE-NODE-PORT-UDP',
    type: 'bitmap:port',
    comment: 'Kubernetes nodeport UDP port for masquerade purpose',
  },
  nodePortLocalUDP: {
    name: 'KUBE-NODE-PORT-LOCAL-UDP',
    type: 'bitmap:port',
    comment: 'Kubernetes nodeport UDP port with externalTrafficPolicy=local',
  },
  /**
   * SCTP NodePorts (hash:ip,port: node IP and port). The topology model has no SCTP, so they stay
   * empty and no rule matches them, as in kube-proxy on a cluster without SCTP Services.
   */
  nodePortSCTP: {
    name: 'KUBE-NODE-PORT-SCTP-HASH',
    type: 'hash:ip,port',
    comment: "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'",
  },
  nodePortLocalSCTP: {
    name: 'KUBE-NODE-PORT-LOCAL-SCTP-HASH',
    type: 'hash:ip,port',
    comment:
      "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'",
  },
  /** healthCheckNodePorts of the node's Services: filter KUBE-NODE-PORT accepts TCP to them. */
  healthCheckNodePort: {
    name: 'KUBE-HEALTH-CHECK-NODE-PORT',
    type: 'bitmap:port',
    comment: 'Kubernetes health check node port',
  },
  /** Every address bound to kube-ipvs0; KUBE-IPVS-FILTER rejects other ports on them (kubernetes#72236). */
  ipvsIPs: { name: 'KUBE-IPVS-IPS', type: 'hash:ip', comment: 'Addresses on the ipvs interface' },
} as const satisfies Record<string, IpsetSpec>;

export type IpsetKey = keyof typeof IPSETS;
export type IpsetType =
  'hash:ip' | 'hash:ip,port' | 'hash:ip,port,ip' | 'hash:ip,port,net' | 'bitmap:port';

export interface IpsetSpec {
  name: string;
  type: IpsetType;
  comment: string;
}

export const IPSET_KEYS = Object.keys(IPSETS) as IpsetKey[];

/**
 * `ipset create` arguments as kube-proxy's util/ipset builds them (pkg/proxy/ipvs/ipset/ipset.go
 * createSet, with setIPSetDefaults): hash sets get family, hashsize and maxelem, bitmap:port sets
 * the whole port range. No `comment` option: kube-proxy's members carry no comment, and a set
 * created with it is a different set to `ipset save` (svclab created them with it until the
 * fidelity comparison showed it).
 */
export function ipsetCreateLine(spec: IpsetSpec): string {
  const extra = spec.type.startsWith('hash:')
    ? 'family inet hashsize 1024 maxelem 65536'
    : 'range 0-65535';
  return `create ${spec.name} ${spec.type} ${extra} -exist`;
}

/** `10.96.0.10,tcp:80`: the member text `ipset list` prints for hash:ip,port. */
export function ipPortEntry(ip: string, protocol: Protocol, port: number): string {
  return `${ip},${protocol.toLowerCase()}:${port}`;
}

/**
 * `10.244.1.2,tcp:8080,10.244.1.2`: hash:ip,port,ip, for KUBE-LOOP-BACK (hairpin); with a CIDR
 * as `ip2`, hash:ip,port,net (KUBE-LOAD-BALANCER-SOURCE-CIDR), written as kube-proxy writes it
 * (`/32` included, which `ipset list` leaves out).
 */
export function ipPortIpEntry(ip: string, protocol: Protocol, port: number, ip2: string): string {
  return `${ipPortEntry(ip, protocol, port)},${ip2}`;
}
