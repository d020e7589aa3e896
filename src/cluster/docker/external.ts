import type { StartedTestContainer } from 'testcontainers';
import type { ExternalHostSpec } from '../../model/types.js';
import { planLabContainer, type ContainerPlanOptions } from './node.js';
import { networkName } from './labels.js';
import type Docker from 'dockerode';

/** An external host: a client outside the cluster, on the node network, with routes for external and LB IPs via a node. */
export function planExternalContainer(
  lab: string,
  ext: ExternalHostSpec,
  opts: ContainerPlanOptions,
): Docker.ContainerCreateOptions {
  return planLabContainer(lab, 'ext', ext.name, ext.ip, opts);
}

/**
 * Starts the external host with testcontainers. testcontainers has no builder method for a fixed
 * IP, so the create options come from the same plan as node containers (labels, mounts,
 * capabilities, IPAM address) and are set on the builder's create options before it creates.
 * testcontainers is loaded here, not at import, so the netns provider's CLI start stays quick.
 */
export async function startExternalHost(
  lab: string,
  ext: ExternalHostSpec,
  opts: ContainerPlanOptions,
): Promise<StartedTestContainer> {
  // Ryuk, testcontainers' reaper, would be pulled from a registry (none is reachable here) and
  // would remove containers when this process exits, but a lab outlives `svclab up`. svclab's
  // own label sweep (svclab.lab=<lab>) does the reaper's job.
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  // Inside a container (/.dockerenv), testcontainers looks for the host through the default
  // `bridge` network's gateway; svclab's dockerd runs with --bridge=none, so there is none. The
  // host address only serves mapped ports, which external hosts do not use.
  process.env.TESTCONTAINERS_HOST_OVERRIDE ??= 'localhost';
  const { GenericContainer } = await import('testcontainers');
  const plan = planExternalContainer(lab, ext, opts);
  const network = networkName(lab);
  class ExternalHostContainer extends GenericContainer {
    constructor() {
      super(plan.Image!);
      // No reaper session for this container either (see above); `svclab down` removes it.
      this.withNetworkMode(network).withAutoCleanup(false).withAutoRemove(true);
      const { HostConfig, ...create } = plan;
      Object.assign(this.createOpts, create);
      Object.assign(this.hostConfig, HostConfig, { NetworkMode: network });
    }
  }
  return new ExternalHostContainer().start();
}

/**
 * The external host's routes, as in the netns lab: only the node network itself plus the
 * topology's routes (external and LoadBalancer IPs via a node). Docker's default route to the
 * bridge goes: an external client is not in the cluster and has no gateway into it.
 */
export function externalRoutesScript(ext: ExternalHostSpec): string {
  const batch = ext.routes.map((r) => `route add ${r.to} via ${r.via} dev eth0`);
  return [
    'ip route del default 2>/dev/null || true',
    ...(batch.length > 0 ? [`ip -batch - <<'EOF'`, ...batch, 'EOF'] : []),
  ].join('\n');
}
