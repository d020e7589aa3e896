import { LabError } from '../exec/index.js';
import type { ProxyMode, ProxyOptions } from '../proxy/types.js';

/** The matrix's columns: a proxy mode, and for iptables its sync strategy. */
export const MATRIX_MODES = ['iptables-full', 'iptables-partial', 'nftables', 'ipvs'] as const;
export type MatrixMode = (typeof MATRIX_MODES)[number];

export interface ModeConfig {
  proxy: ProxyMode;
  proxyOptions: ProxyOptions;
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
  }
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

/** The matrix mode a suite's environment stands for (SVCLAB_PROXY / SVCLAB_SYNC). */
export function matrixModeOf(
  proxy: ProxyMode | 'none',
  options: ProxyOptions,
): MatrixMode | undefined {
  if (proxy === 'iptables')
    return options.syncStrategy === 'full' ? 'iptables-full' : 'iptables-partial';
  if (proxy === 'nftables' || proxy === 'ipvs') return proxy;
  return undefined;
}
