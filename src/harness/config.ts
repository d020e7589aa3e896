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
  /**
   * The real kube-proxy runs on every node (SVCLAB_PROXY=kube-proxy, SVCLAB_PROXY_MODE=<mode>):
   * `proxy` is then its mode, so suites expect what that mode does.
   */
  kubeProxy?:
    { mode: ProxyMode; binary?: string | undefined; command?: string | undefined } | undefined;
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
  const real = !choice.proxy && env.SVCLAB_PROXY === 'kube-proxy';
  const kubeProxy = real
    ? {
        mode: parseProxyMode(env.SVCLAB_PROXY_MODE ?? 'iptables') as ProxyMode,
        binary: env.SVCLAB_KUBE_PROXY_BINARY || undefined,
        command: env.SVCLAB_PROXY_COMMAND || undefined,
      }
    : undefined;
  if (kubeProxy && (kubeProxy.mode as string) === 'none')
    throw new Error(
      'SVCLAB_PROXY_MODE must be iptables, nftables or ipvs with SVCLAB_PROXY=kube-proxy',
    );
  const proxy = kubeProxy?.mode ?? choice.proxy ?? parseProxyMode(env.SVCLAB_PROXY ?? 'iptables');
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
  // The real kube-proxy watches an API server: it implies the control plane.
  const controlPlane =
    kubeProxy !== undefined ||
    (choice.controlPlane ?? (cp !== undefined && cp !== '' && cp !== '0' && cp !== 'false'));
  const label = kubeProxy
    ? `${kubeProxy.command ? 'proxy-command' : 'kube-proxy'}-${kubeProxy.mode}`
    : (proxy === 'iptables' ? `iptables/${syncStrategy}/${iptablesBackend}` : proxy) +
      (controlPlane ? '+cp' : '');
  return {
    provider: choice.provider ?? env.SVCLAB_PROVIDER ?? 'netns',
    proxy,
    proxyOptions: { ...choice.proxyOptions, syncStrategy, iptablesBackend, ipvsScheduler },
    controlPlane,
    kubeProxy,
    label,
  };
}
