import { Option } from 'commander';

// Options several commands share. Commander only: a command's definition must stay cheap, since
// `svclab --help` loads every command's module.

export const kubeVersionOption = () =>
  new Option(
    '--kube-version <version>',
    'Kubernetes release of the control plane (built from source if missing)',
  ).env('SVCLAB_KUBE_VERSION');
export const kubeBinDirOption = () =>
  new Option(
    '--kube-bin-dir <dir>',
    'use the Kubernetes binaries in this folder instead of built ones',
  ).env('SVCLAB_KUBE_BIN_DIR');
export const isTruthy = (v: string | undefined) =>
  v !== undefined && v !== '' && v !== '0' && v !== 'false';

export const proxyOption = () =>
  new Option('--proxy <mode>', 'Service proxy mode')
    .choices(['iptables', 'nftables', 'ipvs', 'none'])
    .default(process.env.SVCLAB_PROXY ?? 'iptables');
export const syncOption = () =>
  new Option('--sync <strategy>', 'iptables sync strategy')
    .choices(['full', 'partial'])
    .default('partial');
export const backendOption = () =>
  new Option('--iptables-backend <backend>', 'iptables command backend')
    .choices(['nft', 'legacy'])
    .default('nft');
export const schedulerOption = () =>
  new Option('--scheduler <name>', 'IPVS scheduler')
    .choices(['rr', 'wrr', 'lc', 'sh'])
    .default('rr');

/** `--proxy` where the real kube-proxy is a choice (up, test), with its mode and binary. */
export const realProxyOption = () =>
  new Option('--proxy <mode>', "Service proxy: svclab's planners, the real kube-proxy, or none")
    .choices(['iptables', 'nftables', 'ipvs', 'kube-proxy', 'none'])
    .default(process.env.SVCLAB_PROXY ?? 'iptables');
export const proxyModeOption = () =>
  new Option('--proxy-mode <mode>', 'with --proxy kube-proxy: its mode')
    .choices(['iptables', 'nftables', 'ipvs'])
    .env('SVCLAB_PROXY_MODE');
export const proxyCommandOption = () =>
  new Option(
    '--proxy-command <template>',
    'run this command on every node instead of kube-proxy (any proxy that watches the API; placeholders {kubeconfig} {node} {nodeIP} {netns} {clusterCIDR} {mode} {config} {metricsAddress} {healthzAddress}; see README)',
  ).env('SVCLAB_PROXY_COMMAND');
export const kubeProxyBinaryOption = () =>
  new Option(
    '--kube-proxy-binary <path>',
    'with --proxy kube-proxy: run this build of kube-proxy',
  ).env('SVCLAB_KUBE_PROXY_BINARY');
