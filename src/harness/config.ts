import { parseProxyMode } from '../proxy/index.js';
import type { ProxyMode, ProxyOptions } from '../proxy/types.js';

/**
 * What the suites run against, resolved once from the environment (set by `svclab test` or by
 * hand), so every suite runs unchanged against every mode and provider.
 */
export interface SuiteConfig {
  provider: string;
  proxy: ProxyMode | 'none';
  proxyOptions: ProxyOptions;
  /** The lab runs the real control plane (SVCLAB_CONTROL_PLANE=1): changes go through the API. */
  controlPlane: boolean;
  /** Short label for test titles and dumps, e.g. `iptables/partial/nft`, `nftables+cp`. */
  label: string;
}

/** What a caller may fix in code; anything left out comes from the environment. */
export interface LabChoice {
  provider?: string | undefined;
  proxy?: ProxyMode | 'none' | undefined;
  proxyOptions?: Partial<ProxyOptions> | undefined;
  controlPlane?: boolean | undefined;
}

export function suiteConfig(
  env: NodeJS.ProcessEnv = process.env,
  choice: LabChoice = {},
): SuiteConfig {
  const proxy = choice.proxy ?? parseProxyMode(env.SVCLAB_PROXY ?? 'iptables');
  const syncStrategy = (choice.proxyOptions?.syncStrategy ?? env.SVCLAB_SYNC ?? 'partial') as
    'full' | 'partial';
  if (syncStrategy !== 'full' && syncStrategy !== 'partial')
    throw new Error(`SVCLAB_SYNC must be full or partial, got "${syncStrategy}"`);
  const iptablesBackend = (choice.proxyOptions?.iptablesBackend ??
    env.SVCLAB_IPTABLES_BACKEND ??
    'nft') as 'nft' | 'legacy';
  if (iptablesBackend !== 'nft' && iptablesBackend !== 'legacy')
    throw new Error(`SVCLAB_IPTABLES_BACKEND must be nft or legacy, got "${iptablesBackend}"`);
  const ipvsScheduler = (choice.proxyOptions?.ipvsScheduler ??
    env.SVCLAB_IPVS_SCHEDULER ??
    'rr') as ProxyOptions['ipvsScheduler'];
  const cp = env.SVCLAB_CONTROL_PLANE;
  const controlPlane =
    choice.controlPlane ?? (cp !== undefined && cp !== '' && cp !== '0' && cp !== 'false');
  const label =
    (proxy === 'iptables' ? `iptables/${syncStrategy}/${iptablesBackend}` : proxy) +
    (controlPlane ? '+cp' : '');
  return {
    provider: choice.provider ?? env.SVCLAB_PROVIDER ?? 'netns',
    proxy,
    proxyOptions: { ...choice.proxyOptions, syncStrategy, iptablesBackend, ipvsScheduler },
    controlPlane,
    label,
  };
}
