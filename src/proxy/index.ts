import { LabError } from '../exec/index.js';
import { createIptablesProxy } from './iptables/index.js';
import { createIpvsProxy } from './ipvs/index.js';
import { createNftablesProxy } from './nftables/index.js';
import {
  PROXY_MODES,
  type NodeContext,
  type NodeProxy,
  type ProxyFactory,
  type ProxyMode,
  type ProxyOptions,
} from './types.js';

export * from './types.js';

const factories: Record<ProxyMode, ProxyFactory> = {
  iptables: createIptablesProxy,
  nftables: createNftablesProxy,
  ipvs: createIpvsProxy,
};

export function createNodeProxy(
  mode: ProxyMode,
  ctx: NodeContext,
  options: ProxyOptions = {},
): NodeProxy {
  const factory = factories[mode];
  if (!factory)
    throw new LabError(`unknown proxy mode "${mode}" (valid: ${PROXY_MODES.join(', ')})`);
  return factory(ctx, options);
}

export function parseProxyMode(value: string): ProxyMode | 'none' {
  if (value === 'none' || (PROXY_MODES as readonly string[]).includes(value))
    return value as ProxyMode | 'none';
  throw new LabError(
    `unknown proxy mode "${value}" (valid: ${[...PROXY_MODES, 'none'].join(', ')})`,
  );
}
