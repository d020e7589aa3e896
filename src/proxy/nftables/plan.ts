import {
  categorizeEndpoints,
  servicePortInfo,
  sourceRangesAllowNode,
  trafficHasEndpoints,
} from '../service-port.js';
import type { Endpoint, ProxyState, ServicePortState } from '../types.js';
import {
  TABLE_FAMILY,
  TABLE_NAME,
  endpointNameBase,
  servicePortChainNames,
  type ServicePortRef,
} from './names.js';
import {
  TABLE_LEVEL,
  type ChainSpec,
  type ElementSpec,
  type Ruleset,
  type RulesetDelta,
  type ServicePortFragment,
  type SetSpec,
} from './ruleset.js';

/**
 * Plans `table ip kube-proxy` the way kube-proxy's nftables mode lays it out
 * (pkg/proxy/nftables/proxier.go: setupNFTables and syncProxyRules, as of v1.37; `svclab
 * fidelity` compares the two on a kernel). Pure: same input, same ruleset, no kernel.
 */

export interface NftablesPlanConfig {
  nodeName: string;
  nodeIP: string;
  /** The node's zone label, for zone hints (kube-proxy's topologyLabels); '' or absent: none. */
  zone?: string | undefined;
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
  /**
   * How a Service chain picks an endpoint. `numgen-vmap` (default) is kube-proxy's layout: one
   * rule with an anonymous verdict map per Service chain. `numgen-rules` is a measured
   * alternative with no per-Service map: on kernel 6.18 every anonymous set costs a scan of
   * all sets in the table when it is created (nf_tables_set_alloc_name), so loading N Services
   * is O(N²) in the kernel with maps and about linear without (kubernetes#139513, #140723).
   */
  endpointSelection?: 'numgen-vmap' | 'numgen-rules' | undefined;
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
const MASQUERADING = 'masquerading';
const HAIRPIN_CONNECTIONS = 'hairpin-connections';

const IP_PROTO_PORT = 'ipv4_addr . inet_proto . inet_service : verdict';
const PROTO_PORT = 'inet_proto . inet_service : verdict';

/**
 * Plans rulesets for one node, the way kube-proxy keeps its tables between syncs:
 *
 * - each Service port's fragment (chains, sets, map elements) is remembered per
 *   ServicePortState object, which is treated as immutable (as kube-proxy treats its service
 *   and endpoint caches): an object seen before reuses its fragment;
 * - when few fragments changed since the last plan, the last plan's maps are updated in place
 *   and the new ruleset carries a delta (what each touched chain, set and element was before),
 *   from which planTransactions writes the transaction without comparing 150,000 chains. The
 *   previous ruleset is then marked superseded: its maps now show the new state.
 *
 * Equal but new objects are planned again; that is slower but gives the same result.
 */
export class NftablesPlanner {
  private readonly memo = new WeakMap<ServicePortState, ServicePortFragment>();
  private readonly skeleton: ServicePortFragment;
  private last: Ruleset | undefined;
  /** cluster-ips keys several ports claim (ports of one Service): every claimant's element. */
  private claims = new Map<string, ElementSpec[]>();

  constructor(private readonly cfg: NftablesPlanConfig) {
    this.skeleton = planTableLevel(cfg);
  }

  plan(state: ProxyState): Ruleset {
    const entries: [string, ServicePortFragment][] = [];
    const sorted = [...state.servicePorts].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    for (const sp of sorted) {
      // Headless Services have no ClusterIP and are not proxied (kube-proxy never sees them).
      if (!sp.service.clusterIP || sp.service.clusterIP === 'None') continue;
      let fragment = this.memo.get(sp);
      if (!fragment) {
        fragment = planServicePort(sp, this.cfg);
        this.memo.set(sp, fragment);
      }
      entries.push([sp.name, fragment]);
    }
    const last = this.last;
    if (last?.fragments) {
      const changes = changedFragments(last.fragments, entries);
      if (changes && changes.length <= Math.max(64, entries.length / 20))
        return (this.last = this.update(last, changes));
    }
    return (this.last = this.build(entries));
  }

  private build(entries: [string, ServicePortFragment][]): Ruleset {
    const rs: Ruleset = {
      family: TABLE_FAMILY,
      table: TABLE_NAME,
      comment: 'rules for kube-proxy',
      chains: new Map(),
      sets: new Map(),
      fragments: new Map(),
    };
    this.claims = new Map();
    // The skeleton's sets are templates: each ruleset fills its own copies with elements.
    for (const s of this.skeleton.sets) rs.sets.set(s.name, { ...s, elements: new Map() });
    this.addFragment(rs, TABLE_LEVEL, this.skeleton);
    for (const [key, f] of entries) this.addFragment(rs, key, f);
    return rs;
  }

  private addFragment(rs: Ruleset, key: string, f: ServicePortFragment): void {
    if (f !== this.skeleton) for (const s of f.sets) rs.sets.set(s.name, s);
    for (const c of f.chains) rs.chains.set(c.name, c);
    for (const { set, key: k, element } of f.elements) {
      const s = rs.sets.get(set);
      if (!s) throw new Error(`planner bug: element for unknown set ${set}`);
      const held = s.elements.get(k);
      if (held === undefined) s.elements.set(k, element);
      else this.claim(set, k, held, element);
    }
    rs.fragments!.set(key, f);
  }

  /**
   * Several ports of one Service share their ClusterIP in cluster-ips: the first owner keeps
   * the element, and the others are remembered so that removing the owner hands it on.
   */
  private claim(set: string, key: string, held: ElementSpec, element: ElementSpec): void {
    const id = `${set}\u0000${key}`;
    const list = this.claims.get(id);
    if (list) list.push(element);
    else this.claims.set(id, [held, element]);
  }

  private update(last: Ruleset, changes: FragmentChange[]): Ruleset {
    const rs: Ruleset = { ...last };
    last.superseded = true;
    // Only the newest plan's delta is useful; dropping older ones lets old plans be collected.
    last.delta = undefined;
    const chains: RulesetDelta['chains'] = new Map();
    const sets: RulesetDelta['sets'] = new Map();
    const elements = new Map<string, { set: string; key: string; was: ElementSpec | undefined }>();
    const touch = (set: string, key: string) => {
      const id = `${set}\u0000${key}`;
      if (!elements.has(id))
        elements.set(id, { set, key, was: rs.sets.get(set)?.elements.get(key) });
    };
    for (const { key, prev } of changes) {
      if (!prev) continue;
      for (const c of prev.chains) {
        if (!chains.has(c.name)) chains.set(c.name, rs.chains.get(c.name));
        rs.chains.delete(c.name);
      }
      for (const s of prev.sets) {
        if (!sets.has(s.name)) sets.set(s.name, rs.sets.get(s.name));
        rs.sets.delete(s.name);
      }
      for (const { set, key: k, element } of prev.elements) {
        const s = rs.sets.get(set);
        if (!s) continue; // its own set, deleted above
        touch(set, k);
        const id = `${set}\u0000${k}`;
        const list = this.claims.get(id);
        if (list) {
          const rest = list.filter((e) => e !== element);
          if (rest.length > 1) this.claims.set(id, rest);
          else this.claims.delete(id);
          if (s.elements.get(k) === element) s.elements.set(k, rest[0]!);
        } else if (s.elements.get(k) === element) s.elements.delete(k);
      }
      rs.fragments!.delete(key);
    }
    for (const { key, next } of changes) {
      if (!next) continue;
      for (const s of next.sets) if (!sets.has(s.name)) sets.set(s.name, rs.sets.get(s.name));
      for (const c of next.chains)
        if (!chains.has(c.name)) chains.set(c.name, rs.chains.get(c.name));
      for (const { set, key: k } of next.elements) touch(set, k);
      this.addFragment(rs, key, next);
    }
    rs.delta = {
      base: last,
      fragments: changes,
      chains,
      sets,
      elements: [...elements.values()].map((e) => ({
        ...e,
        now: rs.sets.get(e.set)?.elements.get(e.key),
      })),
    };
    return rs;
  }
}

interface FragmentChange {
  key: string;
  prev?: ServicePortFragment | undefined;
  next?: ServicePortFragment | undefined;
}

/** Fragments that differ between the last plan and this one, or undefined if most do. */
function changedFragments(
  last: Map<string, ServicePortFragment>,
  entries: [string, ServicePortFragment][],
): FragmentChange[] | undefined {
  const changes: FragmentChange[] = [];
  let kept = 0;
  for (const [key, f] of entries) {
    const prev = last.get(key);
    if (prev === f) kept++;
    else changes.push({ key, prev, next: f });
    if (changes.length > entries.length / 2 + 64) return undefined;
  }
  // Everything in `last` but the skeleton and the kept or replaced fragments is gone.
  const replaced = changes.filter((c) => c.prev).length;
  if (last.size - 1 - kept - replaced > 0) {
    const now = new Set(entries.map(([key]) => key));
    for (const [key, f] of last)
      if (key !== TABLE_LEVEL && !now.has(key)) changes.push({ key, prev: f });
  }
  return changes;
}

/** A one-off plan, without memory of earlier ones. */
export function planRuleset(state: ProxyState, cfg: NftablesPlanConfig): Ruleset {
  return new NftablesPlanner(cfg).plan(state);
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/** Collects one fragment's objects; rules go to chains of the same fragment only. */
class FragmentBuilder {
  readonly fragment: ServicePortFragment;

  constructor(readonly owner: string | undefined) {
    this.fragment = { owner: owner ?? TABLE_LEVEL, chains: [], sets: [], elements: [] };
  }

  chain(c: Pick<ChainSpec, 'name' | 'base' | 'comment'> & { rules?: string[] }): void {
    const spec: ChainSpec = { name: c.name, rules: c.rules ?? [], owner: this.owner };
    if (c.base) spec.base = c.base;
    if (c.comment) spec.comment = c.comment;
    this.fragment.chains.push(spec);
  }

  set(set: Omit<SetSpec, 'elements' | 'owner'>): SetSpec {
    const spec: SetSpec = { ...set, elements: new Map(), owner: this.owner };
    this.fragment.sets.push(spec);
    return spec;
  }

  rule(chain: string, text: string): void {
    // A handful of chains per fragment: a scan is cheaper than a Map per Service port.
    const c = this.fragment.chains.find((x) => x.name === chain);
    if (!c) throw new Error(`planner bug: rule for unknown chain ${chain}`);
    c.rules.push(text);
  }

  element(set: string, key: string, el: ElementSpec = {}): void {
    const element: ElementSpec = { owner: this.owner };
    if (el.value !== undefined) element.value = el.value;
    if (el.comment !== undefined) element.comment = el.comment;
    this.fragment.elements.push({ set, key, element });
  }
}

function planTableLevel(cfg: NftablesPlanConfig): ServicePortFragment {
  const b = new FragmentBuilder(undefined);
  const mark = hex32(1 << (cfg.masqueradeBit ?? 14));
  const nodePortsOnAll = (cfg.nodePortAddresses ?? 'all') === 'all';

  // kube-proxy's nftablesBaseChains. The pre-DNAT filter chains (dstnat - 10) see the Service
  // IP, not the endpoint, for LoadBalancerSourceRanges; the others run at filter priority.
  b.chain({
    name: 'filter-prerouting-pre-dnat',
    base: { type: 'filter', hook: 'prerouting', priority: -110 },
  });
  b.chain({
    name: 'filter-output-pre-dnat',
    base: { type: 'filter', hook: 'output', priority: -110 },
  });
  b.chain({ name: 'filter-input', base: { type: 'filter', hook: 'input', priority: 0 } });
  b.chain({ name: 'filter-forward', base: { type: 'filter', hook: 'forward', priority: 0 } });
  b.chain({ name: 'filter-output', base: { type: 'filter', hook: 'output', priority: 0 } });
  b.chain({
    name: 'nat-prerouting',
    base: { type: 'nat', hook: 'prerouting', priority: -100 },
  });
  b.chain({ name: 'nat-output', base: { type: 'nat', hook: 'output', priority: -100 } });
  b.chain({
    name: 'nat-postrouting',
    base: { type: 'nat', hook: 'postrouting', priority: 100 },
  });

  // kube-proxy's nftablesJumpChains, in its order (each adds its target chain, then the jump).
  // Rejecting is only valid in input/forward/output hooks on kernels before 5.9, hence no
  // endpoints check in filter-prerouting-pre-dnat.
  const jumps: [string, string, string][] = [
    [NODEPORT_ENDPOINTS_CHECK, 'filter-input', 'ct state new '],
    [SERVICE_ENDPOINTS_CHECK, 'filter-input', 'ct state new '],
    [SERVICE_ENDPOINTS_CHECK, 'filter-forward', 'ct state new '],
    [SERVICE_ENDPOINTS_CHECK, 'filter-output', 'ct state new '],
    [FIREWALL_CHECK, 'filter-prerouting-pre-dnat', 'ct state new '],
    [FIREWALL_CHECK, 'filter-output-pre-dnat', 'ct state new '],
    [SERVICES, 'nat-output', ''],
    [SERVICES, 'nat-prerouting', ''],
    [MASQUERADING, 'nat-postrouting', ''],
    // After DNAT: traffic still addressed to a ClusterIP matched no Service port.
    [CLUSTER_IPS_CHECK, 'filter-forward', 'ct state new '],
    [CLUSTER_IPS_CHECK, 'filter-output', 'ct state new '],
  ];
  const created = new Set<string>();
  for (const [to, from, match] of jumps) {
    if (!created.has(to)) b.chain({ name: to });
    created.add(to);
    b.rule(from, `${match}jump ${to}`);
  }
  b.chain({
    name: REJECT_CHAIN,
    comment: 'helper for @no-endpoint-services / @no-endpoint-nodeports',
    rules: ['reject'],
  });

  // Masquerading: packets some rule marked, and hairpin connections (a pod reaching itself
  // through a Service: without SNAT it would answer itself directly). kube-proxy 1.37 writes
  // both here instead of jumping to a mark-for-masquerade chain and marking in every endpoint
  // chain: fewer jumps, which cost CPU at load time (kubernetes#135639, #135800, #136499).
  b.set({
    name: HAIRPIN_CONNECTIONS,
    kind: 'set',
    type: 'ipv4_addr . ipv4_addr . inet_proto . inet_service',
    comment: 'service hairpin connections',
  });
  // The XOR clears the mark, so a packet that re-traverses the stack (VXLAN reuses the skb) is
  // not masqueraded twice (kubernetes#92035).
  b.rule(
    MASQUERADING,
    `meta mark & ${mark} != ${hex32(0)} meta mark set meta mark ^ ${mark} masquerade fully-random`,
  );
  b.rule(
    MASQUERADING,
    `ct status dnat ip saddr . ip daddr . meta l4proto . th dport @${HAIRPIN_CONNECTIONS} masquerade fully-random`,
  );

  b.set({ name: CLUSTER_IPS, kind: 'set', type: 'ipv4_addr', comment: 'Active ClusterIPs' });
  b.rule(
    CLUSTER_IPS_CHECK,
    `ip daddr @${CLUSTER_IPS} reject comment "Reject traffic to invalid ports of ClusterIPs"`,
  );
  b.rule(
    CLUSTER_IPS_CHECK,
    `ip daddr ${cfg.serviceCIDR} drop comment "Drop traffic to unallocated ClusterIPs"`,
  );

  if (!nodePortsOnAll) {
    b.set({
      name: NODEPORT_IPS,
      kind: 'set',
      type: 'ipv4_addr',
      comment: 'IPs that accept NodePort traffic',
    });
    b.element(NODEPORT_IPS, cfg.nodeIP);
  }

  b.set({
    name: NO_ENDPOINT_SERVICES,
    kind: 'map',
    type: IP_PROTO_PORT,
    comment: 'vmap to drop or reject packets to services with no endpoints',
  });
  b.set({
    name: NO_ENDPOINT_NODEPORTS,
    kind: 'map',
    type: PROTO_PORT,
    comment: 'vmap to drop or reject packets to service nodeports with no endpoints',
  });
  b.rule(
    SERVICE_ENDPOINTS_CHECK,
    `ip daddr . meta l4proto . th dport vmap @${NO_ENDPOINT_SERVICES}`,
  );
  b.rule(
    NODEPORT_ENDPOINTS_CHECK,
    nodePortsOnAll
      ? `ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @${NO_ENDPOINT_NODEPORTS}`
      : `ip daddr @${NODEPORT_IPS} meta l4proto . th dport vmap @${NO_ENDPOINT_NODEPORTS}`,
  );

  // loadBalancerSourceRanges: before DNAT, a (new) packet to a firewalled LB IP and port goes to
  // that Service port's firewall chain, which drops sources outside the ranges.
  b.set({
    name: FIREWALL_IPS,
    kind: 'map',
    type: IP_PROTO_PORT,
    comment: 'destinations that are subject to LoadBalancerSourceRanges',
  });
  b.rule(FIREWALL_CHECK, `ip daddr . meta l4proto . th dport vmap @${FIREWALL_IPS}`);

  b.set({
    name: SERVICE_IPS,
    kind: 'map',
    type: IP_PROTO_PORT,
    comment: 'ClusterIP, ExternalIP and LoadBalancer IP traffic',
  });
  b.set({
    name: SERVICE_NODEPORTS,
    kind: 'map',
    type: PROTO_PORT,
    comment: 'NodePort traffic',
  });
  if (cfg.clusterCIDR) {
    // Off-cluster clients of a ClusterIP (a static route for the Service range to any node)
    // may be sent to another node: masquerade them so replies come back through this one. One
    // rule for every ClusterIP, where kube-proxy before 1.37 wrote one per Service chain.
    b.rule(
      SERVICES,
      `ip daddr @${CLUSTER_IPS} ip saddr != ${cfg.clusterCIDR} meta mark set meta mark | ${mark} comment "masquerade clusterIP traffic from outside cluster"`,
    );
  }
  b.rule(SERVICES, `ip daddr . meta l4proto . th dport vmap @${SERVICE_IPS}`);
  b.rule(
    SERVICES,
    nodePortsOnAll
      ? `fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @${SERVICE_NODEPORTS}`
      : `ip daddr @${NODEPORT_IPS} meta l4proto . th dport vmap @${SERVICE_NODEPORTS}`,
  );
  return b.fragment;
}

function byAddress(a: Endpoint, b: Endpoint): number {
  const ka = `${a.ip}:${a.port}`;
  const kb = `${b.ip}:${b.port}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** One Service port: its map elements, policy chains, endpoint chains and affinity sets. */
function planServicePort(sp: ServicePortState, cfg: NftablesPlanConfig): ServicePortFragment {
  const svc = sp.service;
  const b = new FragmentBuilder(sp.name);
  const protocol = sp.port.protocol.toLowerCase();
  const ref: ServicePortRef = {
    namespace: svc.namespace,
    name: svc.name,
    protocol,
    portName: sp.port.name,
  };
  const chains = servicePortChainNames(ref);
  // Chain and affinity set of an endpoint share one hashed base name: hash it once.
  const bases = new Map<Endpoint, string>();
  const base = (ep: Endpoint) => {
    let v = bases.get(ep);
    if (v === undefined) bases.set(ep, (v = endpointNameBase(ref, ep.ip, ep.port)));
    return v;
  };
  const endpointChain = (ep: Endpoint) => `endpoint-${base(ep)}`;
  const affinitySet = (ep: Endpoint) => `affinity-${base(ep)}`;
  const port = sp.port.port;
  const nodePort = sp.port.nodePort ?? 0;
  const affinity = svc.sessionAffinity === 'ClientIP';

  // kube-proxy's svcInfo and CategorizeEndpoints, as every planner asks them.
  const info = servicePortInfo(sp);
  const { externallyAccessible, externalPolicyLocal, internalPolicyLocal } = info;
  const cat = categorizeEndpoints(sp, info, cfg.nodeName, cfg.zone);
  const clusterEndpoints = [...cat.clusterEndpoints].sort(byAddress);
  const localEndpoints = [...cat.localEndpoints].sort(byAddress);
  const hasEndpoints = cat.hasAnyEndpoints;
  const reachable = new Map<string, Endpoint>();
  for (const ep of [...clusterEndpoints, ...localEndpoints])
    reachable.set(`${ep.ip}:${ep.port}`, ep);

  const usesClusterChain = clusterEndpoints.length > 0;
  const usesLocalChain = localEndpoints.length > 0;
  const { hasInternalEndpoints, hasExternalEndpoints } = trafficHasEndpoints(info, cat);
  const internalChain = internalPolicyLocal ? chains.local : chains.cluster;
  const externalPolicyChain = externalPolicyLocal ? chains.local : chains.cluster;
  const usesExternalChain = hasEndpoints && externallyAccessible;

  // No endpoints at all: reject. Endpoints elsewhere only, under a Local policy: drop.
  const internalFilterVerdict = hasEndpoints ? 'drop' : `goto ${REJECT_CHAIN}`;
  const externalFilterVerdict = hasEndpoints ? 'drop' : `goto ${REJECT_CHAIN}`;

  const comment = sp.name;
  const ipKey = (ip: string) => `${ip} . ${protocol} . ${port}`;
  // Unlike iptables mode, the firewall does not depend on there being endpoints.
  const sourceRanges = info.loadBalancerSourceRanges;
  const usesFWChain = svc.loadBalancerIPs.length > 0 && sourceRanges.length > 0;

  b.element(CLUSTER_IPS, svc.clusterIP);
  if (hasInternalEndpoints) {
    b.element(SERVICE_IPS, ipKey(svc.clusterIP), { value: `goto ${internalChain}` });
  } else {
    b.element(NO_ENDPOINT_SERVICES, ipKey(svc.clusterIP), {
      value: internalFilterVerdict,
      comment,
    });
  }
  for (const ip of [...svc.externalIPs, ...svc.loadBalancerIPs]) {
    if (hasEndpoints) b.element(SERVICE_IPS, ipKey(ip), { value: `goto ${chains.external}` });
    if (!hasExternalEndpoints)
      b.element(NO_ENDPOINT_SERVICES, ipKey(ip), {
        value: externalFilterVerdict,
        comment,
      });
  }
  if (usesFWChain) {
    b.chain({ name: chains.firewall });
    for (const ip of svc.loadBalancerIPs)
      b.element(FIREWALL_IPS, ipKey(ip), { value: `goto ${chains.firewall}` });
    // A node that holds the VIP as a local address (an IP route rule of a VIP-like load
    // balancer) reaches it from the VIP itself: allowed when the ranges let the node in.
    const allowed = sourceRangesAllowNode(sourceRanges, cfg.nodeIP)
      ? [...sourceRanges, ...svc.loadBalancerIPs]
      : sourceRanges;
    b.rule(chains.firewall, `ip saddr != { ${allowed.join(', ')} } drop`);
  }
  if (nodePort !== 0) {
    const key = `${protocol} . ${nodePort}`;
    if (hasEndpoints) b.element(SERVICE_NODEPORTS, key, { value: `goto ${chains.external}` });
    if (!hasExternalEndpoints)
      b.element(NO_ENDPOINT_NODEPORTS, key, { value: externalFilterVerdict, comment });
  }

  // Hairpin: a pod of this node reaching itself through the Service must be masqueraded, or
  // it would answer itself directly; the masquerading chain matches these (kube-proxy 1.37).
  for (const ep of reachable.values())
    if (ep.nodeName === cfg.nodeName)
      b.element(HAIRPIN_CONNECTIONS, `${ep.ip} . ${ep.ip} . ${protocol} . ${ep.port}`);

  // Affinity sets before the chains whose rules name them.
  if (affinity) {
    for (const ep of reachable.values()) {
      b.set({
        name: affinitySet(ep),
        kind: 'set',
        type: 'ipv4_addr',
        // "dynamic" although the set holds no stateful objects: the kernel adds it on its own
        // and a later `add set` without it would fail as a flags change (kube-proxy's comment).
        flags: ['dynamic', 'timeout'],
        timeoutSeconds: svc.sessionAffinityTimeoutSeconds,
      });
    }
  }

  if (usesClusterChain) b.chain({ name: chains.cluster });
  if (usesLocalChain) b.chain({ name: chains.local });
  if (usesExternalChain) b.chain({ name: chains.external });

  const masquerade = `meta mark set meta mark | ${hex32(1 << (cfg.masqueradeBit ?? 14))}`;
  if (usesExternalChain) {
    if (!externalPolicyLocal) {
      // Endpoints may be on another node: masquerade so replies come back through this one.
      b.rule(chains.external, `${masquerade} comment "masquerade"`);
    } else {
      // Pod → external IP of its own cluster behaves as if it went out to the load balancer
      // and came back: neither traffic policy applies.
      b.rule(
        chains.external,
        `ip saddr ${cfg.clusterCIDR} goto ${chains.cluster} comment "short-circuit pod traffic"`,
      );
      // The node itself picks the VIP or node IP as source, so it must be masqueraded.
      b.rule(
        chains.external,
        `fib saddr type local ${masquerade} comment "masquerade local traffic"`,
      );
      b.rule(
        chains.external,
        `fib saddr type local goto ${chains.cluster} comment "short-circuit local traffic"`,
      );
    }
    if (hasExternalEndpoints) b.rule(chains.external, `goto ${externalPolicyChain}`);
  }

  const dnat = (ep: Endpoint) => `meta l4proto ${protocol} dnat to ${ep.ip}:${ep.port}`;
  /**
   * Without affinity the policy chain DNATs itself (kube-proxy's writeServiceToEndpointDNATs):
   * one endpoint directly (inserting a map costs O(n) in the kernel), several through a numgen
   * map of address . port. With affinity, a goto per endpoint's affinity set, then a numgen
   * vmap of endpoint chains (writeServiceToEndpointJumps), which record the client and DNAT.
   */
  const writeDispatch = (chain: string, eps: Endpoint[]) => {
    if (affinity) {
      for (const ep of eps) b.rule(chain, `ip saddr @${affinitySet(ep)} goto ${endpointChain(ep)}`);
    }
    if (cfg.endpointSelection === 'numgen-rules') {
      // The i-th of k rules matches with probability 1/(k-i) (iptables' statistic layout), so
      // every endpoint gets 1/k without an anonymous map per Service.
      eps.forEach((ep, i) => {
        const left = eps.length - i;
        const verdict = affinity ? `goto ${endpointChain(ep)}` : dnat(ep);
        b.rule(chain, left > 1 ? `numgen random mod ${left} 0 ${verdict}` : verdict);
      });
      return;
    }
    if (!affinity) {
      if (eps.length === 1) b.rule(chain, dnat(eps[0]!));
      else {
        const arms = eps.map((ep, i) => `${i} : ${ep.ip} . ${ep.port}`).join(', ');
        b.rule(
          chain,
          `meta l4proto ${protocol} dnat ip to numgen random mod ${eps.length} map { ${arms} }`,
        );
      }
      return;
    }
    const arms = eps.map((ep, i) => `${i} : goto ${endpointChain(ep)}`).join(', ');
    b.rule(chain, `numgen random mod ${eps.length} vmap { ${arms} }`);
  };
  if (usesClusterChain) writeDispatch(chains.cluster, clusterEndpoints);
  if (usesLocalChain) writeDispatch(chains.local, localEndpoints);

  if (affinity) {
    for (const ep of reachable.values()) {
      const name = endpointChain(ep);
      b.chain({ name });
      b.rule(name, `update @${affinitySet(ep)} { ip saddr }`);
      b.rule(name, dnat(ep));
    }
  }
  return b.fragment;
}
