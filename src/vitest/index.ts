/**
 * `svclab/vitest`: the lab fixture for vitest suites. In vitest.config.ts add the global setup,
 * which builds nothing in an installed package but sweeps labs crashed runs left and checks that
 * the host's root network namespace is unchanged after the run:
 *
 *   test: { globalSetup: ['svclab/vitest/global-setup'] }
 */
export {
  useLab,
  uniqueLabName,
  type LabFixture,
  type UseLabOptions,
} from '../harness/lab-fixture.js';
export { suiteConfig, type LabChoice, type SuiteConfig } from '../harness/config.js';
export { skipWhen } from '../harness/skip.js';
export type { SkipCause } from '../harness/declared-skips.js';
export type { TopologySource } from '../model/source.js';
