import { validateProxyCommand } from '../../kubelet/proxy-command.js';
import { UsageError } from '../errors.js';

/**
 * The options that choose what runs instead of svclab's planners (`--proxy-mode`,
 * `--kube-proxy-binary`, `--proxy-command`) make sense only with `--proxy kube-proxy`; one check
 * for every command that takes them, before anything is created.
 */
export function checkRealProxyOptions(o: {
  proxy?: string;
  proxyMode?: string;
  kubeProxyBinary?: string;
  proxyCommand?: string;
}): void {
  if (o.proxy !== 'kube-proxy' && (o.proxyMode || o.kubeProxyBinary || o.proxyCommand))
    throw new UsageError(
      `${o.proxyMode ? '--proxy-mode' : o.kubeProxyBinary ? '--kube-proxy-binary' : '--proxy-command'}: only with --proxy kube-proxy (got --proxy ${o.proxy})`,
    );
  if (o.proxyCommand && o.kubeProxyBinary)
    throw new UsageError('--proxy-command: not together with --kube-proxy-binary');
  if (o.proxyCommand) validateProxyCommand(o.proxyCommand);
}
