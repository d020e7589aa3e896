import { parse } from 'yaml';
import { LabError } from '../exec/index.js';
import type { NftablesProxyTuning } from '../proxy/nftables/index.js';
import type { NodeContext, ProxyOptions } from '../proxy/types.js';

/**
 * svclab's planner configured as the kube-proxy it is compared with: the settings of the
 * KubeProxyConfiguration the lab wrote for that node (src/kubelet/kube-proxy.ts) that change
 * the rules, with kube-proxy's defaults where the file leaves them out. A setting svclab's
 * planners cannot follow is an error, not a silent difference.
 */
export interface PlannerSettings {
  proxyOptions: ProxyOptions;
  nftables: NftablesProxyTuning;
  /** IPVS mode's --ipvs-strict-arp (sysctls only; not in the compared rules). */
  ipvs?: { strictARP: boolean } | undefined;
  /** What was taken from kube-proxy's configuration, for the report. */
  described: string[];
}

interface KubeProxyConfiguration {
  mode?: string;
  clusterCIDR?: string;
  detectLocalMode?: string;
  nodePortAddresses?: string[] | null;
  iptables?: { localhostNodePorts?: boolean; masqueradeBit?: number; masqueradeAll?: boolean };
  nftables?: { masqueradeBit?: number };
  ipvs?: {
    scheduler?: string;
    strictARP?: boolean;
    excludeCIDRs?: string[] | null;
    tcpTimeout?: string;
    tcpFinTimeout?: string;
    udpTimeout?: string;
  };
  masqueradeAll?: boolean;
  linux?: { masqueradeAll?: boolean };
}

export function plannerSettings(
  configYaml: string,
  mode: 'iptables' | 'nftables' | 'ipvs',
  node: Pick<NodeContext, 'clusterCIDR' | 'nodeName'>,
): PlannerSettings {
  let cfg: KubeProxyConfiguration;
  try {
    cfg = (parse(configYaml) ?? {}) as KubeProxyConfiguration;
  } catch (err) {
    throw new LabError(`cannot read kube-proxy's configuration for ${node.nodeName}`, {
      cause: err,
    });
  }
  const unsupported = (what: string) =>
    new LabError(
      `kube-proxy on ${node.nodeName} runs with ${what}, which svclab's ${mode} planner does not implement`,
    );
  if (cfg.mode && cfg.mode !== mode)
    throw new LabError(`kube-proxy on ${node.nodeName} runs in ${cfg.mode} mode, not ${mode}`);
  if ((cfg.detectLocalMode ?? 'ClusterCIDR') !== 'ClusterCIDR')
    throw unsupported(`detectLocalMode ${cfg.detectLocalMode}`);
  if (cfg.clusterCIDR !== node.clusterCIDR)
    throw new LabError(
      `kube-proxy on ${node.nodeName} has clusterCIDR ${cfg.clusterCIDR ?? '(none)'}, the node ${node.clusterCIDR}`,
    );
  if (cfg.masqueradeAll || cfg.linux?.masqueradeAll || cfg.iptables?.masqueradeAll)
    throw unsupported('masqueradeAll');
  // IPVS mode's masquerade mark is the iptables one (pkg/proxy/ipvs NewProxier).
  const bit = mode === 'nftables' ? cfg.nftables?.masqueradeBit : cfg.iptables?.masqueradeBit;
  if (bit !== undefined && bit !== 14) throw unsupported(`masqueradeBit ${bit}`);

  const addresses = cfg.nodePortAddresses ?? [];
  const described = [
    `clusterCIDR ${cfg.clusterCIDR} (detectLocalMode ClusterCIDR)`,
    'masquerade bit 14',
  ];
  if (mode === 'iptables') {
    if (addresses.length > 0 && !(addresses.length === 1 && addresses[0] === 'all'))
      throw unsupported(`nodePortAddresses ${addresses.join(',')}`);
    // Upstream's default is true; it only applies when nodePortAddresses includes loopback
    // (unset means all addresses), pkg/proxy/iptables/proxier.go NewProxier.
    const localhostNodePorts = cfg.iptables?.localhostNodePorts ?? true;
    described.push('nodePortAddresses all', `iptables.localhostNodePorts ${localhostNodePorts}`);
    return {
      proxyOptions: { iptablesLocalhostNodePorts: localhostNodePorts, syncStrategy: 'partial' },
      nftables: {},
      described,
    };
  }
  if (mode === 'ipvs') {
    // Unset means every local address, as in iptables mode (only nftables defaults to primary).
    if (addresses.length > 0 && !(addresses.length === 1 && addresses[0] === 'all'))
      throw unsupported(`nodePortAddresses ${addresses.join(',')}`);
    const ipvs = cfg.ipvs ?? {};
    // '' is kube-proxy's default, round robin (pkg/proxy/ipvs NewProxier).
    const scheduler = ipvs.scheduler || 'rr';
    if (!['rr', 'wrr', 'lc', 'sh'].includes(scheduler))
      throw unsupported(`ipvs.scheduler ${scheduler}`);
    if ((ipvs.excludeCIDRs ?? []).length > 0)
      throw unsupported(`ipvs.excludeCIDRs ${ipvs.excludeCIDRs!.join(',')}`);
    const timeouts = {
      tcp: seconds(ipvs.tcpTimeout, 'ipvs.tcpTimeout', unsupported),
      tcpFin: seconds(ipvs.tcpFinTimeout, 'ipvs.tcpFinTimeout', unsupported),
      udp: seconds(ipvs.udpTimeout, 'ipvs.udpTimeout', unsupported),
    };
    described.push(
      'nodePortAddresses all',
      `ipvs.scheduler ${scheduler}`,
      `ipvs.strictARP ${ipvs.strictARP === true}`,
      `ipvs timeouts (tcp tcpfin udp) ${timeouts.tcp} ${timeouts.tcpFin} ${timeouts.udp} s (0: the kernel's)`,
    );
    return {
      proxyOptions: {
        ipvsScheduler: scheduler as 'rr' | 'wrr' | 'lc' | 'sh',
        ipvsTimeouts: timeouts,
      },
      nftables: {},
      ipvs: { strictARP: ipvs.strictARP === true },
      described,
    };
  }
  // nftables mode defaults to the node's primary IP (cmd/kube-proxy/app/options.go).
  const kind = addresses.length === 0 ? 'primary' : addresses.length === 1 ? addresses[0] : '';
  if (kind !== 'primary' && kind !== 'all')
    throw unsupported(`nodePortAddresses ${addresses.join(',')}`);
  described.push(
    `nodePortAddresses ${kind}${addresses.length === 0 ? ' (the nftables default)' : ''}`,
  );
  return { proxyOptions: {}, nftables: { nodePortAddresses: kind }, described };
}

/** A KubeProxyConfiguration duration (`0s`, `900s`, `15m`, `1h30m`) in whole seconds. */
export function seconds(
  v: string | undefined,
  what: string,
  unsupported: (what: string) => Error,
): number {
  if (v === undefined || v === '' || v === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(h|m|s|ms)/g;
  const unit: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
  let total = 0;
  let matched = '';
  for (const m of v.matchAll(re)) {
    total += Number(m[1]) * unit[m[2]!]!;
    matched += m[0];
  }
  if (matched !== v || !Number.isInteger(total)) throw unsupported(`${what} ${v}`);
  return total;
}
