import { describe, it } from 'vitest';
import { useLab } from '../../src/harness/lab-fixture.js';

// A pod that reaches itself through its own Service: the packet leaves the pod, is DNATed back to
// the same pod, and must be masqueraded or the reply would go pod -> pod directly and be dropped
// as a martian by the client socket (upstream e2e "should be able to reach pod on ipv4 via
// hairpin"; kube-proxy marks `-s <endpoint>` in every KUBE-SEP chain for this).
const f = useLab('three-node.yaml');

describe.skipIf(f.skip)(`hairpin (${f.config.label})`, () => {
  it('a pod reaches itself through its ClusterIP, and sees the node address, not its own', async () => {
    const obs = await f.lab.probe('web-b', f.lab.service('solo').clusterIP('http'), { count: 5 });
    await f.expect.answeredBy(obs, ['web-b']);
    await f.expect.sourceNatted(obs, {
      clientIP: f.ip('web-b'),
      to: f.lab.masqueradeAddresses('node-b'),
    });
  });

  it('hairpin works for UDP too', async () => {
    const obs = await f.lab.probe('web-b', f.lab.service('solo').clusterIP('udp'), { count: 5 });
    await f.expect.answeredBy(obs, ['web-b']);
    await f.expect.sourceNatted(obs, {
      clientIP: f.ip('web-b'),
      to: f.lab.masqueradeAddresses('node-b'),
    });
  });

  it("a pod reaches itself through its own node's NodePort", async () => {
    const obs = await f.lab.probe('web-b', f.lab.service('solo').nodePort('http', 'node-b'), {
      count: 5,
    });
    await f.expect.answeredBy(obs, ['web-b']);
    await f.expect.sourceNatted(obs, {
      clientIP: f.ip('web-b'),
      to: f.lab.masqueradeAddresses('node-b'),
    });
  });
});
