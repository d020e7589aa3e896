/**
 * The iptables-mode planner: desired Services and Endpoints for one node → the
 * iptables-restore input kube-proxy (1.28+) would write, as a pure function. Rule arguments,
 * their order and comments follow pkg/proxy/iptables/proxier.go so that `iptables-save` on a
 * lab node reads like one on a real node.
 */

import { serviceKey } from '../../model/types.js';
import { categorizeEndpoints } from '../endpoints.js';
import { endpointChain, servicePortChains, type ServicePortChains } from '../shared/hash.js';
import type { Endpoint, NodeContext, ProxyState, ServicePortState } from '../types.js';
import {
  FILTER_TOP_CHAINS,
  KUBE_EXTERNAL_SERVICES,
  KUBE_FIREWALL,
  KUBE_FORWARD,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
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
  node: Pick<NodeContext, 'nodeName' | 'clusterCIDR'>;
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
   * write: table → chain → rule arguments (restore syntax, after `-A <chain>`).
   */
  desired: Record<Table, Map<string, string[]>>;
  /** Chains this restore declares (creates or flushes), per table. */
  written: Record<Table, string[]>;
  /** nat chains this restore deletes. */
  deleted: string[];
  /** Service (namespace/name) → what its chains were computed from; partial syncs compare these. */
  serviceFingerprints: Map<string, string>;
  /** Chain names computed for this plan, reused by the next (hashing dominates large plans). */
  chainNames: ChainNameCache;
  counts: PlanCounts;
}

/** kube-proxy's computeProbability: 1/n with %0.10f. */
export function probability(n: number): string {
  return (1 / n).toFixed(10);
}

/** `-m comment --comment "<text>"`; kube-proxy quotes every comment that may contain spaces. */
function comment(text: string): string[] {
  return ['-m', 'comment', '--comment', `"${text}"`];
}

/** Accumulates what a sync writes and what the kernel should hold afterwards. */
class RestoreWriter {
  /**
   * kube-proxy's largeClusterMode: above LARGE_CLUSTER_ENDPOINTS_THRESHOLD endpoints it drops
   * the comments of endpoint rules, which shrinks the restore input by up to 40%.
   */
  constructor(readonly largeClusterMode: boolean) {}

  /** A comment on an endpoint rule (kube-proxy's appendServiceCommentLocked). */
  serviceComment(text: string): string[] {
    return this.largeClusterMode ? [] : ['-m', 'comment', '--comment', text];
  }

  readonly desired: Record<Table, Map<string, string[]>> = { filter: new Map(), nat: new Map() };
  readonly chainLines: Record<Table, string[]> = { filter: [], nat: [] };
  readonly ruleLines: Record<Table, string[]> = { filter: [], nat: [] };

  /** Declares a chain; `write` false records it as desired without putting it in the restore. */
  chain(table: Table, chain: string, write = true): void {
    if (!this.desired[table].has(chain)) this.desired[table].set(chain, []);
    if (write) this.chainLines[table].push(chain);
  }

  rule(table: Table, chain: string, args: readonly string[], write = true): void {
    const text = args.join(' ');
    const rules = this.desired[table].get(chain);
    if (!rules) throw new Error(`internal error: rule for undeclared chain ${table}/${chain}`);
    rules.push(text);
    if (write) this.ruleLines[table].push(`-A ${chain} ${text}`);
  }

  deleteChain(chain: string): void {
    this.chainLines.nat.push(chain);
    this.ruleLines.nat.push(`-X ${chain}`);
  }

  text(): string {
    const out: string[] = [];
    for (const table of ['filter', 'nat'] as const) {
      out.push(`*${table}`);
      for (const c of this.chainLines[table]) out.push(`:${c} - [0:0]`);
      // A loop, not push(...lines): spreading 400,000 rules as arguments overflows the stack.
      for (const line of this.ruleLines[table]) out.push(line);
      out.push('COMMIT');
    }
    return out.join('\n') + '\n';
  }
}

/**
 * Memoised chain names. kube-proxy computes them once per Service port and endpoint object;
 * here the previous plan hands its names to the next, and only names still in use carry over.
 */
export class ChainNameCache {
  private readonly names = new Map<string, string>();
  constructor(private readonly previous?: ChainNameCache) {}

  private get(key: string, compute: () => string): string {
    let v = this.names.get(key);
    if (v === undefined) {
      v = this.previous?.names.get(key) ?? compute();
      this.names.set(key, v);
    }
    return v;
  }

  servicePort(name: string, protocol: string): ServicePortChains {
    const suffix = this.get(`${name}\0${protocol}`, () =>
      servicePortChains(name, protocol).cluster.slice('KUBE-SVC-'.length),
    );
    return {
      cluster: `KUBE-SVC-${suffix}`,
      local: `KUBE-SVL-${suffix}`,
      external: `KUBE-EXT-${suffix}`,
      firewall: `KUBE-FW-${suffix}`,
    };
  }

  endpoint(name: string, protocol: string, e: Endpoint): string {
    return this.get(`${name}\0${protocol}\0${e.ip}:${e.port}`, () =>
      endpointChain(name, protocol, e.ip, e.port),
    );
  }
}

function endpointString(e: Endpoint): string {
  return `${e.ip}:${e.port}`;
}

/** kube-proxy's endpoints cache keeps endpoints sorted by their `ip:port` string. */
function sortEndpoints(eps: readonly Endpoint[]): Endpoint[] {
  return [...eps].sort((a, b) =>
    endpointString(a) < endpointString(b) ? -1 : endpointString(a) > endpointString(b) ? 1 : 0,
  );
}

/** What a Service's chains depend on: any change here makes a partial sync rewrite them. */
function fingerprint(ports: readonly ServicePortState[], largeClusterMode: boolean): string {
  return JSON.stringify([
    largeClusterMode,
    ...ports.map((sp) => ({
      service: sp.service,
      port: sp.port,
      name: sp.name,
      endpoints: sortEndpoints(sp.endpoints),
    })),
  ]);
}

export function planIptables(input: PlanInput): IptablesPlan {
  const { node, state, previous } = input;
  const strategy: SyncStrategy = input.strategy === 'partial' && previous ? 'partial' : 'full';
  const localhostNodePorts = input.localhostNodePorts ?? true;
  const totalEndpoints = state.servicePorts.reduce((n, sp) => n + sp.endpoints.length, 0);
  const w = new RestoreWriter(totalEndpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD);

  for (const c of FILTER_TOP_CHAINS) w.chain('filter', c);
  for (const c of NAT_TOP_CHAINS) w.chain('nat', c);

  w.rule('nat', KUBE_POSTROUTING, [
    '-m',
    'mark',
    '!',
    '--mark',
    `${MASQUERADE_MARK}/${MASQUERADE_MARK}`,
    '-j',
    'RETURN',
  ]);
  // Clear the mark so a packet that re-traverses the stack is not masqueraded twice.
  w.rule('nat', KUBE_POSTROUTING, ['-j', 'MARK', '--xor-mark', MASQUERADE_MARK]);
  w.rule('nat', KUBE_POSTROUTING, [
    ...comment('kubernetes service traffic requiring SNAT'),
    '-j',
    'MASQUERADE',
    '--random-fully',
  ]);
  w.rule('nat', KUBE_MARK_MASQ, ['-j', 'MARK', '--or-mark', MASQUERADE_MARK]);

  if (localhostNodePorts) {
    // route_localnet=1 (for NodePorts on 127.0.0.1) lets martian packets to 127/8 in from the
    // network; kubelet's KUBE-FIREWALL rule, duplicated by kube-proxy, drops them
    // (kubernetes#90259).
    w.chain('filter', KUBE_FIREWALL);
    w.rule('filter', KUBE_FIREWALL, [
      ...comment('block incoming localnet connections'),
      '-d', '127.0.0.0/8', '!', '-s', '127.0.0.0/8',
      '-m', 'conntrack', '!', '--ctstate', 'RELATED,ESTABLISHED,DNAT',
      '-j', 'DROP',
    ]); // prettier-ignore
  }

  const byService = new Map<string, ServicePortState[]>();
  for (const sp of state.servicePorts) {
    const key = serviceKey(sp.service);
    byService.set(key, [...(byService.get(key) ?? []), sp]);
  }

  const fingerprints = new Map<string, string>();
  const chainNames = new ChainNameCache(previous?.chainNames);
  let servicePortsWritten = 0;
  let servicePortsSkipped = 0;
  for (const key of [...byService.keys()].sort()) {
    const ports = [...byService.get(key)!].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    const fp = fingerprint(ports, w.largeClusterMode);
    fingerprints.set(key, fp);
    // kube-proxy's partial sync: a Service's own chains are only rewritten when the Service or
    // its EndpointSlices changed since the last sync; KUBE-SERVICES and friends always are.
    const write = strategy === 'full' || previous?.serviceFingerprints.get(key) !== fp;
    for (const sp of ports) {
      if (!sp.service.clusterIP || sp.service.clusterIP === 'None') continue; // headless
      planServicePort(w, sp, node, write, chainNames);
      if (write) servicePortsWritten++;
      else servicePortsSkipped++;
    }
  }

  // Delete Service chains that are no longer used. -X needs the chain flushed in the same
  // transaction, which declaring it does.
  const deleted: string[] = [];
  const existing = input.existingNatChains ?? previous?.desired.nat.keys() ?? [];
  for (const chain of [...new Set(existing)].sort()) {
    if (isServiceChainName(chain) && !w.desired.nat.has(chain)) {
      w.deleteChain(chain);
      deleted.push(chain);
    }
  }

  // The NodePort dispatch must be the last rule of KUBE-SERVICES: ClusterIPs and external IPs
  // that happen to be local addresses must match their own rules first.
  w.rule('nat', KUBE_SERVICES, [
    ...comment('kubernetes service nodeports; NOTE: this must be the last rule in this chain'),
    '-m', 'addrtype', '--dst-type', 'LOCAL',
    ...(localhostNodePorts ? [] : ['!', '-d', '127.0.0.0/8']),
    '-j', KUBE_NODEPORTS,
  ]); // prettier-ignore

  if (!input.conntrackTCPLiberal) {
    // Packets conntrack considers INVALID would otherwise reach a pod un-NATed and be answered
    // with a RST that kills the connection (kubernetes#74839).
    w.rule('filter', KUBE_FORWARD, ['-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP']);
  }
  // Forward what kube-proxy marked even where the FORWARD policy is DROP.
  w.rule('filter', KUBE_FORWARD, [
    ...comment('kubernetes forwarding rules'),
    '-m', 'mark', '--mark', `${MASQUERADE_MARK}/${MASQUERADE_MARK}`,
    '-j', 'ACCEPT',
  ]); // prettier-ignore
  w.rule('filter', KUBE_FORWARD, [
    ...comment('kubernetes forwarding conntrack rule'),
    '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED',
    '-j', 'ACCEPT',
  ]); // prettier-ignore

  const ruleCount = (t: Table) => w.ruleLines[t].filter((l) => l.startsWith('-A ')).length;
  return {
    strategy,
    restoreInput: w.text(),
    desired: w.desired,
    written: {
      filter: [...w.chainLines.filter],
      nat: w.chainLines.nat.slice(0, w.chainLines.nat.length - deleted.length),
    },
    deleted,
    serviceFingerprints: fingerprints,
    chainNames,
    counts: {
      filterChains: w.chainLines.filter.length,
      filterRules: ruleCount('filter'),
      natChains: w.chainLines.nat.length,
      natRules: ruleCount('nat'),
      deletedChains: deleted.length,
      servicePortsWritten,
      servicePortsSkipped,
    },
  };
}

/** One Service port: the body of kube-proxy's per-service loop in syncProxyRules. */
function planServicePort(
  w: RestoreWriter,
  sp: ServicePortState,
  node: PlanInput['node'],
  write: boolean,
  names: ChainNameCache,
): void {
  const svc = sp.service;
  const name = sp.name;
  const protocol = sp.port.protocol.toLowerCase();
  const chains = names.servicePort(name, sp.port.protocol);
  const epChain = (e: Endpoint) => names.endpoint(name, sp.port.protocol, e);
  const dest = (ip: string, port: number) => [
    '-m',
    protocol,
    '-p',
    protocol,
    '-d',
    ip,
    '--dport',
    String(port),
  ];

  const nodePort = sp.port.nodePort ?? 0;
  const externallyAccessible =
    nodePort !== 0 || svc.externalIPs.length > 0 || svc.loadBalancerIPs.length > 0;
  const externalPolicyLocal = externallyAccessible && svc.externalTrafficPolicy === 'Local';
  const internalPolicyLocal = svc.internalTrafficPolicy === 'Local';
  const usesClusterEndpoints =
    !internalPolicyLocal || (externallyAccessible && !externalPolicyLocal);
  const usesLocalEndpoints = internalPolicyLocal || externalPolicyLocal;

  const categorized = categorizeEndpoints(sp, node.nodeName);
  const hasEndpoints = categorized.hasEndpoints;
  const clusterEndpoints = usesClusterEndpoints ? sortEndpoints(categorized.clusterEndpoints) : [];
  const localEndpoints = usesLocalEndpoints ? sortEndpoints(categorized.localEndpoints) : [];
  const reachable = new Map<string, Endpoint>();
  for (const e of [...clusterEndpoints, ...localEndpoints]) reachable.set(endpointString(e), e);
  const allReachable = sortEndpoints([...reachable.values()]);

  const usesClusterPolicyChain = clusterEndpoints.length > 0;
  const usesLocalPolicyChain = localEndpoints.length > 0;

  const internalTrafficChain = internalPolicyLocal ? chains.local : chains.cluster;
  const hasInternalEndpoints = hasEndpoints && (!internalPolicyLocal || localEndpoints.length > 0);
  const externalPolicyChain = externalPolicyLocal ? chains.local : chains.cluster;
  const hasExternalEndpoints = hasEndpoints && (!externalPolicyLocal || localEndpoints.length > 0);
  const externalTrafficChain = chains.external;
  // The EXT chain exists even without usable external endpoints: its short-circuit rules for
  // pod and host traffic still apply.
  const usesExternalTrafficChain = hasEndpoints && externallyAccessible;

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

  // Capture the ClusterIP.
  if (hasInternalEndpoints) {
    w.rule('nat', KUBE_SERVICES, [
      ...comment(`${name} cluster IP`),
      ...dest(svc.clusterIP, sp.port.port),
      '-j',
      internalTrafficChain,
    ]);
  } else if (internalFilter) {
    w.rule('filter', KUBE_SERVICES, [
      ...comment(internalFilter.comment),
      ...dest(svc.clusterIP, sp.port.port),
      '-j',
      internalFilter.target,
    ]);
  }

  // Capture external IPs.
  for (const ip of svc.externalIPs) {
    if (hasEndpoints) {
      w.rule('nat', KUBE_SERVICES, [
        ...comment(`${name} external IP`),
        ...dest(ip, sp.port.port),
        '-j',
        externalTrafficChain,
      ]);
    }
    if (externalFilter) {
      w.rule('filter', KUBE_EXTERNAL_SERVICES, [
        ...comment(externalFilter.comment),
        ...dest(ip, sp.port.port),
        '-j',
        externalFilter.target,
      ]);
    }
  }

  // Capture load-balancer ingress IPs (no loadBalancerSourceRanges in the model: no KUBE-FW).
  for (const ip of svc.loadBalancerIPs) {
    if (hasEndpoints) {
      w.rule('nat', KUBE_SERVICES, [
        ...comment(`${name} loadbalancer IP`),
        ...dest(ip, sp.port.port),
        '-j',
        externalTrafficChain,
      ]);
    }
  }
  if (externalFilter) {
    for (const ip of svc.loadBalancerIPs) {
      w.rule('filter', KUBE_EXTERNAL_SERVICES, [
        ...comment(externalFilter.comment),
        ...dest(ip, sp.port.port),
        '-j',
        externalFilter.target,
      ]);
    }
  }

  // Capture NodePorts (KUBE-SERVICES' last rule sends every local destination here).
  if (nodePort !== 0) {
    if (hasEndpoints) {
      w.rule('nat', KUBE_NODEPORTS, [
        '-m',
        'comment',
        '--comment',
        name,
        '-m',
        protocol,
        '-p',
        protocol,
        '--dport',
        String(nodePort),
        '-j',
        externalTrafficChain,
      ]);
    }
    if (externalFilter) {
      w.rule('filter', KUBE_EXTERNAL_SERVICES, [
        ...comment(externalFilter.comment),
        '-m', 'addrtype', '--dst-type', 'LOCAL',
        '-m', protocol, '-p', protocol, '--dport', String(nodePort),
        '-j', externalFilter.target,
      ]); // prettier-ignore
    }
  }

  // From here on: the Service's own chains, which a partial sync skips when unchanged.
  if (usesExternalTrafficChain) w.chain('nat', externalTrafficChain, write);
  if (usesClusterPolicyChain) w.chain('nat', chains.cluster, write);
  if (usesLocalPolicyChain) w.chain('nat', chains.local, write);
  for (const e of allReachable) w.chain('nat', epChain(e), write);

  if (hasInternalEndpoints && node.clusterCIDR) {
    // Masquerade off-cluster clients of the ClusterIP: with a static route for the Service
    // range to any node, the reply could otherwise bypass this node's conntrack.
    w.rule(
      'nat',
      internalTrafficChain,
      [
        ...comment(`${name} cluster IP`),
        ...dest(svc.clusterIP, sp.port.port),
        '!',
        '-s',
        node.clusterCIDR,
        '-j',
        KUBE_MARK_MASQ,
      ],
      write,
    );
  }

  if (usesExternalTrafficChain) {
    if (!externalPolicyLocal) {
      // Cluster policy: the endpoint may be on another node, so SNAT to keep replies symmetric.
      w.rule(
        'nat',
        externalTrafficChain,
        [...comment(`masquerade traffic for ${name} external destinations`), '-j', KUBE_MARK_MASQ],
        write,
      );
    } else {
      if (node.clusterCIDR) {
        // Pods reaching an external destination skip the traffic policy, as if they had gone
        // out to the load balancer and back.
        w.rule(
          'nat',
          externalTrafficChain,
          [
            ...comment(`pod traffic for ${name} external destinations`),
            '-s',
            node.clusterCIDR,
            '-j',
            chains.cluster,
          ],
          write,
        );
      }
      // The node itself: its source address would be the (local) external IP, so masquerade,
      // and it may use any endpoint.
      w.rule(
        'nat',
        externalTrafficChain,
        [
          ...comment(`masquerade LOCAL traffic for ${name} external destinations`),
          '-m',
          'addrtype',
          '--src-type',
          'LOCAL',
          '-j',
          KUBE_MARK_MASQ,
        ],
        write,
      );
      w.rule(
        'nat',
        externalTrafficChain,
        [
          ...comment(`route LOCAL traffic for ${name} external destinations`),
          '-m',
          'addrtype',
          '--src-type',
          'LOCAL',
          '-j',
          chains.cluster,
        ],
        write,
      );
    }
    if (hasExternalEndpoints)
      w.rule('nat', externalTrafficChain, ['-j', externalPolicyChain], write);
  }

  if (usesClusterPolicyChain)
    writeServiceToEndpointRules(w, sp, chains.cluster, clusterEndpoints, epChain, write);
  if (usesLocalPolicyChain)
    writeServiceToEndpointRules(w, sp, chains.local, localEndpoints, epChain, write);

  for (const e of allReachable) {
    const chain = epChain(e);
    const base = w.serviceComment(name);
    // Hairpin: a pod reaching itself through the Service must be SNATed, or it would answer
    // itself directly and the client would drop the reply.
    w.rule('nat', chain, [...base, '-s', e.ip, '-j', KUBE_MARK_MASQ], write);
    const affinity =
      svc.sessionAffinity === 'ClientIP' ? ['-m', 'recent', '--name', chain, '--set'] : [];
    w.rule(
      'nat',
      chain,
      [
        ...base,
        ...affinity,
        '-m',
        protocol,
        '-p',
        protocol,
        '-j',
        'DNAT',
        '--to-destination',
        endpointString(e),
      ],
      write,
    );
  }
}

/** ClientIP affinity rules first, then the random split: rule i matches with 1/(n-i). */
function writeServiceToEndpointRules(
  w: RestoreWriter,
  sp: ServicePortState,
  chain: string,
  endpoints: readonly Endpoint[],
  epChain: (e: Endpoint) => string,
  write: boolean,
): void {
  if (sp.service.sessionAffinity === 'ClientIP') {
    for (const e of endpoints) {
      const sep = epChain(e);
      w.rule('nat', chain, [
        ...w.serviceComment(`"${sp.name} -> ${endpointString(e)}"`),
        '-m', 'recent', '--name', sep, '--rcheck', '--seconds', String(sp.service.sessionAffinityTimeoutSeconds), '--reap',
        '-j', sep,
      ], write); // prettier-ignore
    }
  }
  const n = endpoints.length;
  endpoints.forEach((e, i) => {
    const statistic =
      i < n - 1 ? ['-m', 'statistic', '--mode', 'random', '--probability', probability(n - i)] : [];
    w.rule(
      'nat',
      chain,
      [...w.serviceComment(`"${sp.name} -> ${endpointString(e)}"`), ...statistic, '-j', epChain(e)],
      write,
    );
  });
}
