import { which, toolsForMode, aptLine, kernelHasIpvs } from '../cluster/preflight.js';
import type { SkipCause } from './declared-skips.js';
import type { SuiteConfig } from './config.js';

/**
 * Why the suites cannot run here, with the cause the declared skips are keyed by, or undefined
 * when they can. Checked before any lab is built so a skip names the missing thing instead of
 * failing on a cryptic command error.
 */
export function unmetRequirement(
  cfg: SuiteConfig,
): { cause: SkipCause; reason: string } | undefined {
  if (process.getuid?.() !== 0)
    return { cause: 'root', reason: 'needs root (network namespaces): run as root' };
  if (cfg.provider !== 'netns') return undefined;
  const tools = toolsForMode(cfg.proxy, cfg.proxyOptions.iptablesBackend).filter((t) => !which(t));
  if (tools.length > 0)
    return { cause: 'tools', reason: `missing ${tools.join(', ')} (${aptLine(tools)})` };
  if (cfg.proxy === 'ipvs' && !hostHasIpvs()) {
    return {
      cause: 'ipvs-kernel',
      reason:
        'the kernel has no IP_VS: run IPVS suites through the VM runner (`svclab test --proxy ipvs` does that with SVCLAB_VM=auto)',
    };
  }
  return undefined;
}

/** The reason alone, for callers that report a skip their own way (`svclab matrix`). */
export function missingRequirement(cfg: SuiteConfig): string | undefined {
  return unmetRequirement(cfg)?.reason;
}

/** The kernel has IP_VS and dummy interfaces (loaded or loadable as modules). */
export const hostHasIpvs = kernelHasIpvs;
