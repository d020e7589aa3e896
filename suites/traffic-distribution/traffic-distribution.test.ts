import { describe, it } from 'vitest';
import { scaledDeadline } from '../../src/exec/index.js';
import { useLab } from '../../src/harness/lab-fixture.js';
import type { TrafficDistribution } from '../../src/model/types.js';

// spec.trafficDistribution (KEP-4444, KEP-3015): the EndpointSlice controller hints each ready
// endpoint for its Node's zone (and, for PreferSameNode, its node: k8s.io/endpointslice
// trafficdist), and kube-proxy narrows a node's ClusterIP endpoints to those hinted for its own
// zone, but only when every ready endpoint has a hint and one is for that zone; otherwise every
// endpoint is used (pkg/proxy/topology.go CategorizeEndpoints, topologyModeFromHints). Upstream
// e2e: test/e2e/network/traffic_distribution.go.
//
// three-node.yaml: node-a in zone-a, node-b in zone-b, node-c without a zone. web-local's
// endpoints are web-a and web-b (one per zone), solo's only web-b, web's web-a, web-b and web-c
// (the last one zoneless, so unhinted).
const PREFER_CLOSE = ['web', 'web-local', 'solo'];
const f = useLab('three-node.yaml', {
  mutate: (t) => {
    for (const s of t.services) if (PREFER_CLOSE.includes(s.name)) s.trafficDistribution = 'PreferClose'; // prettier-ignore
  },
});

/** Enough requests that missing one of three equally likely backends is a 1e-7 event. */
const MANY = 40;
/**
 * Every request here is expected to be answered: under software emulation (the VM) one of 40
 * HTTP answers took over the probe's default 2 s, so the wait is scaled like every other deadline.
 */
const ANSWER_MS = scaledDeadline(2000);

const setTrafficDistribution = (service: string, td: TrafficDistribution | undefined) =>
  f.lab.update((t) => {
    const s = t.services.find((x) => x.name === service)!;
    if (td === undefined) delete s.trafficDistribution;
    else s.trafficDistribution = td;
  });

const skip = f.skipFor(
  'node-labels',
  f.config.provider === 'kubeconfig' && "an existing cluster's Nodes have their own zones",
);

describe.skipIf(skip)(`traffic-distribution (${f.config.label})`, () => {
  it("PreferClose: a client in zone-a reaches only zone-a's endpoint", async () => {
    const vip = f.lab.service('web-local').clusterIP('http');
    const obs = await f.lab.probe('client-a', vip, { count: MANY, timeoutMs: ANSWER_MS });
    await f.expect.answeredBy(obs, ['web-a']);
    await f.expect.sourcePreserved(obs, f.ip('client-a'));
  });

  it("PreferClose: a client in zone-b reaches only zone-b's endpoint, over UDP too", async () => {
    const tcp = await f.lab.probe('client-b', f.lab.service('web-local').clusterIP('http'), {
      count: MANY,
      timeoutMs: ANSWER_MS,
    });
    await f.expect.answeredBy(tcp, ['web-b']);
    const udp = await f.lab.probe('client-b', f.lab.service('web-local').clusterIP('udp'), {
      count: 10,
    });
    await f.expect.answeredBy(udp, ['web-b']);
  });

  it('PreferClose: a node without a zone label reaches every endpoint', async () => {
    const obs = await f.lab.probe('node-c', f.lab.service('web-local').clusterIP('http'), {
      count: MANY,
      timeoutMs: ANSWER_MS,
    });
    await f.expect.answeredBy(obs, ['web-a', 'web-b'], { all: true });
  });

  it("PreferClose: no endpoint in the client's zone, the other zone's are used", async () => {
    const obs = await f.lab.probe('client-a', f.lab.service('solo').clusterIP('http'), {
      count: 10,
    });
    await f.expect.answeredBy(obs, ['web-b']);
  });

  it('PreferClose: one endpoint without a hint (zoneless node-c), and every endpoint is used', async () => {
    const obs = await f.lab.probe('client-a', f.lab.service('web').clusterIP('http'), {
      count: MANY,
      timeoutMs: ANSWER_MS,
    });
    await f.expect.answeredBy(obs, ['web-a', 'web-b', 'web-c'], { all: true });
  });

  it("PreferSameNode: node hints on every endpoint, so each client reaches its own node's", async () => {
    await setTrafficDistribution('web', 'PreferSameNode');
    const vip = f.lab.service('web').clusterIP('http');
    await f.expect.answeredBy(
      await f.lab.probe('client-a', vip, { count: MANY, timeoutMs: ANSWER_MS }),
      ['web-a'],
    );
    await f.expect.answeredBy(
      await f.lab.probe('client-b', vip, { count: MANY, timeoutMs: ANSWER_MS }),
      ['web-b'],
    );
    await f.expect.answeredBy(
      await f.lab.probe('node-c', vip, { count: MANY, timeoutMs: ANSWER_MS }),
      ['web-c'],
    );
  });

  it('removing trafficDistribution removes the hints: every endpoint again', async () => {
    await setTrafficDistribution('web-local', undefined);
    const obs = await f.lab.probe('client-a', f.lab.service('web-local').clusterIP('http'), {
      count: MANY,
      timeoutMs: ANSWER_MS,
    });
    await f.expect.answeredBy(obs, ['web-a', 'web-b'], { all: true });
  });
});
