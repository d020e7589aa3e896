import { describe, it } from 'vitest';
import { useLab } from '../../src/harness/lab-fixture.js';

// internalTrafficPolicy=Local: cluster traffic only goes to endpoints on the client's own node
// (upstream e2e "should respect internalTrafficPolicy=Local Pod to Pod"). itp-local's only
// endpoint is web-a on node-a.
const f = useLab('three-node.yaml');

describe.skipIf(f.skip)(`policies (${f.config.label})`, () => {
  it("internalTrafficPolicy=Local: a client on the endpoint's node is answered, with its own IP", async () => {
    const obs = await f.lab.probe('client-a', f.lab.service('itp-local').clusterIP('http'), {
      count: 6,
    });
    await f.expect.answeredBy(obs, ['web-a']);
    await f.expect.sourcePreserved(obs, f.ip('client-a'));
  });

  it('internalTrafficPolicy=Local: a client on another node is not answered', async () => {
    const obs = await f.lab.probe('client-b', f.lab.service('itp-local').clusterIP('http'), {
      count: 3,
      timeoutMs: 700,
    });
    await f.expect.notAnswered(obs);
  });

  it('switching internalTrafficPolicy back to Cluster lets the other node through', async () => {
    await f.lab.update((t) => {
      t.services.find((s) => s.name === 'itp-local')!.internalTrafficPolicy = 'Cluster';
    });
    const obs = await f.lab.probe('client-b', f.lab.service('itp-local').clusterIP('http'), {
      count: 3,
    });
    await f.expect.answeredBy(obs, ['web-a']);
  });
});
