import { describe, it } from 'vitest';
import { useLab } from '../../src/harness/lab-fixture.js';

// ClientIP session affinity as upstream e2e checks it: 15 identical answers in a row
// (AffinityConfirmCount), for ClusterIP and NodePort; it expires after timeoutSeconds; switching
// it off and on behaves. With None, answers spread across all backends (a chi-square test, not
// "at least two").
const f = useLab('three-node.yaml');
const backends = ['web-a', 'web-b', 'web-c'];

describe.skipIf(f.skip)(`session-affinity (${f.config.label})`, () => {
  it('ClientIP: 15 requests in a row to the ClusterIP are answered by one backend (TCP)', async () => {
    const obs = await f.lab.probe('client-a', f.lab.service('web-affinity').clusterIP('http'), {
      count: 20,
    });
    await f.expect.affinityHolds(obs);
  });

  it('ClientIP: holds for UDP, each datagram from a new source port', async () => {
    const obs = await f.lab.probe('client-b', f.lab.service('web-affinity').clusterIP('udp'), {
      count: 20,
    });
    await f.expect.affinityHolds(obs);
  });

  it.skipIf(f.externalSkip)(
    'ClientIP: holds through a NodePort from an external host',
    async () => {
      const obs = await f.lab.probe(
        'client',
        f.lab.service('web-affinity').nodePort('http', 'node-c'),
        { count: 20 },
      );
      await f.expect.affinityHolds(obs);
    },
  );

  it('None: answers spread evenly over all three backends', async () => {
    const obs = await f.lab.probe('client-a', f.lab.service('web').clusterIP('http'), {
      count: 90,
      concurrency: 4,
    });
    await f.expect.spreadEvenly(obs, backends);
  });

  it('switching ClientIP -> None -> ClientIP takes effect each time', async () => {
    const target = () => f.lab.service('web-affinity').clusterIP('http');
    await f.lab.update((t) => {
      t.services.find((s) => s.name === 'web-affinity')!.sessionAffinity = 'None';
    });
    await f.expect.spreadEvenly(
      await f.lab.probe('client-b', target(), { count: 90, concurrency: 4 }),
      backends,
    );
    await f.lab.update((t) => {
      t.services.find((s) => s.name === 'web-affinity')!.sessionAffinity = 'ClientIP';
    });
    await f.expect.affinityHolds(await f.lab.probe('client-b', target(), { count: 20 }));
  });

  it('the affinity expires after timeoutSeconds of silence', async () => {
    const ipvs = f.config.proxy === 'ipvs';
    // IPVS persistence is a template that lives while it controls connection entries; when its
    // timer fires while one still exists, the kernel re-arms it for 60 s (ip_vs_conn_expire), so
    // timeoutSeconds is only honoured when it exceeds the connection timeout. iptables' `recent`
    // and nftables' timed sets have no such coupling.
    const timeoutSeconds = ipvs ? 3 : 1;
    await f.lab.update((t) => {
      const s = t.services.find((x) => x.name === 'web-affinity')!;
      s.sessionAffinity = 'ClientIP';
      s.sessionAffinityTimeoutSeconds = timeoutSeconds;
    });
    const target = f.lab.service('web-affinity').clusterIP('udp');
    if (ipvs) {
      // With the kernel's default UDP timeout (300 s) a client stays pinned long after
      // timeoutSeconds (shown from node-b, a client with no earlier template). Then shorten the
      // UDP timeout as kube-proxy's --ipvs-udp-timeout does, before client-a's first request.
      const pinned = await f.lab.probe('node-b', target, {
        count: 4,
        intervalMs: (timeoutSeconds + 1) * 1000,
      });
      await f.expect.answeredBy(pinned, [pinned.attempts[0]!.backend!]);
      for (const node of ['node-a', 'node-b', 'node-c'])
        await f.lab.exec(node, ['ipvsadm', '--set', '0', '0', '1']);
    }
    // Within the timeout, affinity holds...
    await f.expect.affinityHolds(await f.lab.probe('client-a', target, { count: 15 }));
    // ...and with more than the timeout between requests (and, for IPVS, after the 1 s entry
    // expired), each one is balanced afresh. 10 requests over 3 backends all landing on one by
    // chance: 3 x (1/3)^10, about 1 in 20,000.
    const spaced = await f.lab.probe('client-a', target, {
      count: 10,
      intervalMs: timeoutSeconds * 1000 + 1300,
    });
    await f.expect.affinityBroken(spaced);
  }, 150_000);
});
