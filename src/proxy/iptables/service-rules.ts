/**
 * One Service port's iptables rules: the body of the per-service loop in kube-proxy's
 * syncProxyRules (pkg/proxy/iptables/proxier.go), statement by statement in its order, so that
 * the two can be read side by side. Each rule is one `write('-A', chain, ...)` with
 * kube-proxy's arguments; what makes that cheap at 50,000 Services is in line-buffer.ts.
 */

import {
  categorizeEndpoints,
  servicePortInfo,
  sourceRangesAllowNode,
  trafficHasEndpoints,
} from '../service-port.js';
import { endpointChainSuffix, servicePortChainSuffix } from '../shared/hash.js';
import type { Endpoint, NodeContext, ServicePortState } from '../types.js';
import {
  KUBE_EXTERNAL_SERVICES,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
} from './chains.js';
import { LineBuffer, NONE, RestoreText } from './line-buffer.js';

/** What one Service port contributes to a plan. */
export interface PortRules {
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

/** The node-wide chains a port writes rules to, per table, in PortRules' order. */
const NAT_PORT_CHAINS = [KUBE_SERVICES, KUBE_NODEPORTS] as const;
const FILTER_PORT_CHAINS = [
  KUBE_SERVICES,
  KUBE_EXTERNAL_SERVICES,
  KUBE_NODEPORTS,
  KUBE_PROXY_FIREWALL,
] as const;

/**
 * Scratch buffers for planServicePort, reused for every port, and the text their lines go to.
 * kube-proxy writes natRules, natChains and filterRules; svclab keeps a port's own chains'
 * rules (svcRules) apart from its rules in node-wide chains, as a partial sync needs the latter
 * without the former.
 */
export class PortWriter {
  readonly text = new RestoreText();
  readonly natRules = new LineBuffer();
  readonly svcRules = new LineBuffer();
  readonly natChains = new LineBuffer();
  readonly filterRules = new LineBuffer();
}

/** kube-proxy's computeProbability: 1/n with %0.10f. */
export function probability(n: number): string {
  return (1 / n).toFixed(10);
}

/**
 * One Service port: the body of kube-proxy's per-service loop in syncProxyRules. Returns nothing
 * for a headless Service. The port's text fields are set when `w.text` is flushed.
 */
export function planServicePort(
  sp: ServicePortState,
  node: Pick<NodeContext, 'nodeName' | 'nodeIP' | 'clusterCIDR' | 'zone'>,
  largeClusterMode: boolean,
  w: PortWriter,
): PortRules | undefined {
  const svc = sp.service;
  if (!svc.clusterIP || svc.clusterIP === 'None') return undefined; // headless
  const svcPortNameString = sp.name;
  const protocol = sp.port.protocol.toLowerCase();
  const port = String(sp.port.port);
  const nodePort = sp.port.nodePort ?? 0;
  const suffix = servicePortChainSuffix(svcPortNameString, sp.port.protocol);
  const clusterPolicyChain = chainName('KUBE-SVC-', suffix);
  const localPolicyChain = chainName('KUBE-SVL-', suffix);
  const externalTrafficChain = chainName('KUBE-EXT-', suffix);
  const fwChain = chainName('KUBE-FW-', suffix);

  // kube-proxy's svcInfo and CategorizeEndpoints, as every planner asks them.
  const info = servicePortInfo(sp);
  const { externallyAccessible, externalPolicyLocal, internalPolicyLocal } = info;
  const categorized = categorizeEndpoints(sp, info, node.nodeName, node.zone);
  const hasEndpoints = categorized.hasAnyEndpoints;
  const [clusterEndpoints, clusterKeys] = sortEndpoints(categorized.clusterEndpoints);
  const [localEndpoints, localKeys] = sortEndpoints(categorized.localEndpoints);
  // allLocallyReachableEndpoints: the endpoints that get a KUBE-SEP chain.
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
  const internalTrafficChain = internalPolicyLocal ? localPolicyChain : clusterPolicyChain;
  const externalPolicyChain = externalPolicyLocal ? localPolicyChain : clusterPolicyChain;
  // The EXT chain exists even without usable external endpoints: its short-circuit rules for
  // pod and host traffic still apply.
  const usesExternalTrafficChain = hasEndpoints && externallyAccessible;
  // loadBalancerSourceRanges: load-balancer traffic goes through KUBE-FW, which sends allowed
  // sources on to KUBE-EXT; the rest leaves it un-DNATed and KUBE-PROXY-FIREWALL drops it.
  const sourceRanges = info.loadBalancerSourceRanges;
  const usesFWChain = hasEndpoints && svc.loadBalancerIPs.length > 0 && sourceRanges.length > 0;
  const loadBalancerTrafficChain = usesFWChain ? fwChain : externalTrafficChain;

  let internalTrafficFilterTarget = '';
  let internalTrafficFilterComment = '';
  let externalTrafficFilterTarget = '';
  let externalTrafficFilterComment = '';
  if (!hasEndpoints) {
    // No endpoints anywhere: no nat chains at all, and REJECT so clients fail fast instead of
    // timing out.
    internalTrafficFilterTarget = externalTrafficFilterTarget = 'REJECT';
    internalTrafficFilterComment = `"${svcPortNameString} has no endpoints"`;
    externalTrafficFilterComment = internalTrafficFilterComment;
  } else {
    if (!hasInternalEndpoints) {
      internalTrafficFilterTarget = 'DROP';
      internalTrafficFilterComment = `"${svcPortNameString} has no local endpoints"`;
    }
    if (!hasExternalEndpoints) {
      externalTrafficFilterTarget = 'DROP';
      externalTrafficFilterComment = `"${svcPortNameString} has no local endpoints"`;
    }
  }

  const natRules = w.natRules.reset(NAT_PORT_CHAINS);
  const filterRules = w.filterRules.reset(FILTER_PORT_CHAINS);

  // Capture the ClusterIP.
  if (hasInternalEndpoints) {
    // prettier-ignore
    natRules.write(
      '-A', KUBE_SERVICES,
      '-m', 'comment', '--comment', `"${svcPortNameString} cluster IP"`,
      '-m', protocol, '-p', protocol,
      '-d', svc.clusterIP,
      '--dport', port,
      '-j', internalTrafficChain,
    );
  } else {
    // No endpoints.
    // prettier-ignore
    filterRules.write(
      '-A', KUBE_SERVICES,
      '-m', 'comment', '--comment', internalTrafficFilterComment,
      '-m', protocol, '-p', protocol,
      '-d', svc.clusterIP,
      '--dport', port,
      '-j', internalTrafficFilterTarget,
    );
  }

  // Capture externalIPs.
  for (const externalIP of svc.externalIPs) {
    if (hasEndpoints) {
      // Send traffic bound for external IPs to the "external destinations" chain.
      // prettier-ignore
      natRules.write(
        '-A', KUBE_SERVICES,
        '-m', 'comment', '--comment', `"${svcPortNameString} external IP"`,
        '-m', protocol, '-p', protocol,
        '-d', externalIP,
        '--dport', port,
        '-j', externalTrafficChain,
      );
    }
    if (!hasExternalEndpoints) {
      // Either no endpoints at all (REJECT) or no endpoints for external traffic (DROP anything
      // that did not get short-circuited by the EXT chain).
      // prettier-ignore
      filterRules.write(
        '-A', KUBE_EXTERNAL_SERVICES,
        '-m', 'comment', '--comment', externalTrafficFilterComment,
        '-m', protocol, '-p', protocol,
        '-d', externalIP,
        '--dport', port,
        '-j', externalTrafficFilterTarget,
      );
    }
  }

  // Capture load-balancer ingress.
  for (const lbip of svc.loadBalancerIPs) {
    if (hasEndpoints) {
      // prettier-ignore
      natRules.write(
        '-A', KUBE_SERVICES,
        '-m', 'comment', '--comment', `"${svcPortNameString} loadbalancer IP"`,
        '-m', protocol, '-p', protocol,
        '-d', lbip,
        '--dport', port,
        '-j', loadBalancerTrafficChain,
      );
    }
    if (usesFWChain) {
      // Runs in filter, after nat: a packet still addressed to the LB IP was not DNATed by
      // KUBE-FW.
      // prettier-ignore
      filterRules.write(
        '-A', KUBE_PROXY_FIREWALL,
        '-m', 'comment', '--comment', `"${svcPortNameString} traffic not accepted by ${fwChain}"`,
        '-m', protocol, '-p', protocol,
        '-d', lbip,
        '--dport', port,
        '-j', 'DROP',
      );
    }
  }
  if (!hasExternalEndpoints) {
    // Either no endpoints at all (REJECT) or no endpoints for external traffic (DROP anything
    // that did not get short-circuited by the EXT chain).
    for (const lbip of svc.loadBalancerIPs) {
      // prettier-ignore
      filterRules.write(
        '-A', KUBE_EXTERNAL_SERVICES,
        '-m', 'comment', '--comment', externalTrafficFilterComment,
        '-m', protocol, '-p', protocol,
        '-d', lbip,
        '--dport', port,
        '-j', externalTrafficFilterTarget,
      );
    }
  }

  // Capture NodePorts (KUBE-SERVICES' last rule sends every local destination here).
  if (nodePort !== 0) {
    if (hasEndpoints) {
      // Jump to the external destination chain. For better or for worse, NodePorts are
      // implemented as "external IPs" of the node itself.
      // prettier-ignore
      natRules.write(
        '-A', KUBE_NODEPORTS,
        '-m', 'comment', '--comment', svcPortNameString,
        '-m', protocol, '-p', protocol,
        '--dport', String(nodePort),
        '-j', externalTrafficChain,
      );
    }
    if (!hasExternalEndpoints) {
      // No endpoints for external traffic: REJECT or DROP the NodePort.
      // prettier-ignore
      filterRules.write(
        '-A', KUBE_EXTERNAL_SERVICES,
        '-m', 'comment', '--comment', externalTrafficFilterComment,
        '-m', 'addrtype', '--dst-type', 'LOCAL',
        '-m', protocol, '-p', protocol,
        '--dport', String(nodePort),
        '-j', externalTrafficFilterTarget,
      );
    }
  }

  // Capture the healthCheckNodePort, whatever the endpoints: the load balancer must reach the
  // node's health server even where INPUT drops by default (filter KUBE-NODEPORTS, from INPUT).
  if (info.healthCheckNodePort !== 0) {
    // prettier-ignore
    filterRules.write(
      '-A', KUBE_NODEPORTS,
      '-m', 'comment', '--comment', `"${svcPortNameString} health check node port"`,
      '-m', 'tcp', '-p', 'tcp',
      '--dport', String(info.healthCheckNodePort),
      '-j', 'ACCEPT',
    );
  }

  // From here on: the Service's own chains, which a partial sync skips when unchanged. Declared
  // in kube-proxy's order: EXT, FW, SVC, SVL, then one SEP per locally reachable endpoint.
  const activeNATChains: string[] = [];
  if (usesExternalTrafficChain) activeNATChains.push(externalTrafficChain);
  if (usesFWChain) activeNATChains.push(fwChain);
  if (usesClusterPolicyChain) activeNATChains.push(clusterPolicyChain);
  if (usesLocalPolicyChain) activeNATChains.push(localPolicyChain);
  const firstEndpointChain = activeNATChains.length;
  for (const key of reachableKeys)
    activeNATChains.push(
      chainName('KUBE-SEP-', endpointChainSuffix(svcPortNameString, sp.port.protocol, key)),
    );
  const endpointChainAt = indexOf(reachableKeys);
  const endpointChain = (key: string) =>
    activeNATChains[firstEndpointChain + endpointChainAt(key)]!;
  const svcRules = w.svcRules.reset(activeNATChains);

  // Set up internal traffic handling.
  if (hasInternalEndpoints && node.clusterCIDR) {
    // Masquerade off-cluster clients of the ClusterIP: with a static route for the Service
    // range to any node, the reply could otherwise bypass this node's conntrack
    // (kube-proxy's localDetector.IfNotLocal).
    // prettier-ignore
    svcRules.write(
      '-A', internalTrafficChain,
      '-m', 'comment', '--comment', `"${svcPortNameString} cluster IP"`,
      '-m', protocol, '-p', protocol,
      '-d', svc.clusterIP,
      '--dport', port,
      '!', '-s', node.clusterCIDR,
      '-j', KUBE_MARK_MASQ,
    );
  }

  // Set up external traffic handling (if any "external" destinations are enabled). All captured
  // traffic for all external destinations should jump to externalTrafficChain, which will
  // handle some special cases and then jump to externalPolicyChain.
  if (usesExternalTrafficChain) {
    if (!externalPolicyLocal) {
      // If we are using non-local endpoints we need to masquerade, in case we cross nodes.
      // prettier-ignore
      svcRules.write(
        '-A', externalTrafficChain,
        '-m', 'comment', '--comment', `"masquerade traffic for ${svcPortNameString} external destinations"`,
        '-j', KUBE_MARK_MASQ,
      );
    } else {
      if (node.clusterCIDR) {
        // Pods reaching an external destination skip the traffic policy, as if they had gone
        // out to the load balancer and back (localDetector.IfLocal).
        // prettier-ignore
        svcRules.write(
          '-A', externalTrafficChain,
          '-m', 'comment', '--comment', `"pod traffic for ${svcPortNameString} external destinations"`,
          '-s', node.clusterCIDR,
          '-j', clusterPolicyChain,
        );
      }
      // The node itself: its source address would be the (local) external IP, so masquerade,
      // and it may use any endpoint.
      // prettier-ignore
      svcRules.write(
        '-A', externalTrafficChain,
        '-m', 'comment', '--comment', `"masquerade LOCAL traffic for ${svcPortNameString} external destinations"`,
        '-m', 'addrtype', '--src-type', 'LOCAL',
        '-j', KUBE_MARK_MASQ,
      );
      // prettier-ignore
      svcRules.write(
        '-A', externalTrafficChain,
        '-m', 'comment', '--comment', `"route LOCAL traffic for ${svcPortNameString} external destinations"`,
        '-m', 'addrtype', '--src-type', 'LOCAL',
        '-j', clusterPolicyChain,
      );
    }
    // Anything else falls through to the appropriate policy chain.
    if (hasExternalEndpoints) svcRules.write('-A', externalTrafficChain, '-j', externalPolicyChain);
  }

  // Set up firewall chain, if needed.
  if (usesFWChain) {
    // The firewall only works for VIP-like load balancers that keep the client's address; one
    // that sends traffic to the NodePort is not subject to it (proxier.go).
    const comment = `"${svcPortNameString} loadbalancer IP"`;
    for (const src of sourceRanges) {
      // prettier-ignore
      svcRules.write('-A', fwChain, '-m', 'comment', '--comment', comment, '-s', src, '-j', externalTrafficChain);
    }
    // A node that holds the VIP as a local address (an IP route rule) reaches it from the VIP
    // itself: let that through when the ranges let the node in (allowFromNode).
    if (sourceRangesAllowNode(sourceRanges, node.nodeIP)) {
      for (const lbip of svc.loadBalancerIPs) {
        // prettier-ignore
        svcRules.write('-A', fwChain, '-m', 'comment', '--comment', comment, '-s', lbip, '-j', externalTrafficChain);
      }
    }
    // No target: what falls through is left un-DNATed for KUBE-PROXY-FIREWALL to drop.
    // prettier-ignore
    svcRules.write(
      '-A', fwChain,
      '-m', 'comment', '--comment', `"other traffic to ${svcPortNameString} will be dropped by KUBE-PROXY-FIREWALL"`,
    );
  }

  // kube-proxy's appendServiceCommentLocked: rules of endpoints lose their comments in large
  // clusters (largeClusterMode), which shrinks the restore input by up to 40%.
  const serviceComment: readonly string[] = largeClusterMode
    ? NONE
    : ['-m', 'comment', '--comment', svcPortNameString];
  const endpointComment = (key: string): readonly string[] =>
    largeClusterMode ? NONE : ['-m', 'comment', '--comment', `"${svcPortNameString} -> ${key}"`];
  const affinity = svc.sessionAffinity === 'ClientIP';
  const stickyMaxAgeSeconds = String(svc.sessionAffinityTimeoutSeconds);

  // kube-proxy's writeServiceToEndpointRules: ClientIP affinity rules first, then the random
  // split, where rule i of n matches with probability 1/(n-i).
  const writeServiceToEndpointRules = (svcChain: string, keys: readonly string[]) => {
    if (affinity) {
      for (const key of keys) {
        // prettier-ignore
        svcRules.write(
          '-A', svcChain,
          endpointComment(key),
          '-m', 'recent', '--name', endpointChain(key),
          '--rcheck', '--seconds', stickyMaxAgeSeconds, '--reap',
          '-j', endpointChain(key),
        );
      }
    }
    const numEndpoints = keys.length;
    keys.forEach((key, i) => {
      if (i < numEndpoints - 1) {
        // Each rule is a probabilistic match.
        // prettier-ignore
        svcRules.write(
          '-A', svcChain,
          endpointComment(key),
          '-m', 'statistic', '--mode', 'random', '--probability', probability(numEndpoints - i),
          '-j', endpointChain(key),
        );
      } else {
        // The final (or only if n == 1) rule is a guaranteed match.
        svcRules.write('-A', svcChain, endpointComment(key), '-j', endpointChain(key));
      }
    });
  };
  // If Cluster policy is in use, create the chain and create rules jumping from
  // clusterPolicyChain to the clusterEndpoints.
  if (usesClusterPolicyChain) writeServiceToEndpointRules(clusterPolicyChain, clusterKeys);
  // If Local policy is in use, create rules jumping from localPolicyChain to the localEndpoints.
  if (usesLocalPolicyChain) writeServiceToEndpointRules(localPolicyChain, localKeys);

  // Generate the per-endpoint chains.
  reachable.forEach((ep, i) => {
    const sepChain = activeNATChains[firstEndpointChain + i]!;
    const epString = reachableKeys[i]!;
    // Handle traffic that loops back to the originator with SNAT (hairpin): a pod reaching
    // itself through the Service would otherwise answer itself directly.
    svcRules.write('-A', sepChain, serviceComment, '-s', ep.ip, '-j', KUBE_MARK_MASQ);
    // Update client-affinity lists, and DNAT to the final destination.
    if (affinity) {
      // prettier-ignore
      svcRules.write(
        '-A', sepChain, serviceComment,
        '-m', 'recent', '--name', sepChain, '--set',
        '-m', protocol, '-p', protocol,
        '-j', 'DNAT', '--to-destination', epString,
      );
    } else {
      // prettier-ignore
      svcRules.write(
        '-A', sepChain, serviceComment,
        '-m', protocol, '-p', protocol,
        '-j', 'DNAT', '--to-destination', epString,
      );
    }
  });

  // The port's text, in restore order: node-wide nat rules, own chains' rules, declarations of
  // its own chains, filter rules. Rules and text fields are filled in at the text's flush().
  const t = w.text;
  const start = t.size;
  const [natServices, natNodePorts] = t.append(natRules, NAT_PORT_CHAINS.length);
  const natTopEnd = t.size;
  const rules = t.append(svcRules, activeNATChains.length);
  const natAllEnd = t.size;
  t.append(w.natChains.reset(NONE).declare(activeNATChains), 0);
  const declEnd = t.size;
  const [filterServices, filterExternal, filterNodePorts, filterFirewall] = t.append(
    filterRules,
    FILTER_PORT_CHAINS.length,
  );
  const r: PortRules = {
    natServices: natServices!,
    natNodePorts: natNodePorts!,
    filterServices: filterServices!,
    filterExternal: filterExternal!,
    filterNodePorts: filterNodePorts!,
    filterFirewall: filterFirewall!,
    chains: activeNATChains.slice(),
    rules,
    ownRules: svcRules.ruleCount,
    natTop: '',
    natAll: '',
    declText: '',
    filterText: '',
  };
  t.section(start, natTopEnd, r, 'natTop');
  t.section(start, natAllEnd, r, 'natAll');
  t.section(natAllEnd, declEnd, r, 'declText');
  t.section(declEnd, t.size, r, 'filterText');
  return r;
}

function endpointString(e: Endpoint): string {
  return `${e.ip}:${e.port}`;
}

/**
 * kube-proxy's endpoints cache keeps endpoints sorted by their `ip:port` string. Returns the
 * endpoints and their strings; both are the input when it is sorted already (the usual case).
 */
export function sortEndpoints(eps: readonly Endpoint[]): [readonly Endpoint[], string[]] {
  const keys = eps.map(endpointString);
  let sorted = true;
  for (let i = 1; i < keys.length && sorted; i++) sorted = keys[i - 1]! <= keys[i]!;
  if (sorted) return [eps, keys];
  // A stable sort, like Array.prototype.sort on the endpoints themselves.
  const order = keys.map((_, i) => i);
  order.sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0));
  return [order.map((i) => eps[i]!), order.map((i) => keys[i]!)];
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
