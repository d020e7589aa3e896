import { describe, it } from 'vitest';
import { useLab } from '../../src/harness/lab-fixture.js';

// ClusterIP traffic from pods is DNATed only: the backend sees the client pod's own IP, on the
// same node and across nodes (upstream e2e "should preserve source pod IP for traffic thru
// service cluster IP").
const f = useLab('three-node.yaml');

describe.skipIf(f.skip)(`cross-node (${f.config.label})`, () => {
  it('reaches a Service whose only endpoint is on another node, keeping the pod source IP', async () => {
    const obs = await f.lab.probe('client-a', f.lab.service('solo').clusterIP('http'), {
      count: 10,
    });
    await f.expect.answeredBy(obs, ['web-b']);
    await f.expect.sourcePreserved(obs, f.ip('client-a'));
  });

  it('keeps the source for UDP across nodes', async () => {
    const obs = await f.lab.probe('client-a', f.lab.service('solo').clusterIP('udp'), {
      count: 10,
    });
    await f.expect.answeredBy(obs, ['web-b']);
    await f.expect.sourcePreserved(obs, f.ip('client-a'));
  });

  it('keeps the source on the same node', async () => {
    const obs = await f.lab.probe('client-b', f.lab.service('solo').clusterIP('http'), {
      count: 10,
    });
    await f.expect.answeredBy(obs, ['web-b']);
    await f.expect.sourcePreserved(obs, f.ip('client-b'));
  });

  it('pods reach pods on other nodes directly (the pod network itself)', async () => {
    const obs = await f.lab.probe('client-a', f.lab.destination(`web-c:8080`), { count: 3 });
    await f.expect.answeredBy(obs, ['web-c']);
    await f.expect.sourcePreserved(obs, f.ip('client-a'));
  });

  it("a node's own network namespace (hostNetwork) reaches the Service", async () => {
    const obs = await f.lab.probe('node-a', f.lab.service('solo').clusterIP('http'), { count: 5 });
    await f.expect.answeredBy(obs, ['web-b']);
    // Traffic from outside the cluster CIDR is masqueraded (kube-proxy's cluster-CIDR rule);
    // either way the source is node-a's own address.
    await f.expect.sourcePreserved(obs, f.ip('node-a'));
  });

  it('reaches a Service backed by a hostNetwork pod (endpoint = node IP)', async () => {
    const obs = await f.lab.probe('client-a', f.lab.service('host-svc').clusterIP('http'), {
      count: 5,
    });
    await f.expect.answeredBy(obs, ['node-c']);
  });
});
