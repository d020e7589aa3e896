import { UsageError } from '../cli/errors.js';
import { shellQuote } from '../exec/index.js';

/**
 * `--proxy-command`: any Service proxy that watches the API, started on every node in place of
 * kube-proxy. The template is a shell command line; each `{name}` is replaced by the node's value,
 * shell-quoted, and the line runs with `/bin/sh -c` inside the node's network namespace (its own
 * process group, so a wrapper and what it starts are stopped together).
 */
export const PROXY_COMMAND_PLACEHOLDERS = {
  kubeconfig: 'kubeconfig of the kube-proxy user (system:kube-proxy, its RBAC)',
  node: 'the node name (the Node object; use it as the hostname override)',
  nodeIP: "the node's IP on the node network",
  netns: "the node's network namespace (the command already runs inside it)",
  clusterCIDR: 'the pod network CIDR (what is "local" traffic)',
  mode: 'the data-plane mode given with --proxy-mode (iptables, nftables or ipvs)',
  config: 'a KubeProxyConfiguration file svclab wrote for this node (for kube-proxy and its forks)',
  metricsAddress: 'where the proxy must serve its metrics: <nodeIP>:10249',
  healthzAddress: 'where the proxy may serve /healthz: <nodeIP>:10256',
} as const;
export type ProxyCommandPlaceholder = keyof typeof PROXY_COMMAND_PLACEHOLDERS;

const PLACEHOLDER = /\{([A-Za-z]+)\}/g;

/** Every `{name}` must be a known placeholder and the command must not be empty. */
export function validateProxyCommand(template: string, field = '--proxy-command'): void {
  if (template.trim() === '') throw new UsageError(`${field}: Required value: an empty command`);
  if (template.length > 4096)
    throw new UsageError(`${field}: Too long: ${template.length} characters (at most 4096)`);
  const unknown = [...template.matchAll(PLACEHOLDER)]
    .map((m) => m[1]!)
    .filter((name) => !(name in PROXY_COMMAND_PLACEHOLDERS));
  if (unknown.length > 0)
    throw new UsageError(
      `${field}: Invalid value: unknown placeholder ${[...new Set(unknown)].map((n) => `{${n}}`).join(', ')} (known: ${Object.keys(
        PROXY_COMMAND_PLACEHOLDERS,
      )
        .map((n) => `{${n}}`)
        .join(' ')})`,
    );
}

export function expandProxyCommand(
  template: string,
  values: Record<ProxyCommandPlaceholder, string>,
): string {
  validateProxyCommand(template);
  return template.replace(PLACEHOLDER, (_m, name: ProxyCommandPlaceholder) =>
    shellQuote([values[name]]),
  );
}
