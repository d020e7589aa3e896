import { LabError } from '../exec/index.js';
import { createIptablesProxy } from './iptables/index.js';
import { createIpvsProxy } from './ipvs/index.js';
import { createNftablesProxy } from './nftables/index.js';
import { serviceHealthOf } from './health-check.js';
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
  const proxy = factory(ctx, options);
  return ctx.syncServiceHealth
    ? withServiceHealth(proxy, ctx.syncServiceHealth, ctx.nodeName)
    : proxy;
}

/**
 * Every mode ends its sync as kube-proxy's proxiers end syncProxyRules: once the rules are in,
 * the service health server gets the Services with a healthCheckNodePort and their local ready
 * endpoints. Sent only when that changed, so later syncs that touch no such Service cost nothing.
 */
function withServiceHealth(
  proxy: NodeProxy,
  syncServiceHealth: NonNullable<NodeContext['syncServiceHealth']>,
  nodeName: string,
): NodeProxy {
  // Nothing sent yet: the first sync of a new proxy (a restart) resets the server whatever it held.
  let sent: string | undefined;
  return {
    mode: proxy.mode,
    install: () => proxy.install(),
    dump: () => proxy.dump(),
    async sync(state, opts) {
      const result = await proxy.sync(state, opts);
      const services = serviceHealthOf(state, nodeName);
      const key = JSON.stringify(services);
      if (key === sent) return result;
      const { errors } = await syncServiceHealth(services, true);
      // A port that could not be opened is tried again on the next sync, as kube-proxy does.
      sent = errors.length > 0 ? undefined : key;
      return { ...result, notes: [...result.notes, ...errors] };
    },
  };
}

export function parseProxyMode(value: string): ProxyMode | 'none' {
  if (value === 'none' || (PROXY_MODES as readonly string[]).includes(value))
    return value as ProxyMode | 'none';
  throw new LabError(
    `unknown proxy mode "${value}" (valid: ${[...PROXY_MODES, 'none'].join(', ')})`,
  );
}
