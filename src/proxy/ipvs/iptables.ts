import { IPSETS, type IpsetKey } from './ipset.js';

/**
 * The iptables side of kube-proxy's IPVS mode (writeIptablesRules in pkg/proxy/ipvs/proxier.go).
 * Every Service-specific fact lives in an ipset, so the ruleset depends only on which sets are
 * empty, never on how many Services there are: that is what keeps IPVS mode O(1) in iptables.
 */

/** kube-proxy's default --iptables-masquerade-bit 14. */
export const MASQ_MARK = '0x4000';

const NAT_CHAINS = [
  'KUBE-SERVICES',
  'KUBE-POSTROUTING',
  'KUBE-NODE-PORT',
  'KUBE-LOAD-BALANCER',
  'KUBE-MARK-MASQ',
];
const FILTER_CHAINS = [
  'KUBE-FORWARD',
  'KUBE-NODE-PORT',
  'KUBE-PROXY-FIREWALL',
  'KUBE-SOURCE-RANGES-FIREWALL',
  'KUBE-IPVS-FILTER',
  'KUBE-IPVS-OUT-FILTER',
];

/** Jumps from the built-in chains, inserted once at install (kube-proxy "ensures" them each sync). */
const JUMPS: { table: 'nat' | 'filter'; from: string; to: string; comment: string }[] = [
  { table: 'nat', from: 'OUTPUT', to: 'KUBE-SERVICES', comment: 'kubernetes service portals' },
  { table: 'nat', from: 'PREROUTING', to: 'KUBE-SERVICES', comment: 'kubernetes service portals' },
  {
    table: 'nat',
    from: 'POSTROUTING',
    to: 'KUBE-POSTROUTING',
    comment: 'kubernetes postrouting rules',
  },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-FORWARD', comment: 'kubernetes forwarding rules' },
  {
    table: 'filter',
    from: 'INPUT',
    to: 'KUBE-NODE-PORT',
    comment: 'kubernetes health check rules',
  },
  {
    table: 'filter',
    from: 'INPUT',
    to: 'KUBE-PROXY-FIREWALL',
    comment: 'kube-proxy firewall rules',
  },
  {
    table: 'filter',
    from: 'FORWARD',
    to: 'KUBE-PROXY-FIREWALL',
    comment: 'kube-proxy firewall rules',
  },
  {
    table: 'filter',
    from: 'INPUT',
    to: 'KUBE-IPVS-FILTER',
    comment: 'kubernetes ipvs access filter',
  },
  {
    table: 'filter',
    from: 'OUTPUT',
    to: 'KUBE-IPVS-OUT-FILTER',
    comment: 'kubernetes ipvs access filter',
  },
];

/** ipset-to-chain dispatch, in kube-proxy's order (ipsetWithIptablesChain): LOCAL sets before their masquerading twins. */
const SET_JUMPS: {
  set: IpsetKey;
  table?: 'filter';
  from: string;
  to: string;
  match: string;
  protocol?: 'tcp' | 'udp';
}[] = [
  { set: 'loopBack', from: 'KUBE-POSTROUTING', to: 'MASQUERADE', match: 'dst,dst,src' },
  { set: 'loadBalancer', from: 'KUBE-SERVICES', to: 'KUBE-LOAD-BALANCER', match: 'dst,dst' },
  { set: 'loadBalancerLocal', from: 'KUBE-LOAD-BALANCER', to: 'RETURN', match: 'dst,dst' },
  { set: 'nodePortLocalTCP', from: 'KUBE-NODE-PORT', to: 'RETURN', match: 'dst', protocol: 'tcp' },
  {
    set: 'nodePortTCP',
    from: 'KUBE-NODE-PORT',
    to: 'KUBE-MARK-MASQ',
    match: 'dst',
    protocol: 'tcp',
  },
  { set: 'nodePortLocalUDP', from: 'KUBE-NODE-PORT', to: 'RETURN', match: 'dst', protocol: 'udp' },
  {
    set: 'nodePortUDP',
    from: 'KUBE-NODE-PORT',
    to: 'KUBE-MARK-MASQ',
    match: 'dst',
    protocol: 'udp',
  },
  // loadBalancerSourceRanges: a firewalled LB IP:port goes to KUBE-SOURCE-RANGES-FIREWALL, which
  // returns allowed sources and drops the rest.
  {
    set: 'loadBalancerFW',
    table: 'filter',
    from: 'KUBE-PROXY-FIREWALL',
    to: 'KUBE-SOURCE-RANGES-FIREWALL',
    match: 'dst,dst',
  },
  {
    set: 'loadBalancerSourceCIDR',
    table: 'filter',
    from: 'KUBE-SOURCE-RANGES-FIREWALL',
    to: 'RETURN',
    match: 'dst,dst,src',
  },
  {
    set: 'loadBalancerSourceIP',
    table: 'filter',
    from: 'KUBE-SOURCE-RANGES-FIREWALL',
    to: 'RETURN',
    match: 'dst,dst,src',
  },
];

export interface RulesInput {
  /** Sets that have at least one member; kube-proxy writes a set's rules only then. */
  nonEmpty: ReadonlySet<IpsetKey>;
  /** --cluster-cidr: Service traffic from outside it is masqueraded. */
  clusterCIDR: string;
  /**
   * Firewalled LB IP:ports (`198.51.100.7,tcp:80`) whose source ranges leave this node out
   * (kube-proxy's lbNoNodeAccessIPPortProtocolEntries, kubernetes#119656), sorted: the node
   * itself must not reach them either.
   */
  noNodeAccess?: readonly string[] | undefined;
}

const comment = (key: IpsetKey) => `-m comment --comment "${IPSETS[key].comment}"`;
const matchSet = (key: IpsetKey, dir: string) => `-m set --match-set ${IPSETS[key].name} ${dir}`;

/** The iptables-restore input (for `--noflush`) a sync writes: the KUBE-* chains, flushed and refilled. */
export function iptablesRules(input: RulesInput): string {
  const has = (k: IpsetKey) => input.nonEmpty.has(k);
  const nat: string[] = [];
  const filter: string[] = [];

  // Connections from localhost never reach a Service in IPVS mode: 127.0.0.1 cannot be a VIP.
  nat.push('-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN');
  for (const j of SET_JUMPS) {
    if (!has(j.set)) continue;
    const proto = j.protocol ? `-p ${j.protocol} ` : '';
    (j.table === 'filter' ? filter : nat).push(
      `-A ${j.from} ${proto}${comment(j.set)} ${matchSet(j.set, j.match)} -j ${j.to}`,
    );
  }
  if (has('clusterIP')) {
    // Masquerade off-cluster traffic to a Service VIP (kube-proxy's LocalTrafficDetector by cluster CIDR):
    // such traffic may be forwarded to another node, whose reply must come back through this one.
    nat.push(
      `-A KUBE-SERVICES ${comment('clusterIP')} ${matchSet('clusterIP', 'dst,dst')} ! -s ${input.clusterCIDR} -j KUBE-MARK-MASQ`,
    );
  }
  const externalAccept = (key: IpsetKey) => {
    const base = `-A KUBE-SERVICES ${comment(key)} ${matchSet(key, 'dst,dst')}`;
    // "From off-machine": not from a bridge port, not from a local address.
    nat.push(`${base} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`);
    nat.push(`${base} -m addrtype --dst-type LOCAL -j ACCEPT`);
  };
  if (has('externalIP')) {
    nat.push(
      `-A KUBE-SERVICES ${comment('externalIP')} ${matchSet('externalIP', 'dst,dst')} -j KUBE-MARK-MASQ`,
    );
    externalAccept('externalIP');
  }
  if (has('externalIPLocal')) externalAccept('externalIPLocal');
  nat.push('-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT');
  nat.push('-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ');
  // Accept Service traffic at the end of KUBE-SERVICES so that other nat rules cannot break IPVS.
  for (const key of ['clusterIP', 'loadBalancer'] as const) {
    if (has(key)) nat.push(`-A KUBE-SERVICES ${matchSet(key, 'dst,dst')} -j ACCEPT`);
  }
  nat.push(`-A KUBE-POSTROUTING -m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`);
  nat.push(`-A KUBE-POSTROUTING -j MARK --xor-mark ${MASQ_MARK}`);
  nat.push(
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
  );
  nat.push(`-A KUBE-MARK-MASQ -j MARK --or-mark ${MASQ_MARK}`);

  filter.push(
    `-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ${MASQ_MARK}/${MASQ_MARK} -j ACCEPT`,
  );
  filter.push(
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  );
  // Load balancers' health checks reach the node's health server even where INPUT drops.
  filter.push(
    `-A KUBE-NODE-PORT ${comment('healthCheckNodePort')} ${matchSet('healthCheckNodePort', 'dst')} -j ACCEPT`,
  );
  // kubernetes#72236: VIPs on kube-ipvs0 are local addresses, so without this every host port
  // (sshd, kubelet...) would answer on every Service IP. Only Service ports (and the health
  // check ports, which kube-proxy's health server opens on every address) pass.
  for (const key of ['loadBalancer', 'clusterIP', 'externalIP', 'externalIPLocal'] as const) {
    filter.push(`-A KUBE-IPVS-FILTER ${matchSet(key, 'dst,dst')} -j RETURN`);
  }
  filter.push(`-A KUBE-IPVS-FILTER ${matchSet('healthCheckNodePort', 'dst')} -j RETURN`);
  filter.push(
    `-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW ${matchSet('ipvsIPs', 'dst')} -j REJECT`,
  );
  // What KUBE-SOURCE-RANGES-FIREWALL did not return comes from outside the ranges.
  filter.push('-A KUBE-SOURCE-RANGES-FIREWALL -j DROP');
  // The node reaches an LB IP on kube-ipvs0 from that very address (source and destination are
  // both the LB IP), which KUBE-PROXY-FIREWALL never sees (OUTPUT): drop it here.
  for (const entry of input.noNodeAccess ?? []) {
    const [ip, protoPort] = entry.split(',');
    const [proto, port] = protoPort!.split(':');
    filter.push(
      `-A KUBE-IPVS-OUT-FILTER -s ${ip} -m ipvs --vaddr ${ip} --vproto ${proto} --vport ${port} -j DROP`,
    );
  }

  return [
    '*nat',
    ...NAT_CHAINS.map((c) => `:${c} - [0:0]`),
    ...nat,
    'COMMIT',
    '*filter',
    ...FILTER_CHAINS.map((c) => `:${c} - [0:0]`),
    ...filter,
    'COMMIT',
    '',
  ].join('\n');
}

/** One-time iptables-restore (`--noflush`) input for install: the chains and the jumps into them. */
export function iptablesInstall(): string {
  const table = (t: 'nat' | 'filter', chains: string[]) => [
    `*${t}`,
    ...chains.map((c) => `:${c} - [0:0]`),
    ...JUMPS.filter((j) => j.table === t).map(
      (j) => `-I ${j.from} -m comment --comment "${j.comment}" -j ${j.to}`,
    ),
    'COMMIT',
  ];
  return [...table('nat', NAT_CHAINS), ...table('filter', FILTER_CHAINS), ''].join('\n');
}

/** Rules (`-A` lines) per chain in restore text or `iptables-save` output, for comparing the two. */
export function countRules(
  text: string,
  chains: readonly string[] = [...NAT_CHAINS, ...FILTER_CHAINS],
): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(chains.map((c) => [c, 0]));
  for (const line of text.split('\n')) {
    const m = /^-A (\S+) /.exec(line);
    if (m && m[1]! in counts) counts[m[1]!]!++;
  }
  return counts;
}
