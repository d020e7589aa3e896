import { createIptablesProxy } from '../../proxy/iptables/index.js';
import { createIpvsProxy } from '../../proxy/ipvs/index.js';
import { createNftablesProxy } from '../../proxy/nftables/index.js';
import type { NodeContext, NodeProxy } from '../../proxy/types.js';

/**
 * The proxy modes the scale bench compares; iptables is split by kube-proxy's sync strategy.
 * `nftables-rules` is the nftables mode with one rule per endpoint instead of kube-proxy's
 * anonymous vmap per Service (NftablesPlanConfig.endpointSelection): it shows what the
 * anonymous maps cost the kernel at scale.
 */
export const SCALE_MODES = [
  'iptables-full',
  'iptables-partial',
  'nftables',
  'nftables-rules',
  'ipvs',
] as const;
export type ScaleMode = (typeof SCALE_MODES)[number];

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

/** The real proxies, created exactly as a lab creates them (iptables on the nft backend, as Debian's default). */
export function createScaleProxy(mode: ScaleMode, ctx: NodeContext): NodeProxy {
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
