import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { V1Service } from '@kubernetes/client-node';
import { packageRoot } from '../../cli/package-root.js';
import { loadTopology } from '../../model/index.js';
import type { Topology } from '../../model/types.js';
import { startFakeApiServer } from './fake-apiserver.js';
import {
  LOAD_BALANCER_CLASS,
  planWorkloads,
  serviceManifest,
  type WorkloadOptions,
} from './manifests.js';
import { createLabNamespace } from './namespace.js';
import { downClusterLab } from './cluster-up.js';
import {
  createServices,
  keepAllocated,
  observeServices,
  withAllocatedAddresses,
} from './workloads.js';

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

async function fake() {
  const f = await startFakeApiServer();
  close = f.close;
  return f;
}

const topo = () => loadTopology(join(packageRoot(), 'topologies', 'three-node.yaml'));
const options = (t: Topology, lab: string): WorkloadOptions => ({
  lab,
  namespace: `svclab-${lab}`,
  placement: Object.fromEntries(t.nodes.map((n) => [n.name, { 'kubernetes.io/hostname': n.name }])),
  agentFiles: {},
  owner: { host: 'h', pid: 1, ephemeral: true },
});
const workloads = (t: Topology, lab: string) => planWorkloads(t, options(t, lab));

async function labWithServices(
  api: Awaited<ReturnType<typeof fake>>['api'],
  t: Topology,
  lab: string,
) {
  await createLabNamespace(api, { lab, namespace: `svclab-${lab}`, ephemeral: true });
  return createServices(api, `svclab-${lab}`, workloads(t, lab).services, t.services);
}

describe('Services on a cluster that already has kube-dns at 10.96.0.10 (fake API server)', () => {
  it('the fake refuses a Service that asks for kube-dns’s address (so the next test can fail)', async () => {
    const { api } = await fake();
    const t = await topo();
    await createLabNamespace(api, { lab: 'a', namespace: 'svclab-a', ephemeral: true });
    const web = { ...t.services.find((s) => s.name === 'web')!, clusterIPAllocated: false };
    expect(web.clusterIP).toBe('10.96.0.10');
    await expect(
      createServices(api, 'svclab-a', [serviceManifest(options(t, 'a'), web)], [web]),
    ).rejects.toThrow(
      /failed to create Service svclab-a\/web: [\s\S]*provided IP is already allocated/,
    );
  });

  it("every Service of three-node.yaml is created: svclab's allocated clusterIPs are not asked for", async () => {
    const { api } = await fake();
    const t = await topo();
    const created = await labWithServices(api, t, 'a');
    expect(created.map((s) => s.metadata?.name)).toEqual(t.services.map((s) => s.name));
    // What the cluster gave is read back into the lab's topology, pinned nodePorts as written.
    const observed = withAllocatedAddresses(t, await observeServices(api, 'svclab-a'));
    const web = observed.services.find((s) => s.name === 'web')!;
    expect(web.clusterIP).toBe(created.find((s) => s.metadata?.name === 'web')!.spec!.clusterIP);
    expect(web.clusterIP).not.toBe('10.96.0.10');
    expect(web.ports.map((p) => p.nodePort)).toEqual([30080, 30081]);
  });

  it('LoadBalancer Services get their class and the topology’s status.loadBalancer', async () => {
    const { api, cluster } = await fake();
    await labWithServices(api, await topo(), 'a');
    const lb = cluster.services.get('svclab-a/web-local')!;
    expect(lb.spec?.loadBalancerClass).toBe(LOAD_BALANCER_CLASS);
    expect(lb.status?.loadBalancer?.ingress).toEqual([{ ip: '172.18.200.10' }]);
    expect(cluster.requests).toContain('PUT /api/v1/namespaces/svclab-a/services/web-local/status');
    // Other types' status is left alone.
    expect(cluster.requests).not.toContain('PUT /api/v1/namespaces/svclab-a/services/web/status');
  });

  it('the next lab gets the same pinned nodePorts once down returned (the namespace is waited for)', async () => {
    const { api, cluster } = await fake();
    const t = await topo();
    await labWithServices(api, t, 'a');
    // Without waiting, the terminating namespace's Services still hold the nodePorts.
    await api.core.deleteNamespace({ name: 'svclab-a' });
    await expect(labWithServices(api, t, 'b')).rejects.toThrow(
      /provided port is already allocated/,
    );
    // down returns once the namespace is gone, and its nodePorts with it.
    const report = await downClusterLab(
      { api, namespace: 'svclab-a', teardown: async (lab) => ({ lab, removed: [], errors: [] }) },
      'a',
    );
    expect(report.errors).toEqual([]);
    expect(cluster.namespaces.has('svclab-a')).toBe(false);
    await expect(labWithServices(api, t, 'c')).resolves.toHaveLength(t.services.length);
  });
});

describe('addresses the API server allocated', () => {
  const current: V1Service = {
    spec: {
      type: 'NodePort',
      clusterIP: '10.96.3.232',
      clusterIPs: ['10.96.3.232'],
      ports: [
        { name: 'http', port: 80, nodePort: 31000 },
        { name: 'udp', port: 81, nodePort: 31001, protocol: 'UDP' },
      ],
    },
  };

  it('a replace keeps the allocated clusterIP and nodePorts, and pinned ones as written', () => {
    const body: V1Service = {
      spec: {
        type: 'NodePort',
        ports: [
          { name: 'http', port: 80 },
          { name: 'udp', port: 81, nodePort: 30082, protocol: 'UDP' },
        ],
      },
    };
    const out = keepAllocated(body, current);
    expect(out.spec?.clusterIP).toBe('10.96.3.232');
    expect(out.spec?.ports?.map((p) => p.nodePort)).toEqual([31000, 30082]);
    expect(body.spec?.clusterIP).toBeUndefined(); // the input is not changed
    // Becoming a ClusterIP Service drops nodePorts rather than carrying them over.
    const cip = keepAllocated(
      { spec: { type: 'ClusterIP', ports: [{ name: 'http', port: 80 }] } },
      current,
    );
    expect(cip.spec?.ports?.[0]?.nodePort).toBeUndefined();
  });

  it('read back only where the topology left the choice to the server', async () => {
    const t = await topo();
    const web = t.services.find((s) => s.name === 'web')!;
    web.ports[1]!.nodePortAllocated = true;
    const got = withAllocatedAddresses(t, [{ metadata: { name: 'web' }, ...current }]);
    const w = got.services.find((s) => s.name === 'web')!;
    expect(w.clusterIP).toBe('10.96.3.232');
    expect(w.ports.map((p) => p.nodePort)).toEqual([30080, 31001]);
    expect(t.services.find((s) => s.name === 'web')!.clusterIP).toBe('10.96.0.10');
  });
});
