import {
  categorizeEndpoints,
  ipvsDestinations,
  servicePortInfo,
  type ServicePortInfo,
} from '../service-port.js';
import type { ServicePortState } from '../types.js';
import { iptablesRules } from './iptables.js';
import { IPSET_KEYS, ipPortEntry, ipPortIpEntry, type IpsetKey } from './ipset.js';
import { vsKey, type RealServer } from './ipvsadm.js';
import type { IpvsPlan, PlanInput } from './plan.js';

/**
 * The one-shot planner as it was before IpvsPlanner kept its plan between syncs, kept as the
 * oracle the incremental planner's tests compare against (for a state sorted by name, where its
 * "last one wins" for a contested virtual server is IpvsPlanner's rule too). It is an oracle for
 * the bookkeeping, not for kube-proxy's semantics: which endpoints a virtual server gets comes
 * from ../service-port.ts, as in the planner (it once had its own copy of the planner's wrong
 * UsesClusterEndpoints, svclab issue 15).
 */
export function referencePlanIpvs(input: PlanInput): IpvsPlan {
  const virtualServers: IpvsPlan['virtualServers'] = new Map();
  const ipsets = new Map<IpsetKey, Set<string>>(IPSET_KEYS.map((k) => [k, new Set<string>()]));
  const add = (k: IpsetKey, entry: string) => ipsets.get(k)!.add(entry);
  const boundAddresses = new Set<string>();
  const nodeIPs = input.nodeIPs.filter((ip) => !ip.startsWith('127.'));
  const nodeAddressSet = new Set(nodeIPs);

  for (const sp of input.state.servicePorts) {
    const s = sp.service;
    const { protocol, port } = sp.port;
    const persistence =
      s.sessionAffinity === 'ClientIP' ? s.sessionAffinityTimeoutSeconds : undefined;
    const info = servicePortInfo(sp);
    const extLocal = info.externalPolicyLocal;
    const vs = (address: string, vport: number, onlyLocal: boolean) => {
      const v = {
        protocol,
        address,
        port: vport,
        scheduler: input.scheduler,
        persistence,
        realServers: realServersFor(sp, info, input.nodeName, onlyLocal),
        servicePort: sp.name,
      };
      virtualServers.set(vsKey(v), v);
    };

    for (const e of sp.endpoints) {
      if (e.nodeName === input.nodeName)
        add('loopBack', ipPortIpEntry(e.ip, protocol, e.port, e.ip));
    }

    add('clusterIP', ipPortEntry(s.clusterIP, protocol, port));
    vs(s.clusterIP, port, info.internalPolicyLocal);
    boundAddresses.add(s.clusterIP);

    for (const ip of s.externalIPs) {
      add(extLocal ? 'externalIPLocal' : 'externalIP', ipPortEntry(ip, protocol, port));
      vs(ip, port, extLocal);
      if (!nodeAddressSet.has(ip)) boundAddresses.add(ip);
    }

    for (const ip of s.loadBalancerIPs) {
      add('loadBalancer', ipPortEntry(ip, protocol, port));
      if (extLocal) add('loadBalancerLocal', ipPortEntry(ip, protocol, port));
      vs(ip, port, extLocal);
      if (!nodeAddressSet.has(ip)) boundAddresses.add(ip);
    }

    const nodePort = sp.port.nodePort;
    if (nodePort !== undefined && nodeIPs.length > 0) {
      const tcp = protocol === 'TCP';
      add(tcp ? 'nodePortTCP' : 'nodePortUDP', String(nodePort));
      if (extLocal) add(tcp ? 'nodePortLocalTCP' : 'nodePortLocalUDP', String(nodePort));
      for (const ip of nodeIPs) vs(ip, nodePort, extLocal);
    }
  }

  for (const ip of boundAddresses) add('ipvsIPs', ip);
  const nonEmpty = new Set(IPSET_KEYS.filter((k) => ipsets.get(k)!.size > 0));
  return {
    virtualServers,
    ipsets,
    boundAddresses,
    iptables: iptablesRules({ nonEmpty, clusterCIDR: input.clusterCIDR }),
  };
}

function realServersFor(
  sp: ServicePortState,
  info: ServicePortInfo,
  nodeName: string,
  onlyLocal: boolean,
): RealServer[] {
  const chosen = ipvsDestinations(categorizeEndpoints(sp, info, nodeName), onlyLocal);
  const seen = new Map<string, RealServer>();
  for (const e of chosen) seen.set(`${e.ip}:${e.port}`, { address: e.ip, port: e.port, weight: 1 });
  return [...seen.values()].sort((a, b) => compareAddr(a.address, b.address) || a.port - b.port);
}

function compareAddr(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 4; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
