/**
 * The iptables-mode planner: desired Services and Endpoints for one node → the
 * iptables-restore input kube-proxy (1.28+) would write, as a pure function. Rule arguments,
 * their order and comments follow pkg/proxy/iptables/proxier.go so that `iptables-save` on a
 * lab node reads like one on a real node.
 */

import { serviceKey } from '../../model/types.js';
import {
  categorizeEndpoints,
  servicePortInfo,
  sourceRangesAllowNode,
  trafficHasEndpoints,
} from '../service-port.js';
import { endpointChainSuffix, servicePortChainSuffix } from '../shared/hash.js';
import type { Endpoint, NodeContext, ProxyState, ServicePortState } from '../types.js';
import {
  FILTER_TOP_CHAINS,
  KUBE_EXTERNAL_SERVICES,
  KUBE_FIREWALL,
  KUBE_FORWARD,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
  MASQUERADE_MARK,
  NAT_TOP_CHAINS,
  isServiceChainName,
} from './chains.js';
import type { Table } from './ruleset.js';

export type SyncStrategy = 'full' | 'partial';

/** kube-proxy's largeClusterEndpointsThreshold. */
export const LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000;

export interface PlanInput {
  /** nodeIP: kube-proxy's primary node IP (loadBalancerSourceRanges' allowFromNode). */
  node: Pick<NodeContext, 'nodeName' | 'nodeIP' | 'clusterCIDR' | 'zone'>;
  state: ProxyState;
  /** The plan of the last successful sync; partial syncs diff against it. */
  previous: IptablesPlan | null;
  /** `partial` without a previous plan is a full sync (kube-proxy's first sync is always full). */
  strategy: SyncStrategy;
  /**
   * Service chains present in the kernel's nat table, from iptables-save. Stale ones among them
   * are deleted; without it, the previous plan's chains stand in for the kernel's.
   */
  existingNatChains?: Iterable<string> | undefined;
  /**
   * net.netfilter.nf_conntrack_tcp_be_liberal is set: kube-proxy then leaves out the rule that
   * drops conntrack-INVALID packets (kubernetes#74839, #117924).
   */
  conntrackTCPLiberal?: boolean | undefined;
  /** kube-proxy's --iptables-localhost-nodeports (default true; needs route_localnet=1). */
  localhostNodePorts?: boolean | undefined;
}

export interface PlanCounts {
  /** Chain lines written (each flushes or creates a chain). */
  filterChains: number;
  filterRules: number;
  natChains: number;
  natRules: number;
  /** Stale Service chains deleted with -X. */
  deletedChains: number;
  /** Service ports whose KUBE-SVC/SVL/EXT/SEP chains this restore rewrote... */
  servicePortsWritten: number;
  /** ...and those a partial sync left alone because their Service did not change. */
  servicePortsSkipped: number;
}

export interface IptablesPlan {
  /** What the plan does: a partial request without a previous plan is planned as full. */
  strategy: SyncStrategy;
  /** Input for `iptables-restore --noflush`: the filter table, then nat, like kube-proxy. */
  restoreInput: string;
  /**
   * Every kube-proxy chain as it is after the restore, including chains a partial sync did not
   * write: table → chain → rule arguments (restore syntax, after `-A <chain>`). The rule arrays
   * of Service chains are shared with the plans before and after this one: read them, never
   * modify them.
   */
  desired: Record<Table, Map<string, string[]>>;
  /** Chains this restore declares (creates or flushes), per table. */
  written: Record<Table, string[]>;
  /** nat chains this restore deletes. */
  deleted: string[];
  /**
   * Service (namespace/name) → what its rules were computed from, and the rules. The next sync
   * reuses the entries of unchanged Services instead of computing them again: at 50,000
   * Services, computing rules and hashing chain names is most of a full plan's cost.
   */
  services: ReadonlyMap<string, ServicePlan>;
  counts: PlanCounts;
}

/**
 * One Service in a plan. Later plans share it while the Service is unchanged, so nothing in it is
 * modified once the plan is made (but `fingerprint`, filled in when first needed).
 */
export interface ServicePlan {
  /**
   * Per port (sorted by name, headless ones included), what it was planned from: its service,
   * port and endpoints array, and its name. A later port holding the very same objects has the
   * same fingerprint without computing it. Like proxy.ts's stale-flow check, this relies on
   * those objects not being edited in place once planned: the lab builds new ones for each sync,
   * the bench reuses unchanged Services' ones.
   */
  seen: readonly unknown[];
  largeClusterMode: boolean;
  /** The node fields the rules depend on. */
  nodeName: string;
  nodeIP: string;
  clusterCIDR: string;
  /** The node's zone: the endpoints zone hints let it use (kube-proxy's topologyLabels). */
  zone: string;
  /**
   * What the Service's chains depend on (see fingerprint()): a partial sync rewrites them when it
   * changes. Computed lazily: only a later state made of new objects needs it.
   */
  fingerprint: string | undefined;
  /** The rules of each non-headless port, in port name order. */
  ports: readonly PortRules[];
}

/** What one Service port contributes to a plan (kube-proxy's per-service loop in syncProxyRules). */
interface PortRules {
  /** Rules for the node-wide chains, each in the order kube-proxy writes them. */
  natServices: readonly string[];
  natNodePorts: readonly string[];
  filterServices: readonly string[];
  filterExternal: readonly string[];
  filterNodePorts: readonly string[];
  filterFirewall: readonly string[];
  /** The port's own chains, declared in this order: KUBE-EXT, KUBE-FW, KUBE-SVC, KUBE-SVL, KUBE-SEPs. */
  chains: readonly string[];
  rules: readonly (readonly string[])[];
  ownRules: number;
  /** Restore lines: the port's rules in node-wide nat chains, which every sync writes... */
  natTop: string;
  /** ...those followed by its own chains' rules, in kube-proxy's order... */
  natAll: string;
  /** ...its own chains' declarations, and its filter rules. */
  declText: string;
  filterText: string;
}

/** The rules of a chain a port has none for; frozen, as plans share it. */
const NONE: readonly string[] = Object.freeze([]);
const SEEN_STRIDE = 4;

/** kube-proxy's computeProbability: 1/n with %0.10f. */
export function probability(n: number): string {
  return (1 / n).toFixed(10);
}

/** `-m comment --comment "<text>"`; kube-proxy quotes every comment that may contain spaces. */
function comment(text: string): string[] {
  return ['-m', 'comment', '--comment', `"${text}"`];
}

/**
 * The restore lines of one port for one part of the restore input (node-wide nat rules, own
 * chains, filter rules), as pieces: `-A <chain> ` and the rule's arguments, themselves pieces of
 * kube-proxy's space-joined argument lists. A scratch buffer, reused for every port.
 */
class PortLines {
  readonly parts: string[] = [];
  partCount = 0;
  length = 0;
  /** Per rule: its chain (an index in the caller's list of chains), where it starts and ends. */
  readonly chainOf: number[] = [];
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  ruleCount = 0;

  reset(): this {
    this.partCount = this.length = this.ruleCount = 0;
    return this;
  }

  add(chainIndex: number, chain: string, ...pieces: string[]): void {
    this.piece('-A ');
    this.piece(chain);
    this.piece(' ');
    this.chainOf[this.ruleCount] = chainIndex;
    this.starts[this.ruleCount] = this.length;
    for (const piece of pieces) this.piece(piece);
    this.ends[this.ruleCount++] = this.length;
    this.piece('\n');
  }

  /** `:<chain> - [0:0]` for each chain. */
  declare(chains: readonly string[]): this {
    for (const chain of chains) {
      this.piece(':');
      this.piece(chain);
      this.piece(' - [0:0]\n');
    }
    return this;
  }

  private piece(s: string): void {
    this.parts[this.partCount++] = s;
    this.length += s.length;
  }
}

/**
 * The text of many ports' restore lines; its slices are their rules and their parts of the
 * restore input. At 50,000 Services a plan holds 400,000 rules, which later plans reuse, so they
 * outlive the young-generation collections that copy whatever survives them. As template
 * literals, each rule would be a tree of a dozen concatenations, copied once more into a line;
 * here the lines of a few hundred ports are joined into one text, which V8 allocates in its
 * large-object space (never copied), and each rule is one small slice of it. A text lives as long
 * as any slice of it: once partial syncs have replaced some of its Services, the others keep it.
 */
class RestoreText {
  private readonly parts: string[] = [];
  private partCount = 0;
  private length = 0;
  /** Slices to make once the text exists: into which array and index, from where to where. */
  private readonly arrays: string[][] = [];
  private readonly indices: number[] = [];
  private readonly bounds: number[] = [];
  private sliceCount = 0;
  /** Ports whose restore lines are slices to make, and where their parts start and end. */
  private readonly ports: PortRules[] = [];
  private readonly portBounds: number[] = [];
  private portCount = 0;

  /**
   * Just above V8's largest young-generation object (128 KiB); larger texts join more slowly
   * (per piece), and keep more memory alive per slice.
   */
  static readonly FLUSH_AT = 1 << 17;

  get size(): number {
    return this.length;
  }

  /**
   * Appends the lines and returns their rules per chain (`chains` chains), in arrays that flush()
   * fills. Exactly sized: arrays grown by push keep up to 16 spare slots, and plans keep these.
   */
  append(lines: PortLines, chains: number): (readonly string[])[] {
    const counts = new Array<number>(chains).fill(0);
    for (let k = 0; k < lines.ruleCount; k++) counts[lines.chainOf[k]!]!++;
    const rules = counts.map((n) => (n === 0 ? NONE : new Array<string>(n)));
    counts.fill(0);
    for (let k = 0; k < lines.ruleCount; k++) {
      const chain = lines.chainOf[k]!;
      const s = this.sliceCount++;
      this.arrays[s] = rules[chain] as string[];
      this.indices[s] = counts[chain]!++;
      this.bounds[2 * s] = this.length + lines.starts[k]!;
      this.bounds[2 * s + 1] = this.length + lines.ends[k]!;
    }
    for (let p = 0; p < lines.partCount; p++) this.parts[this.partCount++] = lines.parts[p]!;
    this.length += lines.length;
    return rules;
  }

  /** Sets the port's restore lines at flush(): its parts were appended since `start`. */
  port(r: PortRules, start: number, natTopEnd: number, natAllEnd: number, declEnd: number): void {
    this.ports[this.portCount++] = r;
    this.portBounds.push(start, natTopEnd, natAllEnd, declEnd, this.length);
  }

  flush(): void {
    this.parts.length = this.partCount;
    const text = this.parts.join('');
    for (let s = 0; s < this.sliceCount; s++)
      this.arrays[s]![this.indices[s]!] = text.slice(this.bounds[2 * s], this.bounds[2 * s + 1]);
    const b = this.portBounds;
    for (let p = 0; p < this.portCount; p++) {
      const r = this.ports[p]!;
      r.natTop = text.slice(b[5 * p], b[5 * p + 1]);
      r.natAll = text.slice(b[5 * p], b[5 * p + 2]);
      r.declText = text.slice(b[5 * p + 2], b[5 * p + 3]);
      r.filterText = text.slice(b[5 * p + 3], b[5 * p + 4]);
    }
    this.partCount = this.length = this.sliceCount = this.portCount = 0;
    this.portBounds.length = 0;
  }
}

function endpointString(e: Endpoint): string {
  return `${e.ip}:${e.port}`;
}

/**
 * kube-proxy's endpoints cache keeps endpoints sorted by their `ip:port` string. Returns the
 * endpoints and their strings; both are the input when it is sorted already (the usual case).
 */
function sortEndpoints(eps: readonly Endpoint[]): [readonly Endpoint[], string[]] {
  const keys = eps.map(endpointString);
  let sorted = true;
  for (let i = 1; i < keys.length && sorted; i++) sorted = keys[i - 1]! <= keys[i]!;
  if (sorted) return [eps, keys];
  // A stable sort, like Array.prototype.sort on the endpoints themselves.
  const order = keys.map((_, i) => i);
  order.sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0));
  return [order.map((i) => eps[i]!), order.map((i) => keys[i]!)];
}

/** What a Service's chains depend on: any change here makes a partial sync rewrite them. */
function fingerprint(ports: readonly ServicePortState[], largeClusterMode: boolean): string {
  return JSON.stringify([
    largeClusterMode,
    ...ports.map((sp) => ({
      service: sp.service,
      port: sp.port,
      name: sp.name,
      endpoints: sortEndpoints(sp.endpoints)[0],
    })),
  ]);
}

function remember(ports: readonly ServicePortState[]): unknown[] {
  const [sp] = ports;
  return ports.length === 1
    ? [sp!.service, sp!.port, sp!.endpoints, sp!.name]
    : ports.flatMap((sp) => [sp.service, sp.port, sp.endpoints, sp.name]);
}

/** True when `ports` hold the very objects a ServicePlan was built from (see ServicePlan.seen). */
function sameObjects(seen: readonly unknown[], ports: readonly ServicePortState[]): boolean {
  if (seen.length !== ports.length * SEEN_STRIDE) return false;
  for (let i = 0, j = 0; i < ports.length; i++, j += SEEN_STRIDE) {
    const sp = ports[i]!;
    if (
      seen[j] !== sp.service ||
      seen[j + 1] !== sp.port ||
      seen[j + 2] !== sp.endpoints ||
      seen[j + 3] !== sp.name
    )
      return false;
  }
  return true;
}

/** The ports a ServicePlan was built from, as they were then (see ServicePlan.seen). */
function portsOf(seen: readonly unknown[]): ServicePortState[] {
  const ports: ServicePortState[] = [];
  for (let j = 0; j < seen.length; j += SEEN_STRIDE) {
    ports.push({
      service: seen[j] as ServicePortState['service'],
      port: seen[j + 1] as ServicePortState['port'],
      endpoints: seen[j + 2] as ServicePortState['endpoints'],
      name: seen[j + 3] as string,
    });
  }
  return ports;
}

/**
 * The Service ports by Service (namespace/name), in name order; each Service's ports in the order
 * given. States usually list a Service's ports together and Services in name order already:
 * grouping runs of the same Service is cheaper than a Map and a sort, which are the fallback.
 */
function groupByService(
  servicePorts: readonly ServicePortState[],
): [string[], ServicePortState[][]] {
  const keys: string[] = [];
  const groups: ServicePortState[][] = [];
  let last: ServicePortState | undefined;
  for (const sp of servicePorts) {
    if (last?.service === sp.service) {
      groups[groups.length - 1]!.push(sp);
    } else {
      const key = serviceKey(sp.service);
      const previousKey = keys[keys.length - 1];
      if (previousKey === key) groups[groups.length - 1]!.push(sp);
      else if (previousKey !== undefined && previousKey > key)
        return groupByServiceSlowly(servicePorts);
      else {
        keys.push(key);
        groups.push([sp]);
      }
    }
    last = sp;
  }
  return [keys, groups];
}

function groupByServiceSlowly(
  servicePorts: readonly ServicePortState[],
): [string[], ServicePortState[][]] {
  const byService = new Map<string, ServicePortState[]>();
  for (const sp of servicePorts) {
    const key = serviceKey(sp.service);
    const ports = byService.get(key);
    if (ports) ports.push(sp);
    else byService.set(key, [sp]);
  }
  const keys = [...byService.keys()].sort();
  return [keys, keys.map((key) => byService.get(key)!)];
}

function byName(a: ServicePortState, b: ServicePortState): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export function planIptables(input: PlanInput): IptablesPlan {
  const { node, state, previous } = input;
  const strategy: SyncStrategy = input.strategy === 'partial' && previous ? 'partial' : 'full';
  const localhostNodePorts = input.localhostNodePorts ?? true;
  let totalEndpoints = 0;
  for (const sp of state.servicePorts) totalEndpoints += sp.endpoints.length;
  // kube-proxy's largeClusterMode: above LARGE_CLUSTER_ENDPOINTS_THRESHOLD endpoints it drops
  // the comments of endpoint rules, which shrinks the restore input by up to 40%.
  const largeClusterMode = totalEndpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD;

  const [keys, groups] = groupByService(state.servicePorts);

  // Each Service's plan: the previous plan's when the Service is unchanged, else a new one. The
  // fingerprint decides whether a partial sync rewrites the Service's chains; the rules are only
  // computed again when the fingerprint or the node changed.
  const services = new Map<string, ServicePlan>();
  const entries: ServicePlan[] = [];
  const replaced: ServicePlan[] = [];
  let matched = 0;
  const rewrite: boolean[] = [];
  const w: PortWriter = {
    text: new RestoreText(),
    nat: new PortLines(),
    own: new PortLines(),
    decl: new PortLines(),
    filter: new PortLines(),
  };
  keys.forEach((key, k) => {
    const group = groups[k]!;
    const ports = group.length > 1 ? group.sort(byName) : group;
    const prev = previous?.services.get(key);
    if (prev) matched++;

    // Whether the fingerprint is the one the previous plan had for this Service: certainly so
    // for the very same objects, compared as text for new ones.
    let same = false;
    let unchanged = false;
    let fp: string | undefined;
    // A new zone changes which endpoints hints leave this node, so every Service is rewritten, as
    // kube-proxy's OnTopologyChange forces a full sync.
    if (prev && prev.largeClusterMode === largeClusterMode && prev.zone === (node.zone ?? '')) {
      same = sameObjects(prev.seen, ports);
      if (same) {
        unchanged = true;
        fp = prev.fingerprint;
      } else {
        fp = fingerprint(ports, largeClusterMode);
        prev.fingerprint ??= fingerprint(portsOf(prev.seen), prev.largeClusterMode);
        unchanged = fp === prev.fingerprint;
      }
    }
    // kube-proxy's partial sync: a Service's own chains are only rewritten when the Service or
    // its EndpointSlices changed since the last sync; KUBE-SERVICES and friends always are.
    rewrite.push(strategy === 'full' || !unchanged);

    if (
      prev &&
      unchanged &&
      prev.nodeName === node.nodeName &&
      prev.nodeIP === node.nodeIP &&
      prev.clusterCIDR === node.clusterCIDR
    ) {
      entries.push(same ? prev : { ...prev, seen: remember(ports), fingerprint: fp });
    } else {
      // The previous plan's chains of this Service may be stale now.
      if (prev) replaced.push(prev);
      const planned = ports.map((sp) => planServicePort(sp, node, largeClusterMode, w));
      entries.push({
        seen: remember(ports),
        largeClusterMode,
        nodeName: node.nodeName,
        nodeIP: node.nodeIP,
        clusterCIDR: node.clusterCIDR,
        zone: node.zone ?? '',
        fingerprint: fp,
        ports: planned.includes(undefined)
          ? planned.filter((r): r is PortRules => r !== undefined)
          : (planned as PortRules[]),
      });
      if (w.text.size >= RestoreText.FLUSH_AT) w.text.flush();
    }
    services.set(key, entries[k]!);
  });
  w.text.flush();

  const desired: Record<Table, Map<string, string[]>> = { filter: new Map(), nat: new Map() };
  for (const c of FILTER_TOP_CHAINS) desired.filter.set(c, []);
  for (const c of NAT_TOP_CHAINS) desired.nat.set(c, []);
  const writtenFilter = [...FILTER_TOP_CHAINS];
  const writtenNat = [...NAT_TOP_CHAINS];
  // The restore input in pieces, joined once at the end: node-wide rules line by line, Service
  // ports' rules as a few strings each.
  const filterLines: string[] = [];
  const natDecls: string[] = [];
  const natLines: string[] = [];
  let filterRules = 0;
  let natRules = 0;
  const rule = (table: Table, chain: string, args: readonly string[]) => {
    const text = args.join(' ');
    desired[table].get(chain)!.push(text);
    (table === 'filter' ? filterLines : natLines).push(`-A ${chain} ${text}\n`);
    if (table === 'filter') filterRules++;
    else natRules++;
  };

  rule('nat', KUBE_POSTROUTING, [
    '-m',
    'mark',
    '!',
    '--mark',
    `${MASQUERADE_MARK}/${MASQUERADE_MARK}`,
    '-j',
    'RETURN',
  ]);
  // Clear the mark so a packet that re-traverses the stack is not masqueraded twice.
  rule('nat', KUBE_POSTROUTING, ['-j', 'MARK', '--xor-mark', MASQUERADE_MARK]);
  rule('nat', KUBE_POSTROUTING, [
    ...comment('kubernetes service traffic requiring SNAT'),
    '-j',
    'MASQUERADE',
    '--random-fully',
  ]);
  rule('nat', KUBE_MARK_MASQ, ['-j', 'MARK', '--or-mark', MASQUERADE_MARK]);

  if (localhostNodePorts) {
    // route_localnet=1 (for NodePorts on 127.0.0.1) lets martian packets to 127/8 in from the
    // network; kubelet's KUBE-FIREWALL rule, duplicated by kube-proxy, drops them
    // (kubernetes#90259).
    desired.filter.set(KUBE_FIREWALL, []);
    writtenFilter.push(KUBE_FIREWALL);
    rule('filter', KUBE_FIREWALL, [
      ...comment('block incoming localnet connections'),
      '-d', '127.0.0.0/8', '!', '-s', '127.0.0.0/8',
      '-m', 'conntrack', '!', '--ctstate', 'RELATED,ESTABLISHED,DNAT',
      '-j', 'DROP',
    ]); // prettier-ignore
  }

  const natServices = desired.nat.get(KUBE_SERVICES)!;
  const natNodePorts = desired.nat.get(KUBE_NODEPORTS)!;
  const filterServices = desired.filter.get(KUBE_SERVICES)!;
  const filterExternal = desired.filter.get(KUBE_EXTERNAL_SERVICES)!;
  const filterNodePorts = desired.filter.get(KUBE_NODEPORTS)!;
  const filterFirewall = desired.filter.get(KUBE_PROXY_FIREWALL)!;
  const desiredNat = desired.nat;
  let ownChains = 0;
  let servicePortsWritten = 0;
  let servicePortsSkipped = 0;
  entries.forEach((entry, k) => {
    const write = rewrite[k]!;
    for (const r of entry.ports) {
      for (const text of r.natServices) natServices.push(text);
      for (const text of r.natNodePorts) natNodePorts.push(text);
      for (const text of r.filterServices) filterServices.push(text);
      for (const text of r.filterExternal) filterExternal.push(text);
      for (const text of r.filterNodePorts) filterNodePorts.push(text);
      for (const text of r.filterFirewall) filterFirewall.push(text);
      natRules += r.natServices.length + r.natNodePorts.length;
      filterRules +=
        r.filterServices.length +
        r.filterExternal.length +
        r.filterNodePorts.length +
        r.filterFirewall.length;
      if (r.filterText) filterLines.push(r.filterText);

      const { chains, rules } = r;
      // Shared with the plan that made them (see IptablesPlan.desired).
      for (let i = 0; i < chains.length; i++) desiredNat.set(chains[i]!, rules[i] as string[]);
      ownChains += chains.length;
      if (write) {
        servicePortsWritten++;
        for (const c of chains) writtenNat.push(c);
        if (r.declText) natDecls.push(r.declText);
        if (r.natAll) natLines.push(r.natAll);
        natRules += r.ownRules;
      } else {
        servicePortsSkipped++;
        if (r.natTop) natLines.push(r.natTop);
      }
    }
  });
  // Two ports with the same name and protocol share chains (kube-proxy would not plan that, but
  // a state can hold it): the chain then has both ports' rules.
  if (desiredNat.size !== NAT_TOP_CHAINS.length + ownChains) mergeSharedChains(desiredNat, entries);

  // Delete Service chains that are no longer used. -X needs the chain flushed in the same
  // transaction, which declaring it does.
  const deleted: string[] = [];
  const stale = new Set<string>();
  const existing = input.existingNatChains ?? previousChains(previous, services, replaced, matched);
  for (const chain of existing) {
    if (!desiredNat.has(chain) && isServiceChainName(chain) && !stale.has(chain)) {
      stale.add(chain);
      deleted.push(chain);
    }
  }
  deleted.sort();
  for (const chain of deleted) natLines.push(`-X ${chain}\n`);

  // The NodePort dispatch must be the last rule of KUBE-SERVICES: ClusterIPs and external IPs
  // that happen to be local addresses must match their own rules first.
  rule('nat', KUBE_SERVICES, [
    ...comment('kubernetes service nodeports; NOTE: this must be the last rule in this chain'),
    '-m', 'addrtype', '--dst-type', 'LOCAL',
    ...(localhostNodePorts ? [] : ['!', '-d', '127.0.0.0/8']),
    '-j', KUBE_NODEPORTS,
  ]); // prettier-ignore

  if (!input.conntrackTCPLiberal) {
    // Packets conntrack considers INVALID would otherwise reach a pod un-NATed and be answered
    // with a RST that kills the connection (kubernetes#74839).
    rule('filter', KUBE_FORWARD, ['-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP']);
  }
  // Forward what kube-proxy marked even where the FORWARD policy is DROP.
  rule('filter', KUBE_FORWARD, [
    ...comment('kubernetes forwarding rules'),
    '-m', 'mark', '--mark', `${MASQUERADE_MARK}/${MASQUERADE_MARK}`,
    '-j', 'ACCEPT',
  ]); // prettier-ignore
  rule('filter', KUBE_FORWARD, [
    ...comment('kubernetes forwarding conntrack rule'),
    '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED',
    '-j', 'ACCEPT',
  ]); // prettier-ignore

  const out: string[] = ['*filter\n'];
  for (const c of writtenFilter) out.push(`:${c} - [0:0]\n`);
  // Loops, not push(...lines): spreading 100,000 pieces as arguments overflows the stack.
  for (const piece of filterLines) out.push(piece);
  out.push('COMMIT\n*nat\n');
  for (const c of NAT_TOP_CHAINS) out.push(`:${c} - [0:0]\n`);
  for (const piece of natDecls) out.push(piece);
  for (const c of deleted) out.push(`:${c} - [0:0]\n`);
  for (const piece of natLines) out.push(piece);
  out.push('COMMIT\n');

  return {
    strategy,
    restoreInput: out.join(''),
    desired,
    written: { filter: writtenFilter, nat: writtenNat },
    deleted,
    services,
    counts: {
      filterChains: writtenFilter.length,
      filterRules,
      natChains: writtenNat.length + deleted.length,
      natRules,
      deletedChains: deleted.length,
      servicePortsWritten,
      servicePortsSkipped,
    },
  };
}

/**
 * The previous plan's Service chains that may be gone: those of Services replaced or removed.
 * The previous plan's other Services are in this plan with all their chains, so there is no need
 * to look through all of its chains (155,000 at 50,000 Services).
 */
function* previousChains(
  previous: IptablesPlan | null,
  services: ReadonlyMap<string, ServicePlan>,
  replaced: readonly ServicePlan[],
  matched: number,
): Generator<string> {
  if (!previous) return;
  const gone = [...replaced];
  // `matched` of this plan's Services were in the previous plan: any others there were removed.
  if (previous.services.size > matched)
    for (const [key, entry] of previous.services) if (!services.has(key)) gone.push(entry);
  for (const entry of gone) for (const r of entry.ports) yield* r.chains;
}

/** Rebuilds the Service chains of `desired` so that a chain two ports share holds both's rules. */
function mergeSharedChains(
  desiredNat: Map<string, string[]>,
  entries: readonly ServicePlan[],
): void {
  for (const chain of [...desiredNat.keys()].slice(NAT_TOP_CHAINS.length)) desiredNat.delete(chain);
  for (const entry of entries) {
    for (const r of entry.ports) {
      r.chains.forEach((chain, i) => {
        const before = desiredNat.get(chain);
        // A copy: the rule arrays are shared with other plans.
        desiredNat.set(chain, before ? [...before, ...r.rules[i]!] : (r.rules[i] as string[]));
      });
    }
  }
}

/** Scratch buffers for planServicePort, and the text its ports' lines go to. */
interface PortWriter {
  text: RestoreText;
  nat: PortLines;
  own: PortLines;
  decl: PortLines;
  filter: PortLines;
}

/** The node-wide chains of a port's rules, as PortLines chain indices per table. */
const NAT_SERVICES = 0;
const NAT_NODEPORTS = 1;
const FILTER_SERVICES = 0;
const FILTER_EXTERNAL = 1;
const FILTER_NODEPORTS = 2;
const FILTER_FIREWALL = 3;

/**
 * One Service port: the body of kube-proxy's per-service loop in syncProxyRules. Returns nothing
 * for a headless Service. The port's text fields are set when `w.text` is flushed.
 */
function planServicePort(
  sp: ServicePortState,
  node: PlanInput['node'],
  largeClusterMode: boolean,
  w: PortWriter,
): PortRules | undefined {
  const svc = sp.service;
  if (!svc.clusterIP || svc.clusterIP === 'None') return undefined; // headless
  const name = sp.name;
  const protocol = sp.port.protocol.toLowerCase();
  const suffix = servicePortChainSuffix(name, sp.port.protocol);
  const chains = {
    cluster: chainName('KUBE-SVC-', suffix),
    local: chainName('KUBE-SVL-', suffix),
    external: chainName('KUBE-EXT-', suffix),
    firewall: chainName('KUBE-FW-', suffix),
  };
  // `-m <proto> -p <proto> -d <ip> --dport <port>`, as the pieces around the IP.
  const match = `-m ${protocol} -p ${protocol}`;
  const destHead = `${match} -d `;
  const destTail = ` --dport ${sp.port.port}`;

  const nodePort = sp.port.nodePort ?? 0;
  // kube-proxy's svcInfo and CategorizeEndpoints, as every planner asks them.
  const info = servicePortInfo(sp);
  const { externallyAccessible, externalPolicyLocal, internalPolicyLocal } = info;
  const categorized = categorizeEndpoints(sp, info, node.nodeName, node.zone);
  const hasEndpoints = categorized.hasAnyEndpoints;
  const [clusterEndpoints, clusterKeys] = sortEndpoints(categorized.clusterEndpoints);
  const [localEndpoints, localKeys] = sortEndpoints(categorized.localEndpoints);
  let reachable: readonly Endpoint[];
  let reachableKeys: string[];
  if (localEndpoints.length === 0 && !hasDuplicates(clusterKeys)) {
    // The union below, without building it: the cluster endpoints are sorted and distinct.
    reachable = clusterEndpoints;
    reachableKeys = clusterKeys;
  } else {
    const union = new Map<string, Endpoint>();
    clusterEndpoints.forEach((e, i) => union.set(clusterKeys[i]!, e));
    localEndpoints.forEach((e, i) => union.set(localKeys[i]!, e));
    [reachable, reachableKeys] = sortEndpoints([...union.values()]);
  }

  const usesClusterPolicyChain = clusterEndpoints.length > 0;
  const usesLocalPolicyChain = localEndpoints.length > 0;

  const { hasInternalEndpoints, hasExternalEndpoints } = trafficHasEndpoints(info, categorized);
  const internalTrafficChain = internalPolicyLocal ? chains.local : chains.cluster;
  const externalPolicyChain = externalPolicyLocal ? chains.local : chains.cluster;
  const externalTrafficChain = chains.external;
  // The EXT chain exists even without usable external endpoints: its short-circuit rules for
  // pod and host traffic still apply.
  const usesExternalTrafficChain = hasEndpoints && externallyAccessible;
  // loadBalancerSourceRanges: load-balancer traffic goes through KUBE-FW, which sends allowed
  // sources on to KUBE-EXT; the rest leaves it un-DNATed and KUBE-PROXY-FIREWALL drops it.
  const sourceRanges = info.loadBalancerSourceRanges;
  const usesFWChain = hasEndpoints && svc.loadBalancerIPs.length > 0 && sourceRanges.length > 0;
  const loadBalancerTrafficChain = usesFWChain ? chains.firewall : externalTrafficChain;

  let internalFilter: { target: string; comment: string } | undefined;
  let externalFilter: { target: string; comment: string } | undefined;
  if (!hasEndpoints) {
    // No endpoints anywhere: no nat chains at all, and REJECT so clients fail fast instead of
    // timing out.
    internalFilter = externalFilter = { target: 'REJECT', comment: `${name} has no endpoints` };
  } else {
    if (!hasInternalEndpoints)
      internalFilter = { target: 'DROP', comment: `${name} has no local endpoints` };
    if (!hasExternalEndpoints)
      externalFilter = { target: 'DROP', comment: `${name} has no local endpoints` };
  }

  const nat = w.nat.reset();
  const filter = w.filter.reset();
  const S = KUBE_SERVICES;
  const X = KUBE_EXTERNAL_SERVICES;

  // Capture the ClusterIP.
  if (hasInternalEndpoints) {
    nat.add(NAT_SERVICES, S, '-m comment --comment "', name, ' cluster IP" ', destHead, svc.clusterIP, destTail, ' -j ', internalTrafficChain); // prettier-ignore
  } else if (internalFilter) {
    filter.add(FILTER_SERVICES, S, '-m comment --comment "', internalFilter.comment, '" ', destHead, svc.clusterIP, destTail, ' -j ', internalFilter.target); // prettier-ignore
  }

  // Capture external IPs.
  for (const ip of svc.externalIPs) {
    if (hasEndpoints)
      nat.add(NAT_SERVICES, S, '-m comment --comment "', name, ' external IP" ', destHead, ip, destTail, ' -j ', externalTrafficChain); // prettier-ignore
    if (externalFilter)
      filter.add(FILTER_EXTERNAL, X, '-m comment --comment "', externalFilter.comment, '" ', destHead, ip, destTail, ' -j ', externalFilter.target); // prettier-ignore
  }

  // Capture load-balancer ingress IPs.
  for (const ip of svc.loadBalancerIPs) {
    if (hasEndpoints)
      nat.add(NAT_SERVICES, S, '-m comment --comment "', name, ' loadbalancer IP" ', destHead, ip, destTail, ' -j ', loadBalancerTrafficChain); // prettier-ignore
    // Runs in filter, after nat: a packet still addressed to the LB IP was not DNATed by KUBE-FW.
    if (usesFWChain)
      filter.add(FILTER_FIREWALL, KUBE_PROXY_FIREWALL, '-m comment --comment "', name, ' traffic not accepted by ', chains.firewall, '" ', destHead, ip, destTail, ' -j DROP'); // prettier-ignore
  }
  if (externalFilter) {
    for (const ip of svc.loadBalancerIPs)
      filter.add(FILTER_EXTERNAL, X, '-m comment --comment "', externalFilter.comment, '" ', destHead, ip, destTail, ' -j ', externalFilter.target); // prettier-ignore
  }

  // Capture NodePorts (KUBE-SERVICES' last rule sends every local destination here).
  if (nodePort !== 0) {
    if (hasEndpoints)
      nat.add(NAT_NODEPORTS, KUBE_NODEPORTS, '-m comment --comment ', name, ' ', match, ' --dport ', String(nodePort), ' -j ', externalTrafficChain); // prettier-ignore
    if (externalFilter)
      filter.add(FILTER_EXTERNAL, X, '-m comment --comment "', externalFilter.comment, '" -m addrtype --dst-type LOCAL ', match, ' --dport ', String(nodePort), ' -j ', externalFilter.target); // prettier-ignore
  }

  // Capture the healthCheckNodePort, whatever the endpoints: the load balancer must reach the
  // node's health server even where INPUT drops by default (filter KUBE-NODEPORTS, from INPUT).
  if (info.healthCheckNodePort !== 0)
    filter.add(FILTER_NODEPORTS, KUBE_NODEPORTS, '-m comment --comment "', name, ' health check node port" -m tcp -p tcp --dport ', String(info.healthCheckNodePort), ' -j ACCEPT'); // prettier-ignore

  // From here on: the Service's own chains, which a partial sync skips when unchanged.
  const declared: string[] = [];
  if (usesExternalTrafficChain) declared.push(externalTrafficChain);
  if (usesFWChain) declared.push(chains.firewall);
  if (usesClusterPolicyChain) declared.push(chains.cluster);
  if (usesLocalPolicyChain) declared.push(chains.local);
  const firstSep = declared.length;
  for (const key of reachableKeys)
    declared.push(chainName('KUBE-SEP-', endpointChainSuffix(name, sp.port.protocol, key)));
  const sepOf = indexOf(reachableKeys);
  const own = w.own.reset();
  const rule = (chain: string, ...pieces: string[]) => {
    // Among the chains before the endpoint chains: a port may have hundreds of those.
    let i = 0;
    while (i < firstSep && declared[i] !== chain) i++;
    if (i === firstSep) throw new Error(`internal error: rule for undeclared chain nat/${chain}`);
    own.add(i, chain, ...pieces);
  };

  if (hasInternalEndpoints && node.clusterCIDR) {
    // Masquerade off-cluster clients of the ClusterIP: with a static route for the Service
    // range to any node, the reply could otherwise bypass this node's conntrack.
    rule(internalTrafficChain, '-m comment --comment "', name, ' cluster IP" ', destHead, svc.clusterIP, destTail, ' ! -s ', node.clusterCIDR, ' -j ', KUBE_MARK_MASQ); // prettier-ignore
  }

  if (usesExternalTrafficChain) {
    const ext = externalTrafficChain;
    if (!externalPolicyLocal) {
      // Cluster policy: the endpoint may be on another node, so SNAT to keep replies symmetric.
      rule(ext, '-m comment --comment "masquerade traffic for ', name, ' external destinations" -j ', KUBE_MARK_MASQ); // prettier-ignore
    } else {
      if (node.clusterCIDR) {
        // Pods reaching an external destination skip the traffic policy, as if they had gone
        // out to the load balancer and back.
        rule(ext, '-m comment --comment "pod traffic for ', name, ' external destinations" -s ', node.clusterCIDR, ' -j ', chains.cluster); // prettier-ignore
      }
      // The node itself: its source address would be the (local) external IP, so masquerade,
      // and it may use any endpoint.
      rule(ext, '-m comment --comment "masquerade LOCAL traffic for ', name, ' external destinations" -m addrtype --src-type LOCAL -j ', KUBE_MARK_MASQ); // prettier-ignore
      rule(ext, '-m comment --comment "route LOCAL traffic for ', name, ' external destinations" -m addrtype --src-type LOCAL -j ', chains.cluster); // prettier-ignore
    }
    if (hasExternalEndpoints) rule(ext, '-j ', externalPolicyChain);
  }

  if (usesFWChain) {
    // The firewall only works for VIP-like load balancers that keep the client's address; one
    // that sends traffic to the NodePort is not subject to it (proxier.go).
    const fw = chains.firewall;
    for (const cidr of sourceRanges)
      rule(fw, '-m comment --comment "', name, ' loadbalancer IP" -s ', cidr, ' -j ', externalTrafficChain); // prettier-ignore
    // A node that holds the VIP as a local address (an IP route rule) reaches it from the VIP
    // itself: let that through when the ranges let the node in.
    if (sourceRangesAllowNode(sourceRanges, node.nodeIP))
      for (const ip of svc.loadBalancerIPs)
        rule(fw, '-m comment --comment "', name, ' loadbalancer IP" -s ', ip, ' -j ', externalTrafficChain); // prettier-ignore
    // No target: what falls through is left un-DNATed for KUBE-PROXY-FIREWALL to drop.
    rule(fw, '-m comment --comment "other traffic to ', name, ' will be dropped by KUBE-PROXY-FIREWALL"'); // prettier-ignore
  }

  // kube-proxy's appendServiceCommentLocked: endpoint rules lose their comments in large
  // clusters. This one is `"<name> -> <ip:port>"`, quotes included, in pieces around the key.
  const endpointComment = largeClusterMode ? undefined : `-m comment --comment "${name} -> `;
  /** ClientIP affinity rules first, then the random split: rule i matches with 1/(n-i). */
  const serviceToEndpointRules = (chain: string, keys: readonly string[]) => {
    const sep = (key: string) => declared[firstSep + sepOf(key)]!;
    if (svc.sessionAffinity === 'ClientIP') {
      const seconds = String(svc.sessionAffinityTimeoutSeconds);
      for (const key of keys) {
        const recent = ['-m recent --name ', sep(key), ' --rcheck --seconds ', seconds, ' --reap -j ', sep(key)]; // prettier-ignore
        if (endpointComment) rule(chain, endpointComment, key, '" ', ...recent);
        else rule(chain, ...recent);
      }
    }
    const n = keys.length;
    keys.forEach((key, i) => {
      const statistic =
        i < n - 1 ? `-m statistic --mode random --probability ${probability(n - i)} -j ` : '-j ';
      if (endpointComment) rule(chain, endpointComment, key, '" ', statistic, sep(key));
      else rule(chain, statistic, sep(key));
    });
  };
  if (usesClusterPolicyChain) serviceToEndpointRules(chains.cluster, clusterKeys);
  if (usesLocalPolicyChain) serviceToEndpointRules(chains.local, localKeys);

  const serviceComment = largeClusterMode ? '' : `-m comment --comment ${name} `;
  const affinity = svc.sessionAffinity === 'ClientIP';
  reachable.forEach((e, i) => {
    const chain = declared[firstSep + i]!;
    const key = reachableKeys[i]!;
    // Hairpin: a pod reaching itself through the Service must be SNATed, or it would answer
    // itself directly and the client would drop the reply.
    own.add(firstSep + i, chain, serviceComment, '-s ', e.ip, ' -j ', KUBE_MARK_MASQ);
    if (affinity)
      own.add(firstSep + i, chain, serviceComment, '-m recent --name ', chain, ' --set ', match, ' -j DNAT --to-destination ', key); // prettier-ignore
    else own.add(firstSep + i, chain, serviceComment, match, ' -j DNAT --to-destination ', key);
  });

  const t = w.text;
  const start = t.size;
  const [natServices, natNodePorts] = t.append(nat, 2);
  const natTopEnd = t.size;
  const rules = t.append(own, declared.length);
  const natAllEnd = t.size;
  t.append(w.decl.reset().declare(declared), 0);
  const declEnd = t.size;
  const [filterServices, filterExternal, filterNodePorts, filterFirewall] = t.append(filter, 4);
  const r: PortRules = {
    natServices: natServices!,
    natNodePorts: natNodePorts!,
    filterServices: filterServices!,
    filterExternal: filterExternal!,
    filterNodePorts: filterNodePorts!,
    filterFirewall: filterFirewall!,
    chains: declared.slice(),
    rules,
    ownRules: own.ruleCount,
    natTop: '',
    natAll: '',
    declText: '',
    filterText: '',
  };
  t.port(r, start, natTopEnd, natAllEnd, declEnd);
  return r;
}

/**
 * `prefix + suffix` as one flat string. A plan keeps its 155,000 chain names (at 50,000 Services),
 * and a concatenation would keep both parts as separate objects for the garbage collector.
 */
function chainName(prefix: string, suffix: string): string {
  return [prefix, suffix].join('');
}

function hasDuplicates(sortedKeys: readonly string[]): boolean {
  for (let i = 1; i < sortedKeys.length; i++) if (sortedKeys[i - 1] === sortedKeys[i]) return true;
  return false;
}

/** Position lookup in distinct keys: indexOf for the few endpoints of most ports, a Map beyond. */
function indexOf(keys: readonly string[]): (key: string) => number {
  if (keys.length <= 16) return (key) => keys.indexOf(key);
  const positions = new Map(keys.map((k, i) => [k, i]));
  return (key) => positions.get(key) ?? -1;
}
