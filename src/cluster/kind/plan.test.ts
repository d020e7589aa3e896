import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadTopology } from '../../model/index.js';
import { packageRoot } from '../../cli/package-root.js';
import { planKindLab } from './plan.js';
import { DryRunComplete, KindProvider } from './provider.js';
import { UsageError } from '../../cli/errors.js';
import { CLUSTER_VERSIONS } from '../versions.js';

const owner = { host: 'golden-host', pid: 1, ephemeral: false };
const topo = () => loadTopology(join(packageRoot(), 'topologies', 'three-node.yaml'));

describe('planKindLab', () => {
  for (const mode of ['iptables', 'ipvs', 'nftables'] as const) {
    it(`kind config for three-node.yaml, kube-proxy ${mode} (golden)`, async () => {
      const plan = planKindLab(await topo(), { lab: 'golden', proxyMode: mode, owner });
      await expect(plan.kindConfig).toMatchFileSnapshot(`testdata/three-node.kind-${mode}.yaml`);
    });
  }

  it('manifests for three-node.yaml (golden)', async () => {
    const plan = planKindLab(await topo(), { lab: 'golden', proxyMode: 'iptables', owner });
    await expect(plan.manifests).toMatchFileSnapshot('testdata/three-node.manifests.yaml');
  });

  it('one kind node per topology node: the first is the control-plane, each labelled with its topology name', async () => {
    const t = await topo();
    const cfg = parse(planKindLab(t, { lab: 'x', proxyMode: 'ipvs', owner }).kindConfig);
    expect(cfg.nodes.map((n: { role: string }) => n.role)).toEqual([
      'control-plane',
      'worker',
      'worker',
    ]);
    expect(
      cfg.nodes.map((n: { labels: Record<string, string> }) => n.labels['svclab.dev/node']),
    ).toEqual(t.nodes.map((n) => n.name));
    expect(cfg.networking).toEqual({
      kubeProxyMode: 'ipvs',
      podSubnet: t.networking.podSubnet,
      serviceSubnet: t.networking.serviceSubnet,
    });
  });

  it('every object is in the lab namespace and labelled svclab.lab; pods are pinned by topology node', async () => {
    const t = await topo();
    const docs = parseAllDocuments(
      planKindLab(t, { lab: 'x', proxyMode: 'iptables', owner }).manifests,
    ).map((d) => d.toJS());
    expect(docs.every((d) => d.metadata.labels['svclab.lab'] === 'x')).toBe(true);
    expect(
      docs.filter((d) => d.kind !== 'Namespace').every((d) => d.metadata.namespace === 'svclab-x'),
    ).toBe(true);
    const pod = docs.find((d) => d.kind === 'Pod' && d.metadata.name === 'web-c');
    expect(pod.spec.nodeSelector).toEqual({ 'svclab.dev/node': 'node-c' });
    // one agent pod per node, hostNetwork
    expect(
      docs
        .filter((d) => d.kind === 'Pod' && d.metadata.name.startsWith('svclab-node-'))
        .map((d) => d.spec.hostNetwork),
    ).toEqual([true, true, true]);
  });

  it('external hosts become containers on the kind network with their routes via a node', async () => {
    const plan = planKindLab(await topo(), { lab: 'x', proxyMode: 'iptables', owner });
    expect(plan.externalHosts).toEqual([
      {
        name: 'client',
        container: 'svclab-x-ext-client',
        network: 'kind',
        routes: [
          { to: '172.18.100.10/32', viaNode: 'node-a' },
          { to: '172.18.100.20/32', viaNode: 'node-a' },
          { to: '172.18.200.10/32', viaNode: 'node-a' },
          { to: '172.18.200.20/32', viaNode: 'node-a' },
          { to: '172.18.200.30/32', viaNode: 'node-a' },
        ],
      },
    ]);
  });
});

describe('KindProvider dry run', () => {
  it('prints the kind command, the config and the manifests, and creates nothing', async () => {
    let printed = '';
    const p = new KindProvider({ dryRun: true, print: (t) => (printed += t) });
    await expect(
      p.up(await topo(), { name: 'dry', proxy: 'nftables', progress: 'silent' }),
    ).rejects.toBeInstanceOf(DryRunComplete);
    expect(printed).toContain('kind create cluster --name svclab-dry --config - --wait 300s');
    expect(printed).toContain('kubeProxyMode: nftables');
    expect(printed).toContain('kind: Service');
  });

  it("refuses a clusterIP pinned on kube-dns's address before printing or creating anything (exit 2)", async () => {
    let printed = '';
    const p = new KindProvider({ dryRun: true, print: (t) => (printed += t) });
    const t = await topo();
    t.services.find((s) => s.name === 'solo')!.clusterIPAllocated = false;
    t.services.find((s) => s.name === 'solo')!.clusterIP = '10.96.0.10';
    await expect(p.up(t, { name: 'dry', proxy: 'iptables' })).rejects.toBeInstanceOf(UsageError);
    expect(printed).toBe('');
  });

  it('the dry run pins the node image of cluster-versions.json and shows the LoadBalancer status write', async () => {
    let printed = '';
    const p = new KindProvider({ dryRun: true, print: (t) => (printed += t) });
    await expect(p.up(await topo(), { name: 'dry', proxy: 'ipvs' })).rejects.toBeInstanceOf(
      DryRunComplete,
    );
    expect(printed).toContain(`image: ${CLUSTER_VERSIONS.nodeImage}`);
    expect(printed).toContain('# status.loadBalancer of Service web-local := 172.18.200.10');
    expect(printed).not.toContain('clusterIP: 10.96.0.10');
  });

  it('refuses --proxy none: kind runs the real kube-proxy', async () => {
    const p = new KindProvider({ dryRun: true, print: () => undefined });
    await expect(p.up(await topo(), { name: 'dry', proxy: 'none' })).rejects.toThrow(
      /real kube-proxy/,
    );
  });
});
