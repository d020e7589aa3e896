import { afterAll, beforeAll } from 'vitest';
import { expectLab, type LabExpect } from '../assertions/index.js';
import type { Lab } from '../cluster/lab.js';
import { startLab } from '../cluster/start-lab.js';
import type { TopologySource } from '../model/source.js';
import type { Topology } from '../model/types.js';
import { suiteConfig, type LabChoice, type SuiteConfig } from './config.js';
import { unmetRequirement } from './requirements.js';
import { skipWhen } from './skip.js';
import type { SkipCause } from './declared-skips.js';

let counter = 0;

/**
 * How long a suite's lab may take to come up or go: the e2e project's 120 s hook timeout fits
 * namespaces and containers, not a three-node kind cluster (`kind create cluster --wait 300s`
 * plus image pulls) or an existing cluster's namespace deletion (waited for until it is gone).
 */
export function labSetupTimeoutMs(provider: string): number | undefined {
  if (provider === 'kind') return 600_000;
  if (provider === 'kubeconfig') return 300_000;
  // netns: vitest's hookTimeout (scaled in the VM by vitest.config.ts).
  return undefined;
}

/** A lab name unique to this process and call: suites can run side by side, even two vitest runs. */
export function uniqueLabName(prefix = 't'): string {
  return `${prefix}-${process.pid.toString(36)}-${(counter++).toString(36)}`.slice(0, 20);
}

export interface LabFixture {
  readonly lab: Lab;
  readonly expect: LabExpect;
  readonly config: SuiteConfig;
  readonly topology: Topology;
  /** IP of a node, pod or external host. */
  ip(name: string): string;
}

export interface UseLabOptions extends LabChoice {
  /** Edits the topology before the lab is built. */
  mutate?: (t: Topology) => void;
  /** The suite needs an external host (skipped on a cluster that has none). */
  needsExternalHost?: boolean;
}

/**
 * Builds a lab for the suite (beforeAll) and always tears it down (afterAll). The topology is a
 * file relative to the project the tests run from (or the name of one svclab ships, such as
 * `three-node.yaml`), a topology document written in code, or a loaded Topology. Provider and
 * proxy come from the options, else from the environment (`svclab test` flags or SVCLAB_PROXY,
 * SVCLAB_SYNC, SVCLAB_IPTABLES_BACKEND, SVCLAB_IPVS_SCHEDULER, SVCLAB_PROVIDER). `skip` tells why
 * the suite cannot run here: use it as `describe.skipIf(fixture.skip)`.
 */
export function useLab(
  source: TopologySource,
  opts: UseLabOptions = {},
): LabFixture & {
  skip: string | undefined;
  externalSkip: string | undefined;
  /** The suite's skip if it has one, else `why` recorded as a skip of this suite's mode. */
  skipFor(cause: SkipCause, why: string | false | undefined): string | undefined;
} {
  const config = suiteConfig(process.env, opts);
  // On an existing cluster an external host exists only as a hostNetwork pod the user allowed.
  const site = { proxy: config.proxy, provider: config.provider, mode: config.label };
  const noExternalHost =
    config.provider === 'kubeconfig' && process.env.SVCLAB_EXTERNAL_HOSTS !== 'pod'
      ? 'no external host on this cluster (pass --external-hosts pod / SVCLAB_EXTERNAL_HOSTS=pod)'
      : undefined;
  const unmet = unmetRequirement(config);
  const skip = unmet
    ? skipWhen(unmet.cause, unmet.reason, site)
    : opts.needsExternalHost
      ? skipWhen('external-host', noExternalHost, site)
      : undefined;
  // Recorded only when a test asks for it (`it.skipIf(f.externalSkip)`), so a suite that does not
  // need external hosts logs no skip.
  let externalSkipRecorded = false;
  let lab: Lab | undefined;
  let labExpect: LabExpect | undefined;
  let topology: Topology | undefined;

  beforeAll(async () => {
    if (skip) return;
    lab = await startLab(source, {
      ...config,
      name: uniqueLabName(),
      mutate: opts.mutate,
      progress: 'silent',
      ephemeral: true,
    });
    topology = lab.topology;
    labExpect = expectLab(lab);
  }, labSetupTimeoutMs(config.provider));

  afterAll(async () => {
    const report = await lab?.down();
    if (report && report.errors.length > 0)
      throw new Error(`teardown of lab ${report.lab} incomplete:\n${report.errors.join('\n')}`);
  }, labSetupTimeoutMs(config.provider));

  const need = <T>(v: T | undefined): T => {
    if (v === undefined)
      throw new Error('the lab is not up (beforeAll failed or the suite is skipped)');
    return v;
  };
  return {
    skip,
    get externalSkip() {
      if (skip || !noExternalHost || externalSkipRecorded) return noExternalHost;
      externalSkipRecorded = true;
      return skipWhen('external-host', noExternalHost, site);
    },
    skipFor(cause: SkipCause, why: string | false | undefined) {
      return skip ?? skipWhen(cause, why, site);
    },
    config,
    get lab() {
      return need(lab);
    },
    get expect() {
      return need(labExpect);
    },
    get topology() {
      return need(topology);
    },
    ip(name: string) {
      return need(lab).target(name).ip;
    },
  };
}
