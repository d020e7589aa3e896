import { parse } from 'yaml';
import type { ProxyMode } from '../../proxy/types.js';
import type { KubeApi } from './api.js';
import { apiStatus } from './namespace.js';

export interface DiscoveredProxyMode {
  mode: ProxyMode | 'unknown';
  /** Where the answer came from, for the report. */
  source: string;
}

/**
 * kube-proxy's mode from its KubeProxyConfiguration (kubeadm's `kube-system/kube-proxy`
 * ConfigMap, key config.conf). An empty mode means the platform default: iptables on Linux.
 */
export function modeFromKubeProxyConfig(configConf: string): ProxyMode | 'unknown' {
  let doc: unknown;
  try {
    doc = parse(configConf);
  } catch {
    return 'unknown';
  }
  const mode = (doc as { mode?: unknown } | null)?.mode;
  if (mode === undefined || mode === null || mode === '') return 'iptables';
  return mode === 'iptables' || mode === 'ipvs' || mode === 'nftables' ? mode : 'unknown';
}

function normalise(text: string): ProxyMode | 'unknown' {
  const m = text.trim();
  return m === 'iptables' || m === 'ipvs' || m === 'nftables' ? m : 'unknown';
}

/**
 * Asks the running kube-proxy first (`/proxyMode` on its metrics port, through the API server's
 * node proxy; needs metricsBindAddress off localhost, which kind's config from svclab sets), then
 * falls back to the kubeadm ConfigMap. Managed clusters often have neither: the mode is then
 * reported as unknown rather than guessed.
 */
export async function discoverProxyMode(
  api: KubeApi,
  nodes: string[],
): Promise<DiscoveredProxyMode> {
  for (const node of nodes.slice(0, 1)) {
    try {
      const mode = normalise(await api.nodeProxyGet(node, 10249, '/proxyMode'));
      if (mode !== 'unknown') return { mode, source: `kube-proxy /proxyMode on node ${node}` };
    } catch {
      // metrics bound to 127.0.0.1 (kubeadm's default) or no nodes/proxy permission: try the ConfigMap
    }
  }
  try {
    const cm = await api.core.readNamespacedConfigMap({
      name: 'kube-proxy',
      namespace: 'kube-system',
    });
    const conf = cm.data?.['config.conf'];
    if (conf !== undefined)
      return {
        mode: modeFromKubeProxyConfig(conf),
        source: 'ConfigMap kube-system/kube-proxy config.conf',
      };
  } catch (err) {
    if (apiStatus(err) !== 404 && apiStatus(err) !== 403) throw err;
  }
  return {
    mode: 'unknown',
    source: 'no kube-proxy /proxyMode endpoint reachable and no kube-system/kube-proxy ConfigMap',
  };
}
