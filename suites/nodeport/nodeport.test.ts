import { describe, it } from 'vitest';
import { useLab } from '../../src/harness/lab-fixture.js';

// NodePorts from an external host on the node network (upstream e2e "should be able to create a
// functioning NodePort service", "should only target nodes with endpoints" for
// externalTrafficPolicy=Local).
const f = useLab('three-node.yaml', { needsExternalHost: true });
const nodes = ['node-a', 'node-b', 'node-c'];

describe.skipIf(f.skip)(`nodeport (${f.config.label})`, () => {
  for (const node of nodes) {
    it(`externalTrafficPolicy=Cluster: ${node} answers over TCP, and the backend sees ${node}'s address`, async () => {
      const obs = await f.lab.probe('client', f.lab.service('web').nodePort('http', node), {
        count: 6,
      });
      await f.expect.answeredBy(obs, ['web-a', 'web-b', 'web-c']);
      await f.expect.sourceNatted(obs, {
        clientIP: f.ip('client'),
        to: f.lab.masqueradeAddresses(node),
      });
    });

    it(`externalTrafficPolicy=Cluster: ${node} answers over UDP`, async () => {
      const obs = await f.lab.probe('client', f.lab.service('web').nodePort('udp', node), {
        count: 6,
      });
      await f.expect.answeredBy(obs, ['web-a', 'web-b', 'web-c']);
      await f.expect.sourceNatted(obs, {
        clientIP: f.ip('client'),
        to: f.lab.masqueradeAddresses(node),
      });
    });
  }

  for (const [node, local] of [
    ['node-a', 'web-a'],
    ['node-b', 'web-b'],
  ] as const) {
    it(`externalTrafficPolicy=Local: ${node} answers only from its local endpoint ${local}, with the client's IP`, async () => {
      for (const port of ['http', 'udp']) {
        const obs = await f.lab.probe('client', f.lab.service('web-local').nodePort(port, node), {
          count: 6,
        });
        await f.expect.answeredBy(obs, [local]);
        await f.expect.sourcePreserved(obs, f.ip('client'));
      }
    });
  }

  it('externalTrafficPolicy=Local: a node without a local endpoint does not answer', async () => {
    const obs = await f.lab.probe('client', f.lab.service('web-local').nodePort('http', 'node-c'), {
      count: 3,
      timeoutMs: 700,
    });
    await f.expect.notAnswered(obs);
  });

  it('a pod reaches a NodePort on another node', async () => {
    const obs = await f.lab.probe('client-a', f.lab.service('web').nodePort('http', 'node-b'), {
      count: 6,
    });
    await f.expect.answeredBy(obs, ['web-a', 'web-b', 'web-c']);
  });
});
