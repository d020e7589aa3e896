import { afterEach, describe, expect, it } from 'vitest';
import { startFakeApiServer } from './fake-apiserver.js';
import {
  createLabNamespace,
  deleteLabNamespace,
  listLabNamespaces,
  sweepCandidates,
  type LabNamespace,
} from './namespace.js';
import { downClusterLab } from './cluster-up.js';
import { discoverProxyMode, modeFromKubeProxyConfig } from './proxy-mode.js';

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

async function fake(init: Parameters<typeof startFakeApiServer>[0] = {}) {
  const f = await startFakeApiServer(init);
  close = f.close;
  return f;
}

describe('lab namespace lifecycle (fake API server)', () => {
  it('creates a labelled namespace, lists it, deletes it', async () => {
    const { api, cluster } = await fake();
    await createLabNamespace(api, { lab: 'l1', namespace: 'svclab-l1', ephemeral: true });
    expect(cluster.namespaces.get('svclab-l1')?.metadata?.labels).toEqual({ 'svclab.lab': 'l1' });
    const listed = await listLabNamespaces(api);
    expect(listed.map((n) => [n.lab, n.namespace, n.ephemeral])).toEqual([
      ['l1', 'svclab-l1', true],
    ]);
    expect(await deleteLabNamespace(api, 'l1', 'svclab-l1')).toBe(true);
    expect(cluster.namespaces.has('svclab-l1')).toBe(false);
    expect(await deleteLabNamespace(api, 'l1', 'svclab-l1')).toBe(false);
  });

  it('never adopts an existing namespace', async () => {
    const { api } = await fake({
      namespaces: new Map([['team-a', { metadata: { name: 'team-a' } }]]),
    });
    await expect(
      createLabNamespace(api, { lab: 'l1', namespace: 'team-a', ephemeral: false }),
    ).rejects.toThrow(/does not adopt/);
  });

  it('never deletes a namespace without the lab label', async () => {
    const { api, cluster } = await fake({
      namespaces: new Map([
        ['team-a', { metadata: { name: 'team-a', labels: { 'svclab.lab': 'other' } } }],
      ]),
    });
    await expect(deleteLabNamespace(api, 'l1', 'team-a')).rejects.toThrow(/will not delete/);
    expect(cluster.namespaces.has('team-a')).toBe(true);
  });

  it('lists only labelled namespaces', async () => {
    const { api } = await fake({
      namespaces: new Map([['kube-system', { metadata: { name: 'kube-system' } }]]),
    });
    await createLabNamespace(api, { lab: 'l2', namespace: 'svclab-l2', ephemeral: false });
    expect((await listLabNamespaces(api)).map((n) => n.namespace)).toEqual(['svclab-l2']);
  });

  it('down removes pods and the namespace and reports them', async () => {
    const { api, cluster } = await fake();
    await createLabNamespace(api, { lab: 'l3', namespace: 'svclab-l3', ephemeral: true });
    const report = await downClusterLab(
      { api, namespace: 'svclab-l3', teardown: async (lab) => ({ lab, removed: [], errors: [] }) },
      'l3',
    );
    expect(report.errors).toEqual([]);
    expect(report.removed).toContain('namespace svclab-l3');
    expect(cluster.namespaces.size).toBe(0);
    expect(cluster.requests).toContain('DELETE /api/v1/namespaces/svclab-l3');
  });
});

describe('sweepCandidates', () => {
  const ns = (lab: string, over: Partial<LabNamespace> = {}): LabNamespace => ({
    lab,
    namespace: `svclab-${lab}`,
    ownerHost: 'me',
    ownerPid: 10,
    ephemeral: true,
    terminating: false,
    ...over,
  });
  const base = {
    host: 'me',
    hasLocalState: (l: string) => l !== 'nostate',
    pidAlive: (pid: number) => pid === 10,
  };

  it('takes labs whose local state is gone or whose ephemeral owner died, from this host only', () => {
    const all = [
      ns('alive'),
      ns('dead', { ownerPid: 11 }),
      ns('nostate'),
      ns('kept', { ephemeral: false, ownerPid: 11 }),
      ns('elsewhere', { ownerHost: 'ci-2', ownerPid: 11 }),
      ns('going', { terminating: true, ownerPid: 11 }),
    ];
    expect(sweepCandidates(all, base).map((n) => n.lab)).toEqual(['dead', 'nostate']);
    expect(sweepCandidates(all, { ...base, all: true }).map((n) => n.lab)).toEqual([
      'alive',
      'dead',
      'nostate',
      'kept',
    ]);
  });
});

describe('proxy mode discovery', () => {
  it('reads kube-proxy config.conf; an empty mode is iptables', () => {
    expect(
      modeFromKubeProxyConfig(
        'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n',
      ),
    ).toBe('ipvs');
    expect(modeFromKubeProxyConfig('kind: KubeProxyConfiguration\nmode: ""\n')).toBe('iptables');
    expect(modeFromKubeProxyConfig('kind: KubeProxyConfiguration\nmode: kernelspace\n')).toBe(
      'unknown',
    );
  });

  it('prefers the running kube-proxy /proxyMode, then the ConfigMap, else unknown', async () => {
    const a = await fake({ proxyModeEndpoint: 'nftables', kubeProxyConfig: 'mode: iptables\n' });
    expect(await discoverProxyMode(a.api, ['n1'])).toEqual({
      mode: 'nftables',
      source: 'kube-proxy /proxyMode on node n1',
    });
    await a.close();
    const b = await fake({ kubeProxyConfig: 'mode: ipvs\n' });
    expect((await discoverProxyMode(b.api, ['n1'])).mode).toBe('ipvs');
    await b.close();
    const c = await fake();
    close = c.close;
    expect((await discoverProxyMode(c.api, ['n1'])).mode).toBe('unknown');
  });
});
