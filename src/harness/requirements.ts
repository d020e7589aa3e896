import { which, toolsForMode, aptLine, kernelHasIpvs } from '../cluster/preflight.js';
import type { SuiteConfig } from './config.js';

/**
 * Why the suites cannot run here, or undefined when they can. Checked before any lab is built
 * so a skip names the missing thing instead of failing on a cryptic command error.
 */
export function missingRequirement(cfg: SuiteConfig): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces): run as root';
  if (cfg.provider !== 'netns') return undefined;
  const tools = toolsForMode(cfg.proxy, cfg.proxyOptions.iptablesBackend).filter((t) => !which(t));
  if (tools.length > 0) return `missing ${tools.join(', ')} (${aptLine(tools)})`;
  if (cfg.proxy === 'ipvs' && !hostHasIpvs()) {
    return 'the kernel has no IP_VS: run IPVS suites through the VM runner (`svclab test --proxy ipvs` does that with SVCLAB_VM=auto)';
  }
  return undefined;
}

/** The kernel has IP_VS and dummy interfaces (loaded or loadable as modules). */
export const hostHasIpvs = kernelHasIpvs;
