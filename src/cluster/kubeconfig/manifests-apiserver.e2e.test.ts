/* eslint-disable @typescript-eslint/no-explicit-any -- API objects are JSON from kube-apiserver. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../lab.js';
import { ApiStatusError, type ApiClient } from '../../controlplane/api-client.js';
import { uniqueLabName } from '../../harness/lab-fixture.js';
import { skipWhen } from '../../harness/skip.js';
import { loadTopology } from '../../model/index.js';
import { NetnsProvider } from '../../netns/provider.js';
import { clusterManifests, shippedTopologies } from './cluster-manifests.js';

/**
 * Issue 19: what the kind and kubeconfig providers would apply, for every shipped topology,
 * applied server-side to a real kube-apiserver (the control plane of a netns lab), with a
 * kube-dns Service holding 10.96.0.10 as on every kind cluster. The API server's validation,
 * admission and allocators decide, not a fake.
 */
const root = join(import.meta.dirname, '..', '..', '..');
const skip = skipWhen('root', process.getuid?.() !== 0 && 'needs root');

const RESOURCES: Record<string, string> = {
  Namespace: 'namespaces',
  ConfigMap: 'configmaps',
  Service: 'services',
  Pod: 'pods',
};

function pathOf(obj: any): string {
  const plural = RESOURCES[obj.kind];
  if (!plural) throw new Error(`no resource path for kind ${obj.kind}`);
  return obj.kind === 'Namespace'
    ? `/api/v1/namespaces/${obj.metadata.name}`
    : `/api/v1/namespaces/${obj.metadata.namespace}/${plural}/${obj.metadata.name}`;
}

/** Server-side apply, as `kubectl apply --server-side` does it. */
function apply(api: ApiClient, obj: any): Promise<any> {
  return api.request('PATCH', `${pathOf(obj)}?fieldManager=svclab-test&force=true`, obj, {
    contentType: 'application/apply-patch+yaml',
  });
}

describe.skipIf(skip)('generated cluster manifests against a real kube-apiserver', () => {
  let lab: Lab;
  let api: ApiClient;
  beforeAll(async () => {
    // The lab's own Services would hold the NodePorts the manifests pin: none here.
    const topo = {
      ...(await loadTopology(join(root, 'topologies', 'two-node.yaml'))),
      services: [],
    };
    lab = await new NetnsProvider().up(topo, {
      name: uniqueLabName('manifests'),
      proxy: 'none',
      progress: 'silent',
      ephemeral: true,
      controlPlane: true,
    });
    api = lab.controlPlane!.api();
    // kind's kube-dns: the tenth address of the Service CIDR.
    await api.create('/api/v1/namespaces/kube-system/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kube-dns', namespace: 'kube-system' },
      spec: {
        clusterIP: '10.96.0.10',
        selector: { 'k8s-app': 'kube-dns' },
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        ],
      },
    });
  });
  afterAll(async () => {
    await lab?.down();
  });

  it('refuses a Service that asks for kube-dns address (the check has teeth)', async () => {
    const err = await api
      .create('/api/v1/namespaces/default/services', {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'collides' },
        spec: { clusterIP: '10.96.0.10', ports: [{ port: 80 }] },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiStatusError);
    expect((err as ApiStatusError).code).toBe(422);
  });

  it('accepts every manifest of every shipped topology, for kind and kubeconfig', async () => {
    const shipped = await shippedTopologies();
    expect(shipped.length).toBeGreaterThan(1);
    let i = 0;
    for (const { file, topology } of shipped) {
      for (const provider of ['kind', 'kubeconfig'] as const) {
        const m = clusterManifests(topology, { provider, lab: `m${i++}` });
        for (const obj of [...m.objects, ...m.debugPods]) {
          const what = `${provider} ${file}: ${(obj as any).kind} ${(obj as any).metadata.name}`;
          const got = await apply(api, obj).catch((e: Error) => {
            throw new Error(`${what}: ${e.message}`);
          });
          expect(got.metadata.uid, what).toBeTruthy();
          if ((obj as any).kind === 'Service')
            expect(got.spec.clusterIP, what).not.toBe('10.96.0.10');
        }
        for (const u of m.statusUpdates) {
          const got = await api.mergePatch<any>(
            `/api/v1/namespaces/${u.namespace}/services/${u.name}/status`,
            { status: u.status },
          );
          // The API server adds ipMode (VIP by default, KEP-1860); the addresses are what count.
          expect(
            got.status.loadBalancer.ingress.map((x: { ip: string }) => x.ip),
            `${provider} ${file}: ${u.name}`,
          ).toEqual(u.status.loadBalancer!.ingress!.map((x) => x.ip));
        }
        // Free the NodePorts for the next topology (they are pinned alike), as `down` does.
        await api.delete(`/api/v1/namespaces/${m.namespace}`);
        for (;;) {
          const svcs = await api.list(`/api/v1/namespaces/${m.namespace}/services`);
          if (svcs.items.length === 0) break;
          for (const s of svcs.items)
            await api.delete(`/api/v1/namespaces/${m.namespace}/services/${s.metadata.name}`);
        }
      }
    }
  }, 180_000);
});
