import { describe, it } from 'vitest';
import { useLab } from '../../src/harness/lab-fixture.js';

// A Service without endpoints must be refused at once, not left to time out (upstream e2e
// "should be rejected when no endpoints exist"; kube-proxy REJECTs in the filter table,
// kubernetes/kubernetes#48719).
const f = useLab('three-node.yaml');

describe.skipIf(f.skip)(`no-endpoints (${f.config.label})`, () => {
  it('TCP to the ClusterIP is refused, not timed out', async () => {
    const obs = await f.lab.probe('client-a', f.lab.service('empty').clusterIP('http'), {
      count: 3,
      timeoutMs: 3000,
    });
    await f.expect.rejected(obs);
  });

  it('UDP to the ClusterIP gets ICMP port unreachable (refused)', async () => {
    const obs = await f.lab.probe('client-a', f.lab.service('empty').clusterIP('udp'), {
      count: 3,
      timeoutMs: 3000,
    });
    await f.expect.rejected(obs);
  });

  it.skipIf(f.externalSkip)('the NodePort is refused from an external host', async () => {
    const obs = await f.lab.probe('client', f.lab.service('empty').nodePort('http', 'node-b'), {
      count: 3,
      timeoutMs: 3000,
    });
    await f.expect.rejected(obs);
  });

  it('a Service whose endpoints all went away becomes refused, and recovers when they return', async () => {
    const target = f.lab.service('solo').clusterIP('http');
    await f.lab.update((t) => {
      t.pods.find((p) => p.name === 'web-b')!.ready = false;
    });
    await f.expect.rejected(await f.lab.probe('client-a', target, { count: 3, timeoutMs: 3000 }));
    await f.lab.update((t) => {
      t.pods.find((p) => p.name === 'web-b')!.ready = true;
    });
    await f.expect.answeredBy(await f.lab.probe('client-a', target, { count: 3 }), ['web-b']);
  });
});
