/**
 * The iptables-mode planner: desired Services and Endpoints for one node, and the plan of the
 * last sync → the iptables-restore input kube-proxy (1.28+) would write. It keeps no state of
 * its own: what a partial sync needs from the last one is the previous plan, passed back in,
 * whose unchanged Services' rules it reuses as they are (it only fills in their lazily computed
 * fingerprints). This file is the sync: node-wide chains and rules, which Services to rewrite,
 * stale chains. One Service port's rules, following pkg/proxy/iptables/proxier.go rule by rule,
 * are in service-rules.ts.
 */

import { serviceKey } from '../../model/types.js';
import type { NodeContext, ProxyState, ServicePortState } from '../types.js';
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
import { RestoreText, type RuleArg } from './line-buffer.js';
import type { Table } from './ruleset.js';
import { PortWriter, planServicePort, sortEndpoints, type PortRules } from './service-rules.js';

export { probability } from './service-rules.js';

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

const SEEN_STRIDE = 4;

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
  const w = new PortWriter();
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
  const filterRules = new TableRules(desired.filter, filterLines);
  const natRules = new TableRules(desired.nat, natLines);

  // prettier-ignore
  natRules.write(
    '-A', KUBE_POSTROUTING,
    '-m', 'mark', '!', '--mark', `${MASQUERADE_MARK}/${MASQUERADE_MARK}`,
    '-j', 'RETURN',
  );
  // Clear the mark so a packet that re-traverses the stack is not masqueraded twice.
  natRules.write('-A', KUBE_POSTROUTING, '-j', 'MARK', '--xor-mark', MASQUERADE_MARK);
  // prettier-ignore
  natRules.write(
    '-A', KUBE_POSTROUTING,
    '-m', 'comment', '--comment', '"kubernetes service traffic requiring SNAT"',
    '-j', 'MASQUERADE', '--random-fully',
  );
  natRules.write('-A', KUBE_MARK_MASQ, '-j', 'MARK', '--or-mark', MASQUERADE_MARK);

  if (localhostNodePorts) {
    // route_localnet=1 (for NodePorts on 127.0.0.1) lets martian packets to 127/8 in from the
    // network; kubelet's KUBE-FIREWALL rule, duplicated by kube-proxy, drops them
    // (kubernetes#90259).
    desired.filter.set(KUBE_FIREWALL, []);
    writtenFilter.push(KUBE_FIREWALL);
    // prettier-ignore
    filterRules.write(
      '-A', KUBE_FIREWALL,
      '-m', 'comment', '--comment', '"block incoming localnet connections"',
      '-d', '127.0.0.0/8', '!', '-s', '127.0.0.0/8',
      '-m', 'conntrack', '!', '--ctstate', 'RELATED,ESTABLISHED,DNAT',
      '-j', 'DROP',
    );
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
      natRules.count += r.natServices.length + r.natNodePorts.length;
      filterRules.count +=
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
        natRules.count += r.ownRules;
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
  // prettier-ignore
  natRules.write(
    '-A', KUBE_SERVICES,
    '-m', 'comment', '--comment', '"kubernetes service nodeports; NOTE: this must be the last rule in this chain"',
    '-m', 'addrtype', '--dst-type', 'LOCAL',
    localhostNodePorts ? [] : ['!', '-d', '127.0.0.0/8'],
    '-j', KUBE_NODEPORTS,
  );

  if (!input.conntrackTCPLiberal) {
    // Packets conntrack considers INVALID would otherwise reach a pod un-NATed and be answered
    // with a RST that kills the connection (kubernetes#74839).
    filterRules.write('-A', KUBE_FORWARD, '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP');
  }
  // Forward what kube-proxy marked even where the FORWARD policy is DROP.
  // prettier-ignore
  filterRules.write(
    '-A', KUBE_FORWARD,
    '-m', 'comment', '--comment', '"kubernetes forwarding rules"',
    '-m', 'mark', '--mark', `${MASQUERADE_MARK}/${MASQUERADE_MARK}`,
    '-j', 'ACCEPT',
  );
  // prettier-ignore
  filterRules.write(
    '-A', KUBE_FORWARD,
    '-m', 'comment', '--comment', '"kubernetes forwarding conntrack rule"',
    '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED',
    '-j', 'ACCEPT',
  );

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
      filterRules: filterRules.count,
      natChains: writtenNat.length + deleted.length,
      natRules: natRules.count,
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

/**
 * A table's node-wide rules: kube-proxy's natRules / filterRules for the chains every sync
 * writes in full. Each rule goes to the plan's desired state and to the restore lines.
 */
class TableRules {
  /** Rules written to this table, Service ports' included (the plan's counts). */
  count = 0;

  constructor(
    private readonly chains: Map<string, string[]>,
    private readonly lines: string[],
  ) {}

  write(append: '-A', chain: string, ...args: RuleArg[]): void {
    const text = args.flat().join(' ');
    this.chains.get(chain)!.push(text);
    this.lines.push(`${append} ${chain} ${text}\n`);
    this.count++;
  }
}
