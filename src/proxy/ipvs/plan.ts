import {
  categorizeEndpoints,
  ipvsDestinations,
  servicePortInfo,
  sourceRangesAllowNode,
  type ServicePortInfo,
} from '../service-port.js';
import type { ProxyState, ServicePortState } from '../types.js';
import { iptablesRules } from './iptables.js';
import { IPSET_KEYS, ipPortEntry, ipPortIpEntry, type IpsetKey } from './ipset.js';
import { vsKey, type RealServer, type VirtualServer } from './ipvsadm.js';

export type IpvsScheduler = 'rr' | 'wrr' | 'lc' | 'sh';

export interface PlanInput {
  state: ProxyState;
  nodeName: string;
  /** The node's zone label, for zone hints (kube-proxy's topologyLabels); '' or absent: none. */
  zone?: string | undefined;
  /** kube-proxy's node IP (PlannerConfig.nodeIP). */
  nodeIP?: string | undefined;
  /**
   * The node's own addresses NodePort virtual servers are created on: every local address
   * except loopback and those on kube-ipvs0. 127.0.0.1 can never be an IPVS VIP (the kernel
   * does not route 127/8 through IPVS' hooks), so localhost:<nodePort> does not work in IPVS
   * mode, unlike iptables mode.
   */
  nodeIPs: readonly string[];
  clusterCIDR: string;
  scheduler: IpvsScheduler;
}

export type PlannedVirtualServer = VirtualServer & { servicePort: string };

/** Everything one node's IPVS proxy wants in the kernel. */
export interface IpvsPlan {
  /** Keyed by vsKey, e.g. `TCP/10.96.0.10:80`. */
  virtualServers: Map<string, PlannedVirtualServer>;
  /** Members of every kube-proxy ipset (all sets present, most possibly empty). */
  ipsets: Map<IpsetKey, Set<string>>;
  /** Addresses bound as /32 on kube-ipvs0. */
  boundAddresses: Set<string>;
  /** iptables-restore --noflush input for the KUBE-* chains. */
  iptables: string;
}

/** What changed in an IpvsPlanner's plan since its last commit(). */
export interface PlanChanges {
  /** Everything may have changed (first plan, new node addresses): diff the whole plan. */
  all: boolean;
  /** vsKeys whose planned virtual server appeared, went or was replaced (empty when `all`). */
  virtualServers: Set<string>;
  /** Members that entered or left each set (empty when `all`). */
  ipsets: Map<IpsetKey, Set<string>>;
  /** Addresses that were bound or unbound (empty when `all`). */
  boundAddresses: Set<string>;
  /**
   * Service port objects that entered / left the state (one entry per listing; a port that
   * left is no longer listed at all), for stale UDP conntrack flows.
   */
  added: ServicePortState[];
  removed: ServicePortState[];
}

/**
 * The real servers of one virtual server: kube-proxy's syncEndpoint, whose endpoint choice
 * (local ones under a Local policy, else the cluster ones) is ipvsDestinations.
 */
function realServersFor(
  sp: ServicePortState,
  info: ServicePortInfo,
  node: NodeRef,
  onlyLocal: boolean,
): RealServer[] {
  const chosen = ipvsDestinations(
    categorizeEndpoints(sp, info, node.nodeName, node.zone),
    onlyLocal,
  );
  // One real server per address:port, in first-seen order before the (stable) sort. A scan
  // rather than a Map for the usual handful: this runs for every Service port of a full plan.
  const out: RealServer[] = [];
  if (chosen.length <= 16) {
    next: for (const e of chosen) {
      for (const r of out) if (r.address === e.ip && r.port === e.port) continue next;
      out.push({ address: e.ip, port: e.port, weight: 1 });
    }
  } else {
    const seen = new Map<string, RealServer>();
    for (const e of chosen)
      seen.set(`${e.ip}:${e.port}`, { address: e.ip, port: e.port, weight: 1 });
    out.push(...seen.values());
  }
  return out.sort((a, b) => compareAddr(a.address, b.address) || a.port - b.port);
}

/** Marks a kube-ipvs0 address among a Contribution's entries (not an IpsetKey). */
const BOUND = 'bound';
/** Marks a firewalled LB IP:port the node may not reach (an iptables rule, not an IpsetKey). */
const NO_NODE_ACCESS = 'noNodeAccess';

/**
 * What one Service port adds to the plan. Computed once per ServicePortState object (they are
 * immutable) and kept, so that removing a port subtracts exactly what adding it added. Few
 * arrays per port: a full plan makes one for each of 50,000 ports.
 */
interface Contribution {
  virtualServers: PlannedVirtualServer[];
  /** Pairs: an IpsetKey (or BOUND), then the member (or address). */
  entries: string[];
}

/** The node a plan is for, as endpoint selection needs it. */
type NodeRef = Pick<PlannerConfig, 'nodeName' | 'zone'>;

function contribution(
  sp: ServicePortState,
  node: NodeRef,
  scheduler: IpvsScheduler,
  nodeIPs: readonly string[],
  nodeAddressSet: ReadonlySet<string>,
  nodeIP: string | undefined,
): Contribution {
  const virtualServers: PlannedVirtualServer[] = [];
  const entries: string[] = [];
  const s = sp.service;
  const { protocol, port } = sp.port;
  const persistence =
    s.sessionAffinity === 'ClientIP' ? s.sessionAffinityTimeoutSeconds : undefined;
  // kube-proxy's onlyNodeLocalEndpoints: InternalPolicyLocal for the ClusterIP,
  // ExternalPolicyLocal for every external address.
  const info = servicePortInfo(sp);
  const extLocal = info.externalPolicyLocal;
  // At most two distinct real server lists per port (all, or local when a policy is Local);
  // the virtual servers share them and nobody mutates them.
  let all: RealServer[] | undefined;
  let local: RealServer[] | undefined;
  const vs = (address: string, vport: number, onlyLocal: boolean) => {
    const realServers = onlyLocal
      ? (local ??= realServersFor(sp, info, node, true))
      : (all ??= realServersFor(sp, info, node, false));
    virtualServers.push({
      protocol,
      address,
      port: vport,
      scheduler,
      persistence,
      realServers,
      servicePort: sp.name,
    });
  };

  // Hairpin: a local endpoint reaching itself through the Service is masqueraded (KUBE-LOOP-BACK).
  for (const e of sp.endpoints) {
    if (e.nodeName === node.nodeName)
      entries.push('loopBack', ipPortIpEntry(e.ip, protocol, e.port, e.ip));
  }

  entries.push('clusterIP', ipPortEntry(s.clusterIP, protocol, port));
  vs(s.clusterIP, port, info.internalPolicyLocal);
  entries.push(BOUND, s.clusterIP);

  for (const ip of s.externalIPs) {
    entries.push(extLocal ? 'externalIPLocal' : 'externalIP', ipPortEntry(ip, protocol, port));
    vs(ip, port, extLocal);
    // kube-proxy does not bind an external IP that already is one of the node's addresses.
    if (!nodeAddressSet.has(ip)) entries.push(BOUND, ip);
  }

  const ranges = info.loadBalancerSourceRanges;
  const allowFromNode = nodeIP !== undefined && sourceRangesAllowNode(ranges, nodeIP);
  for (const ip of s.loadBalancerIPs) {
    const lb = ipPortEntry(ip, protocol, port);
    entries.push('loadBalancer', lb);
    if (extLocal) entries.push('loadBalancerLocal', lb);
    if (ranges.length > 0) {
      // loadBalancerSourceRanges (proxier.go syncService's load-balancer ingress loop): the
      // LB IP:port is firewalled, each range is an allowed source, and the LB IP itself too
      // when a range holds the node's IP (a node with the VIP as a local address reaches it
      // from the VIP); else the node may not reach it at all.
      entries.push('loadBalancerFW', lb);
      for (const cidr of ranges)
        entries.push('loadBalancerSourceCIDR', ipPortIpEntry(ip, protocol, port, cidr));
      if (allowFromNode)
        entries.push('loadBalancerSourceIP', ipPortIpEntry(ip, protocol, port, ip));
      else entries.push(NO_NODE_ACCESS, lb);
    }
    vs(ip, port, extLocal);
    if (!nodeAddressSet.has(ip)) entries.push(BOUND, ip);
  }

  const nodePort = sp.port.nodePort;
  if (nodePort !== undefined && nodeIPs.length > 0) {
    const tcp = protocol === 'TCP';
    entries.push(tcp ? 'nodePortTCP' : 'nodePortUDP', String(nodePort));
    if (extLocal) entries.push(tcp ? 'nodePortLocalTCP' : 'nodePortLocalUDP', String(nodePort));
    for (const ip of nodeIPs) vs(ip, nodePort, extLocal);
  }
  // kube-proxy adds it for every port of the Service (one member: a bitmap of ports).
  if (info.healthCheckNodePort !== 0)
    entries.push('healthCheckNodePort', String(info.healthCheckNodePort));
  return { virtualServers, entries };
}

export interface PlannerConfig {
  nodeName: string;
  /** See PlanInput.zone. */
  zone?: string | undefined;
  /**
   * kube-proxy's node IP, which loadBalancerSourceRanges' allowFromNode looks for in the
   * ranges; unset: the first of the addresses plan() is given.
   */
  nodeIP?: string | undefined;
  clusterCIDR: string;
  scheduler: IpvsScheduler;
}

function noChanges(all: boolean): PlanChanges {
  return {
    all,
    virtualServers: new Set(),
    ipsets: new Map(IPSET_KEYS.map((k) => [k, new Set<string>()])),
    boundAddresses: new Set(),
    added: [],
    removed: [],
  };
}

function emptyPlan(): IpvsPlan {
  return {
    virtualServers: new Map(),
    ipsets: new Map(IPSET_KEYS.map((k) => [k, new Set<string>()])),
    boundAddresses: new Set(),
    iptables: '',
  };
}

/**
 * kube-proxy's IPVS planning, kept up to date instead of redone: like kube-proxy's caches, it
 * treats ServicePortState objects as immutable, so a port passed as the same object as last
 * time contributes what it did then, and a sync after a one-Service change plans (and reports)
 * only that Service. Equal but new objects are planned again: correct, just not cheap.
 *
 * The plan it returns is its own and is updated in place by the next plan(). `changes` lists
 * what changed since commit(), which the proxy calls once the kernel holds the plan.
 */
export class IpvsPlanner {
  private servicePorts: ServicePortState[] = [];
  /**
   * The contribution of each entry of `servicePorts`, at the same index: a (Weak)Map keyed by
   * the objects made a full plan of 50,000 ports measurably slower, and the ports that change
   * are found by position anyway.
   */
  private contributions: Contribution[] = [];
  /** Filtered node addresses of the current plan; undefined before the first plan. */
  private nodeIPs: string[] | undefined;
  private nodeAddressSet = new Set<string>();
  private current = emptyPlan();
  /**
   * vsKeys planned by more than one Service port (two Services with the same external IP and
   * port, say), with every candidate in the order they were added: removing the winner must
   * bring back the runner-up without re-planning everything.
   */
  private contested = new Map<string, PlannedVirtualServer[]>();
  /** References beyond the first to a set member or bound address, e.g. a ClusterIP every port of its Service binds. */
  private extraMembers = new Map(IPSET_KEYS.map((k) => [k, new Map<string, number>()]));
  private extraBound = new Map<string, number>();
  /** NO_NODE_ACCESS entries with how many Service ports hold each. */
  private noNodeAccess = new Map<string, number>();
  private realServerTotal = 0;
  private pending = noChanges(true);
  private readonly rules = new Map<number | string, string>();

  constructor(private readonly cfg: PlannerConfig) {}

  /** What changed since the last commit(); `all` until the first commit. */
  get changes(): PlanChanges {
    return this.pending;
  }

  /** Real servers in the current plan (kept as it changes, so a sync need not count them). */
  get realServers(): number {
    return this.realServerTotal;
  }

  /** The kernel now holds the current plan: later changes are reported from here. */
  commit(): void {
    this.pending = noChanges(false);
  }

  /** The plan for `state` on a node with these addresses (the planner's own object; see the class). */
  plan(state: ProxyState, nodeIPs: readonly string[]): IpvsPlan {
    try {
      return this.update(state.servicePorts, nodeIPs);
    } catch (err) {
      // Half applied: plan everything anew next time.
      this.nodeIPs = undefined;
      throw err;
    }
  }

  private update(next: readonly ServicePortState[], nodeIPs: readonly string[]): IpvsPlan {
    const prev = this.servicePorts;
    const had = this.contributions;
    // Unchanged ports at both ends are skipped by identity: adding, removing or changing one
    // Service costs a pointer scan, not a re-plan. Whatever lies between is re-planned.
    const n = Math.min(prev.length, next.length);
    let lo = 0;
    while (lo < n && prev[lo] === next[lo]) lo++;
    let endPrev = prev.length;
    let endNext = next.length;
    while (endPrev > lo && endNext > lo && prev[endPrev - 1] === next[endNext - 1]) {
      endPrev--;
      endNext--;
    }
    // Between them, ports listed before and now (moved, not changed) keep their contribution.
    let spare: Map<ServicePortState, Contribution[]> | undefined;
    if (endPrev > lo && endNext > lo) {
      spare = new Map();
      for (let i = lo; i < endPrev; i++) {
        const list = spare.get(prev[i]!);
        if (list) list.push(had[i]!);
        else spare.set(prev[i]!, [had[i]!]);
      }
    }
    const middle: (Contribution | undefined)[] = [];
    const added: ServicePortState[] = [];
    for (let i = lo; i < endNext; i++) {
      const c = spare?.get(next[i]!)?.pop();
      middle.push(c);
      if (!c) added.push(next[i]!);
    }
    let removed: ServicePortState[] = [];
    let gone: Contribution[] = [];
    if (spare) {
      for (const [sp, cs] of spare) {
        for (const c of cs) {
          removed.push(sp);
          gone.push(c);
        }
      }
    } else {
      removed = prev.slice(lo, endPrev);
      gone = had.slice(lo, endPrev);
    }

    const ips = nodeIPs.filter((ip) => !ip.startsWith('127.'));
    const old = this.nodeIPs;
    if (old === undefined || old.length !== ips.length || old.some((ip, i) => ip !== ips[i])) {
      // NodePort virtual servers and which external IPs get bound depend on the node's
      // addresses (they change only on full syncs): plan everything anew.
      this.reset(ips);
      this.contributions = next.map((sp) => this.add(this.contribution(sp)));
    } else {
      for (const c of gone) this.subtract(c);
      for (let j = 0; j < middle.length; j++)
        middle[j] ??= this.add(this.contribution(next[lo + j]!));
      replace(had, lo, endPrev, middle as Contribution[]);
    }
    // Our own array, edited like the contributions (no 50,000-entry copy per change): a caller
    // that pushes to its array must not change what we compare against.
    replace(this.servicePorts, lo, endPrev, next.slice(lo, endNext));

    if (removed.length > 0) {
      // An object listed twice before and once now has not left.
      const listed =
        removed.length <= 16 ? (sp: ServicePortState) => next.includes(sp) : hasIn(new Set(next));
      removed = removed.filter((sp) => !listed(sp));
    }
    const p = this.pending;
    p.removed = p.removed.length === 0 ? removed : p.removed.concat(removed);
    p.added = p.added.length === 0 ? added : p.added.concat(added);

    let nonEmpty = 0;
    IPSET_KEYS.forEach((k, i) => {
      if (this.current.ipsets.get(k)!.size > 0) nonEmpty |= 1 << i;
    });
    // The ruleset depends on which sets are empty and, with loadBalancerSourceRanges that leave
    // the node out, on those LB IP:ports.
    const noNodeAccess = [...this.noNodeAccess.keys()].sort();
    const rulesKey = noNodeAccess.length === 0 ? nonEmpty : `${nonEmpty} ${noNodeAccess.join(' ')}`;
    let rules = this.rules.get(rulesKey);
    if (rules === undefined) {
      rules = iptablesRules({
        nonEmpty: new Set(IPSET_KEYS.filter((_, i) => (nonEmpty & (1 << i)) !== 0)),
        clusterCIDR: this.cfg.clusterCIDR,
        noNodeAccess,
      });
      // Bounded: a planner that sees many different firewalled sets would keep every ruleset.
      if (this.rules.size > 1024) this.rules.clear();
      this.rules.set(rulesKey, rules);
    }
    this.current.iptables = rules;
    return this.current;
  }

  private reset(nodeIPs: string[]): void {
    this.nodeIPs = nodeIPs;
    this.nodeAddressSet = new Set(nodeIPs);
    this.current = emptyPlan();
    this.contested = new Map();
    this.extraMembers = new Map(IPSET_KEYS.map((k) => [k, new Map<string, number>()]));
    this.extraBound = new Map();
    this.noNodeAccess = new Map();
    this.realServerTotal = 0;
    const { added, removed } = this.pending;
    this.pending = { ...noChanges(true), added, removed };
  }

  private contribution(sp: ServicePortState): Contribution {
    const nodeIP = this.cfg.nodeIP ?? this.nodeIPs![0];
    return contribution(
      sp,
      this.cfg,
      this.cfg.scheduler,
      this.nodeIPs!,
      this.nodeAddressSet,
      nodeIP,
    );
  }

  private add(c: Contribution): Contribution {
    for (const v of c.virtualServers) this.addVirtualServer(vsKey(v), v);
    const e = c.entries;
    for (let i = 0; i < e.length; i += 2) {
      if (e[i] === BOUND) this.addBound(e[i + 1]!);
      else if (e[i] === NO_NODE_ACCESS) count(this.noNodeAccess, e[i + 1]!, 1);
      else this.addMember(e[i] as IpsetKey, e[i + 1]!);
    }
    return c;
  }

  private subtract(c: Contribution): void {
    for (const v of c.virtualServers) this.removeVirtualServer(vsKey(v), v);
    const e = c.entries;
    for (let i = 0; i < e.length; i += 2) {
      if (e[i] === BOUND) this.removeBound(e[i + 1]!);
      else if (e[i] === NO_NODE_ACCESS) count(this.noNodeAccess, e[i + 1]!, -1);
      else this.removeMember(e[i] as IpsetKey, e[i + 1]!);
    }
  }

  private setVirtualServer(key: string, v: PlannedVirtualServer | undefined): void {
    const vss = this.current.virtualServers;
    const cur = vss.get(key);
    if (cur === v) return;
    if (cur) this.realServerTotal -= cur.realServers.length;
    if (v) {
      vss.set(key, v);
      this.realServerTotal += v.realServers.length;
    } else vss.delete(key);
    if (!this.pending.all) this.pending.virtualServers.add(key);
  }

  private addVirtualServer(key: string, v: PlannedVirtualServer): void {
    const vss = this.current.virtualServers;
    const cur = vss.get(key);
    if (cur === undefined) {
      vss.set(key, v);
      this.realServerTotal += v.realServers.length;
      if (!this.pending.all) this.pending.virtualServers.add(key);
      return;
    }
    let candidates = this.contested.get(key);
    if (!candidates) this.contested.set(key, (candidates = [cur]));
    candidates.push(v);
    this.setVirtualServer(key, winner(candidates));
  }

  private removeVirtualServer(key: string, v: PlannedVirtualServer): void {
    const candidates = this.contested.get(key);
    if (!candidates) return this.setVirtualServer(key, undefined);
    candidates.splice(candidates.lastIndexOf(v), 1);
    if (candidates.length === 1) this.contested.delete(key);
    this.setVirtualServer(key, winner(candidates));
  }

  private addMember(k: IpsetKey, member: string): void {
    const set = this.current.ipsets.get(k)!;
    const size = set.size;
    if (set.add(member).size === size) {
      const extra = this.extraMembers.get(k)!;
      extra.set(member, (extra.get(member) ?? 0) + 1);
      return;
    }
    if (!this.pending.all) this.pending.ipsets.get(k)!.add(member);
  }

  private removeMember(k: IpsetKey, member: string): void {
    const extra = this.extraMembers.get(k)!;
    const n = extra.get(member);
    if (n !== undefined) {
      if (n === 1) extra.delete(member);
      else extra.set(member, n - 1);
      return;
    }
    this.current.ipsets.get(k)!.delete(member);
    if (!this.pending.all) this.pending.ipsets.get(k)!.add(member);
  }

  private addBound(ip: string): void {
    const bound = this.current.boundAddresses;
    const size = bound.size;
    if (bound.add(ip).size === size) {
      this.extraBound.set(ip, (this.extraBound.get(ip) ?? 0) + 1);
      return;
    }
    if (!this.pending.all) this.pending.boundAddresses.add(ip);
    // KUBE-IPVS-IPS holds exactly the bound addresses.
    this.addMember('ipvsIPs', ip);
  }

  private removeBound(ip: string): void {
    const n = this.extraBound.get(ip);
    if (n !== undefined) {
      if (n === 1) this.extraBound.delete(ip);
      else this.extraBound.set(ip, n - 1);
      return;
    }
    this.current.boundAddresses.delete(ip);
    if (!this.pending.all) this.pending.boundAddresses.add(ip);
    this.removeMember('ipvsIPs', ip);
  }
}

/**
 * Of several Service ports planning the same virtual server, the one with the largest name wins,
 * and of equal names the one added last: independent of the order of the state (which a one-shot
 * plan of a state sorted by name, as computeProxyState builds it, gets by "last one wins").
 */
function winner(candidates: readonly PlannedVirtualServer[]): PlannedVirtualServer | undefined {
  let best = candidates[0];
  for (let i = 1; i < candidates.length; i++) {
    const c = candidates[i]!;
    if (c.servicePort >= best!.servicePort) best = c;
  }
  return best;
}

/** Adds `by` to `key`'s count, deleting it at zero. */
function count(counts: Map<string, number>, key: string, by: number): void {
  const n = (counts.get(key) ?? 0) + by;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}

/** Replaces `xs[from, to)` by `by`, in place. */
function replace<T>(xs: T[], from: number, to: number, by: readonly T[]): void {
  if (by.length === to - from) {
    for (let j = 0; j < by.length; j++) xs[from + j] = by[j]!;
  } else if (by.length < 10_000) {
    xs.splice(from, to - from, ...by);
  } else {
    // Spreading that many arguments could exceed the call stack.
    const tail = xs.slice(to);
    xs.length = from;
    for (const x of by) xs.push(x);
    for (const x of tail) xs.push(x);
  }
}

function hasIn<T>(set: ReadonlySet<T>): (x: T) => boolean {
  return (x) => set.has(x);
}

/** A one-off plan, without memory of earlier ones. */
export function planIpvs(input: PlanInput): IpvsPlan {
  return new IpvsPlanner(input).plan(input.state, input.nodeIPs);
}

function compareAddr(a: string, b: string): number {
  const na = ipv4(a);
  const nb = ipv4(b);
  if (na >= 0 && nb >= 0) return na - nb;
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 4; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** A dotted quad as a number (-1 if it is not one), without the split that dominated sorting. */
function ipv4(s: string): number {
  let n = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      n = n * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      octet = octet * 10 + (c - 48);
      if (octet > 255) return -1;
      digits++;
    } else return -1;
  }
  return dots === 3 && digits > 0 ? n * 256 + octet : -1;
}
