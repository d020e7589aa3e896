import { describe, it, type TestContext } from 'vitest';
import { useLab } from '../../src/harness/lab-fixture.js';

// externalIPs and LoadBalancer ingress IPs are not assigned to any node: the external host has
// routes for them via node-a, as an upstream router or cloud load balancer would (upstream e2e
// "should be possible to connect to a service via ExternalIP when the external IP is not
// assigned to a node").
// The client must be outside the cluster: where the lab's external host is a cluster node's
// hostNetwork pod (--provider kubeconfig), that node's own kube-proxy rewrites the traffic before
// it is routed to node-a, and these cases skip with the reason (Lab.cannot('outside-client')).
const f = useLab('three-node.yaml');
const outside = (ctx: TestContext) => {
  const why = f.lab.cannot('outside-client');
  if (why) ctx.skip(why);
};

describe.skipIf(f.skip)(`external-ip (${f.config.label})`, () => {
  it('an external IP is reached from outside, TCP and UDP, masqueraded to the receiving node', async (ctx) => {
    outside(ctx);
    for (const port of ['http', 'udp']) {
      const obs = await f.lab.probe('client', f.lab.service('web').externalIP(port), { count: 6 });
      await f.expect.answeredBy(obs, ['web-a', 'web-b', 'web-c']);
      await f.expect.sourceNatted(obs, {
        clientIP: f.ip('client'),
        to: f.lab.masqueradeAddresses('node-a'),
      });
    }
  });

  it('a LoadBalancer IP with externalTrafficPolicy=Local keeps the client IP and uses the local endpoint', async (ctx) => {
    outside(ctx);
    for (const port of ['http', 'udp']) {
      const obs = await f.lab.probe('client', f.lab.service('web-local').loadBalancer(port), {
        count: 6,
      });
      await f.expect.answeredBy(obs, ['web-a']);
      await f.expect.sourcePreserved(obs, f.ip('client'));
    }
  });

  it('an external IP with externalTrafficPolicy=Local keeps the client IP', async (ctx) => {
    outside(ctx);
    const obs = await f.lab.probe('client', f.lab.service('web-local').externalIP('http'), {
      count: 6,
    });
    await f.expect.answeredBy(obs, ['web-a']);
    await f.expect.sourcePreserved(obs, f.ip('client'));
  });

  it('a pod reaches an external IP of a Service (short-circuited inside the cluster)', async () => {
    const obs = await f.lab.probe('client-b', f.lab.service('web').externalIP('http'), {
      count: 6,
    });
    await f.expect.answeredBy(obs, ['web-a', 'web-b', 'web-c']);
  });
});
