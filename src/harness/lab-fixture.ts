import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { expectLab, type LabExpect } from '../assertions/index.js';
import type { Lab } from '../cluster/lab.js';
import { getProvider } from '../cluster/providers.js';
import { loadTopology } from '../model/index.js';
import type { Topology } from '../model/types.js';
import { packageRoot } from '../cli/package-root.js';
import { suiteConfig, type SuiteConfig } from './config.js';
import { missingRequirement } from './requirements.js';

let counter = 0;

/**
 * How long a suite's lab may take to come up or go: the e2e project's 120 s hook timeout fits
 * namespaces and containers, not a three-node kind cluster (`kind create cluster --wait 300s`
 * plus image pulls) or an existing cluster's namespace deletion (waited for until it is gone).
 */
export function labSetupTimeoutMs(provider: string): number | undefined {
  if (provider === 'kind') return 600_000;
  if (provider === 'kubeconfig') return 300_000;
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

/**
 * Builds a lab for the suite (beforeAll) and always tears it down (afterAll), from a topology in
 * topologies/ and the proxy mode of the environment. `skip` tells why the suite cannot run here:
 * use it as `describe.skipIf(fixture.skip)`.
 */
export function useLab(
  topologyFile: string,
  opts: {
    mutate?: (t: Topology) => void;
    proxy?: SuiteConfig['proxy'];
    needsExternalHost?: boolean;
  } = {},
): LabFixture & { skip: string | undefined; externalSkip: string | undefined } {
  const config = suiteConfig();
  if (opts.proxy) config.proxy = opts.proxy;
  // On an existing cluster an external host exists only as a hostNetwork pod the user allowed.
  const externalSkip =
    config.provider === 'kubeconfig' && process.env.SVCLAB_EXTERNAL_HOSTS !== 'pod'
      ? 'no external host on this cluster (pass --external-hosts pod / SVCLAB_EXTERNAL_HOSTS=pod)'
      : undefined;
  const skip = missingRequirement(config) ?? (opts.needsExternalHost ? externalSkip : undefined);
  if (skip)
    process.stderr.write(`svclab: skipping suite ${topologyFile} (${config.label}): ${skip}\n`);
  let lab: Lab | undefined;
  let labExpect: LabExpect | undefined;
  let topology: Topology | undefined;

  beforeAll(async () => {
    if (skip) return;
    const t = await loadTopology(join(packageRoot(), 'topologies', topologyFile));
    opts.mutate?.(t);
    topology = t;
    lab = await getProvider(config.provider).up(t, {
      name: uniqueLabName(),
      proxy: config.proxy,
      proxyOptions: config.proxyOptions,
      progress: 'silent',
      ephemeral: true,
    });
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
    externalSkip,
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
