import { describe, expect, it } from 'vitest';
import { hostHasIpvs } from '../harness/requirements.js';
import { skipWhen } from '../harness/skip.js';
import { CONSTANT } from './attribute.js';
import {
  expectEveryThreeNodeServicePort,
  expectLabGone,
  fidelityWithoutDifferences,
} from './fidelity-e2e.test-helper.js';

/**
 * `svclab fidelity --mode ipvs` on three-node.yaml: the real kube-proxy in IPVS mode against
 * svclab's IPVS planner in node-a's twin namespace, compared on virtual servers and real servers,
 * ipsets, kube-ipvs0's addresses, the IPVS sysctls and the iptables rules. Zero undeclared
 * differences, every Service port of the topology compared with lines on both sides, nothing of
 * the lab left behind. IPVS needs IP_VS: on a host kernel without it npm test runs this file in
 * the VM (scripts/test.sh), whose kernel has it.
 */
const skip =
  skipWhen('root', process.getuid?.() !== 0 && 'needs root') ??
  skipWhen(
    'ipvs-kernel',
    !hostHasIpvs() && 'the kernel has no IP_VS: npm test runs this file in the VM',
    { proxy: 'ipvs', mode: 'fidelity-ipvs' },
  );

describe.skipIf(skip)('svclab fidelity --mode ipvs', () => {
  it("finds no undeclared difference between kube-proxy's IPVS state and svclab's", async () => {
    const report = await fidelityWithoutDifferences(['--mode', 'ipvs']);
    await expectEveryThreeNodeServicePort(report, 'ipvs');
    // The constant part (set definitions, set-matching rules, timeouts, kube-ipvs0, sysctls) is
    // identical, with nothing declared.
    const constant = report.results.find((x) => x.servicePort === CONSTANT)!;
    expect(constant.status).toBe('identical');
    expectLabGone(report, /^fid-ipv-/);
  }, 600_000);
});
