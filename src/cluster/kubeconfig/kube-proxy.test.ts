import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { packageRoot } from '../../cli/package-root.js';
import { loadTopology } from '../../model/index.js';
import { startFakeApiServer, type FakeClusterInit } from './fake-apiserver.js';
import {
  kubeProxySynced,
  markKubeProxy,
  parseKubeProxyMetrics,
  proxyInputsChanged,
  restartKubeProxyPods,
  waitKubeProxySynced,
} from './kube-proxy.js';

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

async function fake(init: FakeClusterInit) {
  const f = await startFakeApiServer(init);
  close = f.close;
  return f;
}

const metricsReads = (requests: string[], node: string) =>
  requests.filter((r) => r === `GET /api/v1/nodes/${node}:10249/proxy/metrics`).length;

describe('kube-proxy metrics', () => {
  it('reads the sync gauges per IP family (1.3x) and unlabelled (older releases)', () => {
    const labelled = parseKubeProxyMetrics(
      [
        '# HELP kubeproxy_sync_proxy_rules_last_timestamp_seconds The last time proxy rules were successfully synced',
        'kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 1.7e+09',
        'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family="IPv4"} 1.6e+09',
        'kubeproxy_sync_proxy_rules_service_changes_pending 1',
        'kubeproxy_sync_proxy_rules_endpoint_changes_pending 2',
        'process_start_time_seconds 1.5e+09',
      ].join('\n'),
    );
    expect(labelled).toEqual({
      lastSynced: { IPv4: 1.7e9 },
      lastQueued: { IPv4: 1.6e9 },
      pending: 3,
      startTime: 1.5e9,
    });
    expect(
      parseKubeProxyMetrics('kubeproxy_sync_proxy_rules_last_timestamp_seconds 5\n').lastSynced,
    ).toEqual({ '': 5 });
    expect(() => parseKubeProxyMetrics('go_goroutines 10\n')).toThrow(/not kube-proxy/);
  });

  it('synced: a change received after the mark, nothing pending, and a sync that ended after it', () => {
    const state = (synced: number, queued: number, pending = 0) => ({
      lastSynced: { IPv4: synced },
      lastQueued: { IPv4: queued },
      pending,
      startTime: 1,
    });
    const mark = state(10, 9);
    expect(kubeProxySynced(state(10, 9), mark)).toMatch(/no change received/);
    expect(kubeProxySynced(state(10, 11, 1), mark)).toMatch(/1 changes pending/);
    // The sync that took the change has started (pending 0) but not finished.
    expect(kubeProxySynced(state(10, 11), mark)).toMatch(/older than the last change/);
    expect(kubeProxySynced(state(12, 11), mark)).toBeUndefined();
    // A kube-proxy that just started: its first sync is what counts.
    expect(kubeProxySynced(state(0, 0))).toMatch(/no sync yet/);
    expect(kubeProxySynced(state(3, 0))).toBeUndefined();
  });
});

describe('waiting for kube-proxy (fake API server with a kube-proxy per node)', () => {
  it('does not return while a change is queued, and returns once it is synced', async () => {
    const { api, cluster } = await fake({ kubeProxyNodes: ['n1'] });
    const kp = cluster.kubeProxies.get('n1')!;
    const mark = await markKubeProxy(api, ['n1']);
    kp.queue();
    let done = false;
    const waiting = waitKubeProxySynced(api, mark, 10_000).then(() => (done = true));
    await vi.waitFor(() => expect(metricsReads(cluster.requests, 'n1')).toBeGreaterThan(3), {
      timeout: 5_000,
    });
    expect(done).toBe(false);
    kp.sync();
    await waiting;
    expect(done).toBe(true);
  });

  it('a change kube-proxy synced before the wait began is not waited for again (no periodic resync)', async () => {
    const { api, cluster } = await fake({ kubeProxyNodes: ['n1', 'n2'] });
    const mark = await markKubeProxy(api, ['n1', 'n2']);
    for (const kp of cluster.kubeProxies.values()) {
      kp.queue();
      kp.sync();
    }
    const syncs = [...cluster.kubeProxies.values()].map((k) => k.syncs);
    // Short deadline: nothing in the fake would sync again; waiting for a later sync would time out.
    await expect(waitKubeProxySynced(api, mark, 2_000)).resolves.toEqual([]);
    expect([...cluster.kubeProxies.values()].map((k) => k.syncs)).toEqual(syncs);
  });

  it('says so when a node’s metrics cannot be read (metricsBindAddress on localhost)', async () => {
    const { api } = await fake({ kubeProxyNodes: ['n1'] });
    const mark = await markKubeProxy(api, ['n1', 'managed-node']);
    expect(mark.notes).toEqual([expect.stringMatching(/could not confirm .*managed-node/)]);
    expect([...mark.states.keys()]).toEqual(['n1']);
  });
});

describe('restarting kube-proxy on the lab’s nodes (fake API server)', () => {
  it('deletes the DaemonSet pods on those nodes only and waits for the new processes’ first sync', async () => {
    const { api, cluster } = await fake({
      kubeProxyNodes: ['n1', 'n2', 'other'],
      kubeProxy: { syncAfterReads: 2 },
    });
    const before = [...cluster.kubeProxyPods.keys()];
    const starts = new Map([...cluster.kubeProxies].map(([n, k]) => [n, k.startTime]));
    await restartKubeProxyPods(api, ['n1', 'n2']);
    const deleted = cluster.requests.filter((r) =>
      r.startsWith('DELETE /api/v1/namespaces/kube-system/pods/'),
    );
    expect(deleted.sort()).toEqual([
      'DELETE /api/v1/namespaces/kube-system/pods/kube-proxy-n1-1',
      'DELETE /api/v1/namespaces/kube-system/pods/kube-proxy-n2-1',
    ]);
    expect([...cluster.kubeProxyPods.keys()].sort()).toEqual(
      ['kube-proxy-n1-2', 'kube-proxy-n2-2', 'kube-proxy-other-1'].sort(),
    );
    expect(before).toContain('kube-proxy-other-1');
    for (const n of ['n1', 'n2']) {
      const kp = cluster.kubeProxies.get(n)!;
      expect(kp.startTime).not.toBe(starts.get(n));
      expect(kp.syncs).toBe(1); // returned after the restarted process synced, not before
    }
    expect(cluster.kubeProxies.get('other')!.startTime).toBe(starts.get('other'));
  });

  it('refuses, naming the node, where kube-proxy is not kubeadm’s DaemonSet', async () => {
    const { api } = await fake({ kubeProxyNodes: ['n1'] });
    await expect(restartKubeProxyPods(api, ['n1', 'n9'])).rejects.toThrow(
      /no kube-proxy pod .* on n9/,
    );
  });
});

describe('proxyInputsChanged: only edits kube-proxy reads have a sync to wait for', () => {
  const topo = () => loadTopology(join(packageRoot(), 'topologies', 'three-node.yaml'));

  it('endpoint conditions, affinity and LoadBalancer IPs count; ignored fields do not', async () => {
    const prev = await topo();
    const edit = (f: (t: typeof prev) => void) => {
      const next = structuredClone(prev);
      f(next);
      return proxyInputsChanged(prev, next);
    };
    expect(edit(() => undefined)).toBe(false);
    expect(edit((t) => (t.pods.find((p) => p.name === 'web-a')!.ready = false))).toBe(true);
    expect(
      edit((t) => (t.services.find((s) => s.name === 'web')!.sessionAffinity = 'ClientIP')),
    ).toBe(true);
    expect(
      edit(
        (t) =>
          (t.services.find((s) => s.name === 'web-local')!.loadBalancerIPs = ['172.18.200.11']),
      ),
    ).toBe(true);
    // A label no selector reads, a pod no Service selects, an affinity timeout without affinity.
    expect(edit((t) => (t.pods.find((p) => p.name === 'web-c')!.labels.extra = 'x'))).toBe(false);
    expect(edit((t) => (t.pods.find((p) => p.name === 'client-a')!.ready = false))).toBe(false);
    expect(
      edit((t) => (t.services.find((s) => s.name === 'web')!.sessionAffinityTimeoutSeconds = 60)),
    ).toBe(false);
  });
});
