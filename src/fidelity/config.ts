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
  masqueradeAll?: boolean;
  linux?: { masqueradeAll?: boolean };
}

export function plannerSettings(
  configYaml: string,
  mode: 'iptables' | 'nftables',
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
  const bit = mode === 'iptables' ? cfg.iptables?.masqueradeBit : cfg.nftables?.masqueradeBit;
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
  // nftables mode defaults to the node's primary IP (cmd/kube-proxy/app/options.go).
  const kind = addresses.length === 0 ? 'primary' : addresses.length === 1 ? addresses[0] : '';
  if (kind !== 'primary' && kind !== 'all')
    throw unsupported(`nodePortAddresses ${addresses.join(',')}`);
  described.push(
    `nodePortAddresses ${kind}${addresses.length === 0 ? ' (the nftables default)' : ''}`,
  );
  return { proxyOptions: {}, nftables: { nodePortAddresses: kind }, described };
}
