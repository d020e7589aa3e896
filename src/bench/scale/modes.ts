import { createIptablesProxy } from '../../proxy/iptables/index.js';
import { createIpvsProxy } from '../../proxy/ipvs/index.js';
import { createNftablesProxy } from '../../proxy/nftables/index.js';
import type { NodeContext, NodeProxy } from '../../proxy/types.js';
import type { KubeProxyMode } from '../../kubelet/kube-proxy.js';

/**
 * svclab's proxy modes the scale bench compares; iptables is split by kube-proxy's sync strategy.
 * `nftables-rules` is the nftables mode with one rule per endpoint instead of kube-proxy's
 * anonymous vmap per Service (NftablesPlanConfig.endpointSelection): it shows what the
 * anonymous maps cost the kernel at scale.
 */
export const SVCLAB_SCALE_MODES = [
  'iptables-full',
  'iptables-partial',
  'nftables',
  'nftables-rules',
  'ipvs',
] as const;
/** The real kube-proxy in each of its modes, on a lab with the control plane. */
export const KUBE_PROXY_SCALE_MODES = [
  'kube-proxy-iptables',
  'kube-proxy-nftables',
  'kube-proxy-ipvs',
] as const;
export const SCALE_MODES = [...SVCLAB_SCALE_MODES, ...KUBE_PROXY_SCALE_MODES] as const;
export type ScaleMode = (typeof SCALE_MODES)[number];
export type SvclabScaleMode = (typeof SVCLAB_SCALE_MODES)[number];
export type KubeProxyScaleMode = (typeof KUBE_PROXY_SCALE_MODES)[number];

export function isKubeProxyMode(m: ScaleMode): m is KubeProxyScaleMode {
  return (KUBE_PROXY_SCALE_MODES as readonly string[]).includes(m);
}

export function kubeProxyModeOf(m: KubeProxyScaleMode): KubeProxyMode {
  return m.slice('kube-proxy-'.length) as KubeProxyMode;
}

/**
 * svclab's mode with the layout kube-proxy writes in the same mode: the peer each kube-proxy
 * figure is set beside. kube-proxy's iptables mode syncs partially since 1.26
 * (pkg/proxy/iptables/proxier.go, MinimizeIPTablesRestore GA in 1.28).
 */
export const PEER_MODE: Record<KubeProxyScaleMode, SvclabScaleMode> = {
  'kube-proxy-iptables': 'iptables-partial',
  'kube-proxy-nftables': 'nftables',
  'kube-proxy-ipvs': 'ipvs',
};

/** Modes that need IP_VS in the kernel (the svclab VM on a host without it). */
export function needsIpvs(m: ScaleMode): boolean {
  return m === 'ipvs' || m === 'kube-proxy-ipvs';
}

export function parseScaleModes(value: string): ScaleMode[] {
  const modes = value
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  const bad = modes.filter((m) => !(SCALE_MODES as readonly string[]).includes(m));
  if (bad.length > 0 || modes.length === 0)
    throw new RangeError(
      `unknown mode(s) ${bad.join(', ') || '(none)'} (valid: ${SCALE_MODES.join(', ')})`,
    );
  return [...new Set(modes)] as ScaleMode[];
}

/** svclab's proxies, created exactly as a lab creates them (iptables on the nft backend, as Debian's default). */
export function createScaleProxy(mode: SvclabScaleMode, ctx: NodeContext): NodeProxy {
  switch (mode) {
    case 'iptables-full':
      return createIptablesProxy(ctx, { syncStrategy: 'full' });
    case 'iptables-partial':
      return createIptablesProxy(ctx, { syncStrategy: 'partial' });
    case 'nftables':
      return createNftablesProxy(ctx, {});
    case 'nftables-rules':
      return createNftablesProxy(ctx, {}, { endpointSelection: 'numgen-rules' });
    case 'ipvs':
      return createIpvsProxy(ctx, {});
  }
}
