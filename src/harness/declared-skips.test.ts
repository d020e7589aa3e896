import { describe, expect, it } from 'vitest';
import {
  declaredSkipFor,
  type Capabilities,
  type SkipCause,
  type SkipSite,
} from './declared-skips.js';

// Which skips a machine may have: table rows are (cause, site, capabilities) -> declared or not.
const here: Capabilities = {
  root: true,
  ipvsKernel: false,
  qemu: true,
  dockerd: false,
  inVm: false,
};
const cases: [string, SkipCause, SkipSite, Partial<Capabilities>, boolean][] = [
  [
    "zones on an existing cluster's Nodes are its own",
    'node-labels',
    { suite: 'suites/traffic-distribution/traffic-distribution.test.ts', provider: 'kubeconfig' },
    {},
    true,
  ],
  [
    "zones are the topology's on every provider svclab builds",
    'node-labels',
    { suite: 'suites/traffic-distribution/traffic-distribution.test.ts', provider: 'netns' },
    {},
    false,
  ],
  ['not root', 'root', { suite: 'suites/hairpin/hairpin.test.ts' }, { root: false }, true],
  [
    'root claimed missing while root',
    'root',
    { suite: 'suites/hairpin/hairpin.test.ts' },
    {},
    false,
  ],
  [
    'a missing tool is never expected',
    'tools',
    { suite: 'suites/hairpin/x.test.ts', proxy: 'iptables' },
    {},
    false,
  ],
  [
    'IPVS kernel tests on a host without IP_VS (rerun in the VM)',
    'ipvs-kernel',
    { suite: 'src/proxy/ipvs/apply.e2e.test.ts', proxy: 'ipvs' },
    {},
    true,
  ],
  [
    'the same inside the VM',
    'ipvs-kernel',
    { suite: 'src/proxy/ipvs/apply.e2e.test.ts', proxy: 'ipvs' },
    { inVm: true },
    false,
  ],
  [
    'IPVS suites skipped although QEMU could run them',
    'ipvs-kernel',
    { suite: 'suites/hairpin/x.test.ts', proxy: 'ipvs' },
    {},
    false,
  ],
  [
    'IPVS suites where neither kernel nor QEMU has IPVS',
    'ipvs-kernel',
    { suite: 'suites/hairpin/x.test.ts', proxy: 'ipvs' },
    { qemu: false },
    true,
  ],
  [
    'the IPVS suite in iptables mode',
    'mode',
    { suite: 'suites/ipvs/ipvs.test.ts', proxy: 'iptables' },
    {},
    true,
  ],
  [
    'the IPVS suite skipped in IPVS mode',
    'mode',
    { suite: 'suites/ipvs/ipvs.test.ts', proxy: 'ipvs' },
    {},
    false,
  ],
  [
    'a mode skip in a suite that runs in every mode',
    'mode',
    { suite: 'suites/hairpin/x.test.ts', proxy: 'nftables' },
    {},
    false,
  ],
  [
    'docker without dockerd',
    'docker',
    { suite: 'run:suites-docker-iptables', provider: 'docker' },
    {},
    true,
  ],
  [
    'docker with dockerd installed',
    'docker',
    { suite: 'run:suites-docker-iptables', provider: 'docker' },
    { dockerd: true },
    false,
  ],
  ['the VM runner with QEMU installed', 'vm', { suite: 'src/vm/vm.e2e.test.ts' }, {}, false],
  [
    'the no-IP_VS message test on an IPVS kernel',
    'kernel-has-ipvs',
    { suite: 'src/cli/cli.e2e.test.ts' },
    { ipvsKernel: true },
    true,
  ],
];

describe('declaredSkipFor', () => {
  it.each(cases)('%s', (_name, cause, site, caps, declared) => {
    expect(declaredSkipFor(cause, site, { ...here, ...caps }) !== undefined).toBe(declared);
  });
});
