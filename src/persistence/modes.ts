import { LabError } from '../exec/index.js';
import type { ProxyMode, ProxyOptions } from '../proxy/types.js';

/**
 * The matrix's columns: svclab's planners (iptables with its sync strategy, nftables, IPVS) and
 * the real kube-proxy in each of its modes, on every node of a lab with a control plane.
 */
export const MATRIX_MODES = [
  'iptables-full',
  'iptables-partial',
  'nftables',
  'ipvs',
  'kube-proxy-iptables',
  'kube-proxy-nftables',
  'kube-proxy-ipvs',
] as const;
export type MatrixMode = (typeof MATRIX_MODES)[number];

export interface ModeConfig {
  /** The data-plane mode: svclab's planner, or the real kube-proxy's --proxy-mode. */
  proxy: ProxyMode;
  proxyOptions: ProxyOptions;
  /** Set for the real kube-proxy: the lab runs a control plane and kube-proxy on every node. */
  kubeProxy?: { mode: 'iptables' | 'nftables' | 'ipvs' } | undefined;
}

export function modeConfig(mode: MatrixMode): ModeConfig {
  switch (mode) {
    case 'iptables-full':
      return { proxy: 'iptables', proxyOptions: { syncStrategy: 'full', iptablesBackend: 'nft' } };
    case 'iptables-partial':
      return {
        proxy: 'iptables',
        proxyOptions: { syncStrategy: 'partial', iptablesBackend: 'nft' },
      };
    case 'nftables':
      return { proxy: 'nftables', proxyOptions: {} };
    case 'ipvs':
      return { proxy: 'ipvs', proxyOptions: { ipvsScheduler: 'rr' } };
    case 'kube-proxy-iptables':
    case 'kube-proxy-nftables':
    case 'kube-proxy-ipvs': {
      const kp = mode.slice('kube-proxy-'.length) as 'iptables' | 'nftables' | 'ipvs';
      return { proxy: kp, proxyOptions: {}, kubeProxy: { mode: kp } };
    }
  }
}

/** The mode needs IP_VS in the kernel (the VM on hosts without it). */
export function needsIpvs(mode: MatrixMode): boolean {
  return modeConfig(mode).proxy === 'ipvs';
}

export function parseModes(list: string): MatrixMode[] {
  const modes = list
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  const bad = modes.filter((m) => !(MATRIX_MODES as readonly string[]).includes(m));
  if (bad.length > 0)
    throw new LabError(`unknown mode ${bad.join(', ')} (valid: ${MATRIX_MODES.join(', ')})`);
  if (modes.length === 0) throw new LabError(`no mode given (valid: ${MATRIX_MODES.join(', ')})`);
  return [...new Set(modes)] as MatrixMode[];
}

/** The matrix mode a suite's environment stands for (SVCLAB_PROXY / SVCLAB_SYNC / SVCLAB_PROXY_MODE). */
export function matrixModeOf(
  proxy: ProxyMode | 'none',
  options: ProxyOptions,
  kubeProxy?: { mode: string } | undefined,
): MatrixMode | undefined {
  if (kubeProxy) return `kube-proxy-${kubeProxy.mode}` as MatrixMode;
  if (proxy === 'iptables')
    return options.syncStrategy === 'full' ? 'iptables-full' : 'iptables-partial';
  if (proxy === 'nftables' || proxy === 'ipvs') return proxy;
  return undefined;
}
