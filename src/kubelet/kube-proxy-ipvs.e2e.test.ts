import { describe } from 'vitest';
import { hostHasIpvs } from '../harness/requirements.js';
import { skipWhen } from '../harness/skip.js';
import { realKubeProxyCases } from './kube-proxy-cases.test-helper.js';

// The real kube-proxy in IPVS mode needs IP_VS and dummy interfaces: on a host kernel without
// them npm test runs this file inside the VM (scripts/test.sh), whose kernel has both.
const skip =
  skipWhen('root', process.getuid?.() !== 0 && 'needs root') ??
  skipWhen(
    'ipvs-kernel',
    !hostHasIpvs() && 'the kernel has no IP_VS: npm test runs this file in the VM',
    { proxy: 'ipvs', mode: 'kube-proxy-ipvs' },
  );

// two-node: the VM runs every process several times slower; the cases need two nodes, not three.
describe.skipIf(skip)('real kube-proxy, ipvs mode', () =>
  realKubeProxyCases('ipvs', 'two-node.yaml'),
);
