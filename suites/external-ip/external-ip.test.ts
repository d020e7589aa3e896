import { describe, expect, it, type TestContext } from 'vitest';
import { useLab } from '../../src/harness/lab-fixture.js';
import { cidrContains, parseCIDR, parseIPv4 } from '../../src/model/ipam.js';

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

/** What the external client gets from each node's health check of web-local. */
async function healthChecks(): Promise<Record<string, unknown>> {
  const client = await f.lab.agent('client');
  const out: Record<string, unknown> = {};
  for (const node of ['node-a', 'node-b', 'node-c']) {
    const dest = f.lab.service('web-local').healthCheck(node);
    const r = await client.httpGet({ host: dest.host, port: dest.port, timeoutMs: 3000 });
    if (!r.ok) {
      out[node] = { failure: r.failure, detail: r.detail };
      continue;
    }
    const h = r.headers ?? {};
    out[node] = {
      status: r.status,
      headers: {
        'content-type': h['content-type'],
        'x-content-type-options': h['x-content-type-options'],
        'x-load-balancing-endpoint-weight': h['x-load-balancing-endpoint-weight'],
      },
      body: JSON.parse(r.body ?? '') as unknown,
    };
  }
  return out;
}

function answer(status: number, localEndpoints: number) {
  return {
    status,
    headers: {
      'content-type': 'application/json',
      'x-content-type-options': 'nosniff',
      'x-load-balancing-endpoint-weight': String(localEndpoints),
    },
    body: {
      service: { namespace: 'default', name: 'web-local' },
      localEndpoints,
      serviceProxyHealthy: true,
    },
  };
}
const passing = (localEndpoints: number) => answer(200, localEndpoints);
const failing = () => answer(503, 0);

/** Whether a Service's loadBalancerSourceRanges hold `ip` (the suite's precondition). */
const inRanges = (service: string, ip: string) =>
  f.topology.services
    .find((s) => s.name === service)!
    .loadBalancerSourceRanges.some((r) => cidrContains(parseCIDR(r)!, parseIPv4(ip)!));

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

  // A cloud load balancer sends web-local's traffic only to nodes whose health check passes: it
  // asks each node on the Service's healthCheckNodePort (kube-proxy's service health server,
  // pkg/proxy/healthcheck/service_health.go; upstream e2e "should work for type=LoadBalancer"
  // with ESIPP). web-local's endpoints are web-a (node-a) and web-b (node-b), none on node-c.
  it("the healthCheckNodePort answers as kube-proxy's health server: 200 with the local endpoint count, 503 without", async () => {
    expect(await healthChecks()).toEqual({
      'node-a': passing(1),
      'node-b': passing(1),
      'node-c': failing(),
    });
  });

  it('a health check follows readiness: the node whose only endpoint became unready fails it, then passes again', async () => {
    const readiness = (ready: boolean) =>
      f.lab.update((t) => {
        t.pods.find((p) => p.name === 'web-b')!.ready = ready;
      });
    await readiness(false);
    try {
      expect(await healthChecks()).toEqual({
        'node-a': passing(1),
        'node-b': failing(),
        'node-c': failing(),
      });
    } finally {
      await readiness(true);
    }
    expect(await healthChecks()).toEqual({
      'node-a': passing(1),
      'node-b': passing(1),
      'node-c': failing(),
    });
  });

  // loadBalancerSourceRanges: kube-proxy firewalls the load-balancer IPs only (KUBE-FW and
  // KUBE-PROXY-FIREWALL, nftables' firewall-ips, IPVS' KUBE-SOURCE-RANGES-FIREWALL), dropping
  // clients outside the ranges; the NodePort and the ClusterIP stay open.
  it('a LoadBalancer IP answers a client inside loadBalancerSourceRanges', async (ctx) => {
    outside(ctx);
    expect(inRanges('lb-allowed', f.ip('client'))).toBe(true);
    const obs = await f.lab.probe('client', f.lab.service('lb-allowed').loadBalancer('http'), {
      count: 6,
    });
    await f.expect.answeredBy(obs, ['web-a', 'web-b', 'web-c']);
  });

  it('a LoadBalancer IP drops a client outside loadBalancerSourceRanges; its NodePort and ClusterIP stay open', async (ctx) => {
    outside(ctx);
    expect(inRanges('lb-denied', f.ip('client'))).toBe(false);
    const denied = f.lab.service('lb-denied');
    const dropped = await f.lab.probe('client', denied.loadBalancer('http'), {
      count: 3,
      timeoutMs: 700,
    });
    await f.expect.droppedSilently(dropped);
    // "nodeports are not subject to loadBalancerSourceRanges" (kube-proxy's proxier.go).
    const nodePort = await f.lab.probe('client', denied.nodePort('http', 'node-a'), { count: 6 });
    await f.expect.answeredBy(nodePort, ['web-a', 'web-b', 'web-c']);
    const clusterIP = await f.lab.probe('client-a', denied.clusterIP('http'), { count: 6 });
    await f.expect.answeredBy(clusterIP, ['web-a', 'web-b', 'web-c']);
  });

  it('a pod is subject to loadBalancerSourceRanges too: dropped at a LoadBalancer IP its address is not in', async () => {
    expect(inRanges('lb-allowed', f.ip('client-a'))).toBe(false);
    const obs = await f.lab.probe('client-a', f.lab.service('lb-allowed').loadBalancer('http'), {
      count: 3,
      timeoutMs: 700,
    });
    await f.expect.droppedSilently(obs);
  });

  it('a pod reaches an external IP of a Service (short-circuited inside the cluster)', async () => {
    const obs = await f.lab.probe('client-b', f.lab.service('web').externalIP('http'), {
      count: 6,
    });
    await f.expect.answeredBy(obs, ['web-a', 'web-b', 'web-c']);
  });
});
