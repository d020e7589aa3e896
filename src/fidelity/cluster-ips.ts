import { cidrContains, parseCIDR, parseIPv4 } from '../model/ipam.js';
import type { ProxyState } from '../proxy/types.js';
import type { NormalisedRuleset } from './lines.js';

/**
 * How far a kernel's rules are from programming a state's Services, as their ClusterIPs show:
 * the state's ClusterIPs the rules lack, and the Service-range addresses the rules hold that are no
 * ClusterIP of the state. Both lists are empty once a proxy has synced the state: every mode writes
 * every Service port's ClusterIP, endpoints or not (iptables a KUBE-SERVICES rule, a REJECT or DROP
 * without usable endpoints; nftables a service-ips or no-endpoint-services element; IPVS a virtual
 * server, its ipset entries and the kube-ipvs0 address), and removes it with the Service.
 *
 * `svclab fidelity` reads kube-proxy's kernel after svclab's sync fence, which decides from
 * kube-proxy's change counters that the fence was received. The counters also move for events of
 * the update before it that are still on their way, so under load the fence can end before the
 * sync that applies the update (seen in the VM, seed 11 sets 78, 119 and 129: kube-proxy's rules
 * were still the previous set's). A comparison made then is about timing, not rules; this says so.
 * A range (`10.96.0.0/16`, nftables' service CIDR rules) is not an address and is not counted.
 */
export function clusterIPLag(
  state: ProxyState,
  rulesets: readonly NormalisedRuleset[],
  serviceCIDR: string,
): { missing: string[]; stale: string[] } {
  const range = parseCIDR(serviceCIDR);
  const wanted = new Set(
    state.servicePorts
      .map((sp) => sp.service.clusterIP)
      .filter((ip): ip is string => typeof ip === 'string' && parseIPv4(ip) !== undefined),
  );
  const held = new Set<string>();
  for (const r of rulesets)
    for (const l of r.lines)
      for (const m of l.text.matchAll(
        /(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])(?:\/(\d+))?/g,
      )) {
        if (m[2] !== undefined && m[2] !== '32') continue;
        const n = parseIPv4(m[1]!);
        if (n !== undefined && range && cidrContains(range, n)) held.add(m[1]!);
      }
  return {
    missing: [...wanted].filter((ip) => !held.has(ip)).sort(),
    stale: [...held].filter((ip) => !wanted.has(ip)).sort(),
  };
}

/** A ClusterIP lag as the note says it; undefined when there is none. */
export function lagReason(lag: { missing: string[]; stale: string[] }): string | undefined {
  const parts = [
    ...(lag.missing.length > 0 ? [`without ${listed(lag.missing)}`] : []),
    ...(lag.stale.length > 0 ? [`still with ${listed(lag.stale)}`] : []),
  ];
  return parts.length > 0 ? `ClusterIPs ${parts.join(', ')}` : undefined;
}

const listed = (ips: string[]) =>
  ips.length > 3 ? `${ips.slice(0, 3).join(', ')} and ${ips.length - 3} more` : ips.join(', ');
