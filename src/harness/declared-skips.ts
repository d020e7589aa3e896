import { existsSync } from 'node:fs';
import { which, kernelHasIpvs } from '../cluster/preflight.js';

/**
 * Every skip a test run may contain without failing, in one place. A skip site names what it
 * lacks (a `SkipCause`); the run is honest only if some entry below declares that cause for the
 * site's suite, proxy mode and provider, and its `expected` predicate holds on this machine. Any
 * other skip (a missing tool, a daemon that does not answer, a `.skip` someone forgot) fails the
 * summary of `npm test` and `svclab test`, so a whole mode cannot vanish from a green run.
 */
export type SkipCause =
  /** Labs are network namespaces: not root, no labs. */
  | 'root'
  /** A command the mode needs is not installed. */
  | 'tools'
  /** The kernel has no IP_VS or no dummy interfaces. */
  | 'ipvs-kernel'
  /** The test shows what a kernel without IP_VS says, and this one has it. */
  | 'kernel-has-ipvs'
  /** No Docker daemon, or no node image for the docker provider. */
  | 'docker'
  /** The QEMU VM runner cannot run here. */
  | 'vm'
  /** The suite or test belongs to other proxy modes. */
  | 'mode'
  /** The provider has no external host (a real cluster that does not allow hostNetwork pods). */
  | 'external-host'
  /** The suite needs the topology's node labels (zones) on the Nodes: not on an existing cluster. */
  | 'node-labels'
  /** The person running the tests asked for the skip (SVCLAB_SKIP_IPVS, SVCLAB_SKIP_DOCKER). */
  | 'requested'
  /**
   * A run this machine can do, but not inside CI's time limit: only where it would go through the
   * VM's software emulation. The reason carries the measurement.
   */
  | 'time-budget';

/** What this machine has, as far as expected skips depend on it. File checks only: no spawning. */
export interface Capabilities {
  root: boolean;
  /** The running kernel has IP_VS and dummy interfaces (loaded or loadable). */
  ipvsKernel: boolean;
  /** QEMU is installed, so IPVS runs in the VM where the host kernel lacks it. */
  qemu: boolean;
  /** A Docker daemon is installed (scripts/test.sh starts one with flags that spare the host). */
  dockerd: boolean;
  /** This process runs inside svclab's VM. */
  inVm: boolean;
}

export function machineCapabilities(env: NodeJS.ProcessEnv = process.env): Capabilities {
  return {
    root: process.getuid?.() === 0,
    ipvsKernel: kernelHasIpvs(),
    qemu: which('qemu-system-x86_64') !== undefined,
    dockerd:
      which('dockerd') !== undefined ||
      existsSync((env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '')),
    inVm: env.SVCLAB_IN_VM === '1',
  };
}

/** Where a skip happened: the suite (a path under the package root) and the mode it ran in. */
export interface SkipSite {
  /** Test file or run, relative to the package root (`suites/ipvs/ipvs.test.ts`, `run:suites-docker`). */
  suite: string;
  proxy?: string | undefined;
  provider?: string | undefined;
}

export interface DeclaredSkip {
  cause: SkipCause;
  /** Path prefix under the package root; absent: any suite, including a user's. */
  suite?: string;
  proxy?: string;
  provider?: string;
  /** Why this skip is fine here, as the summary prints it. */
  reason: string;
  /** The skip is expected on a machine with these capabilities. */
  expected(caps: Capabilities, site: SkipSite): boolean;
}

export const DECLARED_SKIPS: readonly DeclaredSkip[] = [
  {
    cause: 'root',
    reason: 'labs are network namespaces, which need root: run the e2e tests as root',
    expected: (c) => !c.root,
  },
  {
    cause: 'ipvs-kernel',
    suite: 'src/proxy/ipvs/',
    reason: "the host kernel has no IP_VS: npm test runs src/proxy/ipvs again in the VM's kernel",
    expected: (c) => !c.ipvsKernel && !c.inVm,
  },
  {
    cause: 'ipvs-kernel',
    suite: 'src/kubelet/',
    reason:
      "the host kernel has no IP_VS: npm test runs the real kube-proxy's ipvs case again in the VM's kernel",
    expected: (c) => !c.ipvsKernel && !c.inVm && c.qemu,
  },
  {
    cause: 'ipvs-kernel',
    suite: 'src/fidelity/fidelity-ipvs.e2e.test.ts',
    reason:
      "the host kernel has no IP_VS: npm test runs the IPVS fidelity comparison again in the VM's kernel",
    expected: (c) => !c.ipvsKernel && !c.inVm && c.qemu,
  },
  {
    cause: 'ipvs-kernel',
    proxy: 'ipvs',
    reason: 'the kernel has no IP_VS and there is no QEMU to boot one that has it',
    expected: (c) => !c.ipvsKernel && !c.qemu,
  },
  {
    cause: 'kernel-has-ipvs',
    suite: 'src/cli/',
    reason: 'checks the message a kernel without IP_VS gives; this kernel has IP_VS',
    expected: (c) => c.ipvsKernel,
  },
  {
    cause: 'docker',
    provider: 'docker',
    reason: 'no Docker daemon installed (scripts/docker/install-docker.sh installs one safely)',
    expected: (c) => !c.dockerd,
  },
  {
    cause: 'vm',
    suite: 'src/vm/',
    reason: 'no QEMU installed (apt-get install -y qemu-system-x86)',
    expected: (c) => !c.qemu,
  },
  {
    cause: 'mode',
    suite: 'suites/ipvs/',
    reason: 'IPVS-specific suite: it runs in the --proxy ipvs run',
    expected: (_c, s) => s.proxy !== 'ipvs',
  },
  {
    cause: 'mode',
    suite: 'suites/persistence/',
    reason:
      'IPVS-only known bugs run in the --proxy ipvs run; with --proxy none there is nothing to persist',
    expected: (_c, s) => s.proxy !== 'ipvs',
  },
  {
    cause: 'external-host',
    provider: 'kubeconfig',
    reason:
      'an existing cluster has external hosts only as hostNetwork pods the user allows (--external-hosts pod)',
    expected: () => true,
  },
  {
    cause: 'node-labels',
    suite: 'suites/traffic-distribution/',
    provider: 'kubeconfig',
    reason:
      "an existing cluster's Nodes keep their own topology.kubernetes.io/zone labels (svclab changes no node there), so the topology's zones are not the ones hints are made from",
    expected: () => true,
  },
  {
    cause: 'time-budget',
    suite: 'run:suites-kube-proxy-ipvs',
    reason:
      'every suite against the real kube-proxy in IPVS mode needs a control plane per suite inside the VM (QEMU without KVM here): one suite did not finish in 30 min, far past the CI limit; `svclab test --proxy kube-proxy --proxy-mode ipvs` runs them by hand, and src/kubelet/kube-proxy-ipvs.e2e.test.ts runs the real kube-proxy in IPVS mode in the VM in every npm test',
    expected: (c) => !c.ipvsKernel && !c.inVm,
  },
  {
    cause: 'requested',
    reason: 'skipped on request (SVCLAB_SKIP_IPVS or SVCLAB_SKIP_DOCKER is set)',
    expected: () => true,
  },
];

/** The declaration that makes this skip expected here, or undefined: the skip fails the run. */
export function declaredSkipFor(
  cause: SkipCause,
  site: SkipSite,
  caps: Capabilities,
  declared: readonly DeclaredSkip[] = DECLARED_SKIPS,
): DeclaredSkip | undefined {
  return declared.find(
    (d) =>
      d.cause === cause &&
      (d.suite === undefined || site.suite.startsWith(d.suite)) &&
      (d.proxy === undefined || d.proxy === site.proxy) &&
      (d.provider === undefined || d.provider === site.provider) &&
      d.expected(caps, site),
  );
}
