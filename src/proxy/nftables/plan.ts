import { categorizeEndpoints } from '../endpoints.js';
import type { Endpoint, ProxyState, ServicePortState } from '../types.js';
import {
  TABLE_FAMILY,
  TABLE_NAME,
  affinitySetName,
  endpointChainName,
  servicePortChainNames,
  type ServicePortRef,
} from './names.js';
import type { ChainSpec, ElementSpec, Ruleset, SetSpec } from './ruleset.js';

/**
 * Plans `table ip kube-proxy` the way kube-proxy's nftables mode lays it out
 * (pkg/proxy/nftables/proxier.go: setupNFTables and syncProxyRules). Pure: same input, same
 * ruleset, no kernel.
 */

export interface NftablesPlanConfig {
  nodeName: string;
  nodeIP: string;
  /** kube-proxy's --cluster-cidr: sources outside it are "not local" (masqueraded to ClusterIPs). */
  clusterCIDR: string;
  /** Unallocated ClusterIPs in it are dropped (kube-proxy's cluster-ips-check chain). */
  serviceCIDR: string;
  /**
   * `all` accepts NodePorts on every local address but 127.0.0.0/8 (`fib daddr type local`);
   * `primary` only on the node IP (set `nodeport-ips`), which is what kube-proxy's nftables
   * mode defaults to since it became beta (--nodeport-addresses=primary).
   */
  nodePortAddresses?: 'all' | 'primary' | undefined;
  /** --iptables-masquerade-bit; kube-proxy's default is 14 (mark 0x4000). */
  masqueradeBit?: number | undefined;
}

// Stock object names.
const SERVICES = 'services';
const SERVICE_IPS = 'service-ips';
const SERVICE_NODEPORTS = 'service-nodeports';
const NODEPORT_IPS = 'nodeport-ips';
const CLUSTER_IPS = 'cluster-ips';
const SERVICE_ENDPOINTS_CHECK = 'service-endpoints-check';
const NODEPORT_ENDPOINTS_CHECK = 'nodeport-endpoints-check';
const NO_ENDPOINT_SERVICES = 'no-endpoint-services';
const NO_ENDPOINT_NODEPORTS = 'no-endpoint-nodeports';
const REJECT_CHAIN = 'reject-chain';
const CLUSTER_IPS_CHECK = 'cluster-ips-check';
const FIREWALL_IPS = 'firewall-ips';
const FIREWALL_CHECK = 'firewall-check';
const MARK_MASQ = 'mark-for-masquerade';
const MASQUERADING = 'masquerading';

const IP_PROTO_PORT = 'ipv4_addr . inet_proto . inet_service : verdict';
const PROTO_PORT = 'inet_proto . inet_service : verdict';

export function planRuleset(state: ProxyState, cfg: NftablesPlanConfig): Ruleset {
  const rs: Ruleset = {
    family: TABLE_FAMILY,
    table: TABLE_NAME,
    comment: 'rules for kube-proxy',
    chains: new Map(),
    sets: new Map(),
  };
  planTableLevel(rs, cfg);
  const sorted = [...state.servicePorts].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  for (const sp of sorted) {
    // Headless Services have no ClusterIP and are not proxied (kube-proxy never sees them).
    if (!sp.service.clusterIP || sp.service.clusterIP === 'None') continue;
    planServicePort(rs, sp, cfg);
  }
  return rs;
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

function addChain(rs: Ruleset, chain: Omit<ChainSpec, 'rules'> & { rules?: string[] }): ChainSpec {
  const spec: ChainSpec = { ...chain, rules: chain.rules ?? [] };
  rs.chains.set(spec.name, spec);
  return spec;
}

function addSet(rs: Ruleset, set: Omit<SetSpec, 'elements'>): SetSpec {
  const spec: SetSpec = { ...set, elements: new Map() };
  rs.sets.set(spec.name, spec);
  return spec;
}

function rule(rs: Ruleset, chain: string, text: string): void {
  const c = rs.chains.get(chain);
  if (!c) throw new Error(`planner bug: rule for unknown chain ${chain}`);
  c.rules.push(text);
}

function element(rs: Ruleset, set: string, key: string, el: ElementSpec): void {
  const s = rs.sets.get(set);
  if (!s) throw new Error(`planner bug: element for unknown set ${set}`);
  // Several ports of one Service share a ClusterIP in cluster-ips: the first owner keeps it.
  if (!s.elements.has(key)) s.elements.set(key, el);
}

function planTableLevel(rs: Ruleset, cfg: NftablesPlanConfig): void {
  const mark = hex32(1 << (cfg.masqueradeBit ?? 14));
  const nodePortsOnAll = (cfg.nodePortAddresses ?? 'all') === 'all';

  // Filter chains run before DNAT (dstnat - 10) so they see the Service IP, not the endpoint.
  addChain(rs, {
    name: 'filter-prerouting',
    base: { type: 'filter', hook: 'prerouting', priority: -110 },
  });
  addChain(rs, { name: 'filter-input', base: { type: 'filter', hook: 'input', priority: -110 } });
  addChain(rs, {
    name: 'filter-forward',
    base: { type: 'filter', hook: 'forward', priority: -110 },
  });
  addChain(rs, { name: 'filter-output', base: { type: 'filter', hook: 'output', priority: -110 } });
  addChain(rs, {
    name: 'filter-output-post-dnat',
    base: { type: 'filter', hook: 'output', priority: -90 },
  });
  addChain(rs, {
    name: 'nat-prerouting',
    base: { type: 'nat', hook: 'prerouting', priority: -100 },
  });
  addChain(rs, { name: 'nat-output', base: { type: 'nat', hook: 'output', priority: -100 } });
  addChain(rs, {
    name: 'nat-postrouting',
    base: { type: 'nat', hook: 'postrouting', priority: 100 },
  });

  for (const name of [
    NODEPORT_ENDPOINTS_CHECK,
    SERVICE_ENDPOINTS_CHECK,
    FIREWALL_CHECK,
    SERVICES,
    MASQUERADING,
    CLUSTER_IPS_CHECK,
    MARK_MASQ,
  ]) {
    addChain(rs, { name });
  }
  addChain(rs, {
    name: REJECT_CHAIN,
    comment: 'helper for @no-endpoint-services / @no-endpoint-nodeports',
    rules: ['reject'],
  });

  // Rejecting is only valid in input/forward/output hooks on kernels before 5.9, hence no
  // endpoints check in filter-prerouting.
  rule(rs, 'filter-input', `ct state new jump ${NODEPORT_ENDPOINTS_CHECK}`);
  rule(rs, 'filter-input', `ct state new jump ${SERVICE_ENDPOINTS_CHECK}`);
  rule(rs, 'filter-forward', `ct state new jump ${SERVICE_ENDPOINTS_CHECK}`);
  rule(rs, 'filter-output', `ct state new jump ${SERVICE_ENDPOINTS_CHECK}`);
  rule(rs, 'filter-prerouting', `ct state new jump ${FIREWALL_CHECK}`);
  rule(rs, 'filter-output', `ct state new jump ${FIREWALL_CHECK}`);
  rule(rs, 'nat-output', `jump ${SERVICES}`);
  rule(rs, 'nat-prerouting', `jump ${SERVICES}`);
  rule(rs, 'nat-postrouting', `jump ${MASQUERADING}`);
  // After DNAT: traffic still addressed to a ClusterIP matched no Service port.
  rule(rs, 'filter-forward', `ct state new jump ${CLUSTER_IPS_CHECK}`);
  rule(rs, 'filter-output-post-dnat', `ct state new jump ${CLUSTER_IPS_CHECK}`);

  rule(rs, MARK_MASQ, `meta mark set meta mark | ${mark}`);
  rule(rs, MASQUERADING, `meta mark & ${mark} == ${hex32(0)} return`);
  rule(rs, MASQUERADING, `meta mark set meta mark ^ ${mark}`);
  rule(rs, MASQUERADING, 'masquerade fully-random');

  addSet(rs, { name: CLUSTER_IPS, kind: 'set', type: 'ipv4_addr', comment: 'Active ClusterIPs' });
  rule(
    rs,
    CLUSTER_IPS_CHECK,
    `ip daddr @${CLUSTER_IPS} reject comment "Reject traffic to invalid ports of ClusterIPs"`,
  );
  rule(
    rs,
    CLUSTER_IPS_CHECK,
    `ip daddr ${cfg.serviceCIDR} drop comment "Drop traffic to unallocated ClusterIPs"`,
  );

  if (!nodePortsOnAll) {
    const s = addSet(rs, {
      name: NODEPORT_IPS,
      kind: 'set',
      type: 'ipv4_addr',
      comment: 'IPs that accept NodePort traffic',
    });
    s.elements.set(cfg.nodeIP, {});
  }

  addSet(rs, {
    name: NO_ENDPOINT_SERVICES,
    kind: 'map',
    type: IP_PROTO_PORT,
    comment: 'vmap to drop or reject packets to services with no endpoints',
  });
  addSet(rs, {
    name: NO_ENDPOINT_NODEPORTS,
    kind: 'map',
    type: PROTO_PORT,
    comment: 'vmap to drop or reject packets to service nodeports with no endpoints',
  });
  rule(
    rs,
    SERVICE_ENDPOINTS_CHECK,
    `ip daddr . meta l4proto . th dport vmap @${NO_ENDPOINT_SERVICES}`,
  );
  rule(
    rs,
    NODEPORT_ENDPOINTS_CHECK,
    nodePortsOnAll
      ? `ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @${NO_ENDPOINT_NODEPORTS}`
      : `ip daddr @${NODEPORT_IPS} meta l4proto . th dport vmap @${NO_ENDPOINT_NODEPORTS}`,
  );

  // The model has no loadBalancerSourceRanges, but the dispatch exists in every kube-proxy table.
  addSet(rs, {
    name: FIREWALL_IPS,
    kind: 'map',
    type: IP_PROTO_PORT,
    comment: 'destinations that are subject to LoadBalancerSourceRanges',
  });
  rule(rs, FIREWALL_CHECK, `ip daddr . meta l4proto . th dport vmap @${FIREWALL_IPS}`);

  addSet(rs, {
    name: SERVICE_IPS,
    kind: 'map',
    type: IP_PROTO_PORT,
    comment: 'ClusterIP, ExternalIP and LoadBalancer IP traffic',
  });
  addSet(rs, {
    name: SERVICE_NODEPORTS,
    kind: 'map',
    type: PROTO_PORT,
    comment: 'NodePort traffic',
  });
  rule(rs, SERVICES, `ip daddr . meta l4proto . th dport vmap @${SERVICE_IPS}`);
  rule(
    rs,
    SERVICES,
    nodePortsOnAll
      ? `fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @${SERVICE_NODEPORTS}`
      : `ip daddr @${NODEPORT_IPS} meta l4proto . th dport vmap @${SERVICE_NODEPORTS}`,
  );
}

function byAddress(a: Endpoint, b: Endpoint): number {
  const ka = `${a.ip}:${a.port}`;
  const kb = `${b.ip}:${b.port}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** One Service port: its map elements, policy chains, endpoint chains and affinity sets. */
function planServicePort(rs: Ruleset, sp: ServicePortState, cfg: NftablesPlanConfig): void {
  const svc = sp.service;
  const owner = sp.name;
  const protocol = sp.port.protocol.toLowerCase();
  const ref: ServicePortRef = {
    namespace: svc.namespace,
    name: svc.name,
    protocol,
    portName: sp.port.name,
  };
  const chains = servicePortChainNames(ref);
  const port = sp.port.port;
  const nodePort = sp.port.nodePort ?? 0;
  const affinity = svc.sessionAffinity === 'ClientIP';

  // kube-proxy's BaseServicePortInfo predicates.
  const externallyAccessible =
    nodePort !== 0 || svc.externalIPs.length > 0 || svc.loadBalancerIPs.length > 0;
  const externalPolicyLocal =
    externallyAccessible &&
    svc.externalTrafficPolicy === 'Local' &&
    (svc.type === 'NodePort' || svc.type === 'LoadBalancer');
  const internalPolicyLocal = svc.internalTrafficPolicy === 'Local';
  // Even with externalTrafficPolicy=Local, cluster-wide endpoints implement the short circuits.
  const usesClusterEndpoints = !internalPolicyLocal || externallyAccessible;
  const usesLocalEndpoints = internalPolicyLocal || externalPolicyLocal;

  const cat = categorizeEndpoints(sp, cfg.nodeName);
  const clusterEndpoints = usesClusterEndpoints ? [...cat.clusterEndpoints].sort(byAddress) : [];
  const localEndpoints = usesLocalEndpoints ? [...cat.localEndpoints].sort(byAddress) : [];
  const hasEndpoints = cat.hasEndpoints;
  const reachable = new Map<string, Endpoint>();
  for (const ep of [...clusterEndpoints, ...localEndpoints])
    reachable.set(`${ep.ip}:${ep.port}`, ep);

  const usesClusterChain = clusterEndpoints.length > 0;
  const usesLocalChain = localEndpoints.length > 0;
  const hasInternalEndpoints = internalPolicyLocal ? localEndpoints.length > 0 : hasEndpoints;
  const hasExternalEndpoints = externalPolicyLocal ? localEndpoints.length > 0 : hasEndpoints;
  const internalChain = internalPolicyLocal ? chains.local : chains.cluster;
  const externalPolicyChain = externalPolicyLocal ? chains.local : chains.cluster;
  const usesExternalChain = hasEndpoints && externallyAccessible;

  // No endpoints at all: reject. Endpoints elsewhere only, under a Local policy: drop.
  const internalFilterVerdict = hasEndpoints ? 'drop' : `goto ${REJECT_CHAIN}`;
  const externalFilterVerdict = hasEndpoints ? 'drop' : `goto ${REJECT_CHAIN}`;

  const comment = sp.name;
  const ipKey = (ip: string) => `${ip} . ${protocol} . ${port}`;

  element(rs, CLUSTER_IPS, svc.clusterIP, { owner });
  if (hasInternalEndpoints) {
    element(rs, SERVICE_IPS, ipKey(svc.clusterIP), { value: `goto ${internalChain}`, owner });
  } else {
    element(rs, NO_ENDPOINT_SERVICES, ipKey(svc.clusterIP), {
      value: internalFilterVerdict,
      comment,
      owner,
    });
  }
  for (const ip of [...svc.externalIPs, ...svc.loadBalancerIPs]) {
    if (hasEndpoints)
      element(rs, SERVICE_IPS, ipKey(ip), { value: `goto ${chains.external}`, owner });
    if (!hasExternalEndpoints)
      element(rs, NO_ENDPOINT_SERVICES, ipKey(ip), {
        value: externalFilterVerdict,
        comment,
        owner,
      });
  }
  if (nodePort !== 0) {
    const key = `${protocol} . ${nodePort}`;
    if (hasEndpoints)
      element(rs, SERVICE_NODEPORTS, key, { value: `goto ${chains.external}`, owner });
    if (!hasExternalEndpoints)
      element(rs, NO_ENDPOINT_NODEPORTS, key, { value: externalFilterVerdict, comment, owner });
  }

  // Affinity sets before the chains whose rules name them.
  if (affinity) {
    for (const ep of reachable.values()) {
      addSet(rs, {
        name: affinitySetName(ref, ep.ip, ep.port),
        kind: 'set',
        type: 'ipv4_addr',
        // "dynamic" although the set holds no stateful objects: the kernel adds it on its own
        // and a later `add set` without it would fail as a flags change (kube-proxy's comment).
        flags: ['dynamic', 'timeout'],
        timeoutSeconds: svc.sessionAffinityTimeoutSeconds,
        owner,
      });
    }
  }

  if (usesClusterChain) addChain(rs, { name: chains.cluster, owner });
  if (usesLocalChain) addChain(rs, { name: chains.local, owner });
  if (usesExternalChain) addChain(rs, { name: chains.external, owner });

  if (hasInternalEndpoints) {
    // Off-cluster traffic to a ClusterIP (a static route to any node) may bounce to another node.
    rule(
      rs,
      internalChain,
      `ip daddr ${svc.clusterIP} ${protocol} dport ${port} ip saddr != ${cfg.clusterCIDR} jump ${MARK_MASQ}`,
    );
  }

  if (usesExternalChain) {
    if (!externalPolicyLocal) {
      // Endpoints may be on another node: masquerade so replies come back through this one.
      rule(rs, chains.external, `jump ${MARK_MASQ}`);
    } else {
      // Pod → external IP of its own cluster behaves as if it went out to the load balancer
      // and came back: neither traffic policy applies.
      rule(
        rs,
        chains.external,
        `ip saddr ${cfg.clusterCIDR} goto ${chains.cluster} comment "short-circuit pod traffic"`,
      );
      // The node itself picks the VIP or node IP as source, so it must be masqueraded.
      rule(
        rs,
        chains.external,
        `fib saddr type local jump ${MARK_MASQ} comment "masquerade local traffic"`,
      );
      rule(
        rs,
        chains.external,
        `fib saddr type local goto ${chains.cluster} comment "short-circuit local traffic"`,
      );
    }
    if (hasExternalEndpoints) rule(rs, chains.external, `goto ${externalPolicyChain}`);
  }

  const endpointChain = (ep: Endpoint) => endpointChainName(ref, ep.ip, ep.port);
  const writeDispatch = (chain: string, eps: Endpoint[]) => {
    if (affinity) {
      for (const ep of eps)
        rule(
          rs,
          chain,
          `ip saddr @${affinitySetName(ref, ep.ip, ep.port)} goto ${endpointChain(ep)}`,
        );
    }
    const arms = eps.map((ep, i) => `${i} : goto ${endpointChain(ep)}`).join(', ');
    rule(rs, chain, `numgen random mod ${eps.length} vmap { ${arms} }`);
  };
  if (usesClusterChain) writeDispatch(chains.cluster, clusterEndpoints);
  if (usesLocalChain) writeDispatch(chains.local, localEndpoints);

  for (const ep of reachable.values()) {
    const name = endpointChain(ep);
    addChain(rs, { name, owner });
    // Hairpin: a pod reaching itself through the Service must not see its own address as source.
    rule(rs, name, `ip saddr ${ep.ip} jump ${MARK_MASQ}`);
    if (affinity) rule(rs, name, `update @${affinitySetName(ref, ep.ip, ep.port)} { ip saddr }`);
    rule(rs, name, `meta l4proto ${protocol} dnat to ${ep.ip}:${ep.port}`);
  }
}
