import { describe, expect, it } from 'vitest';
import type { V1Pod, V1Service } from '@kubernetes/client-node';
import { kubeadmDnsIP } from './cluster-addresses.js';
import { clusterManifests, shippedTopologies } from './cluster-manifests.js';
import { LOAD_BALANCER_CLASS } from './manifests.js';
import { LAB_LABEL } from './names.js';

const shipped = await shippedTopologies();

describe('clusterManifests: what the kind and kubeconfig providers apply, for every shipped topology', () => {
  it('covers the shipped topologies', () => {
    expect(shipped.map((s) => s.file)).toEqual(
      expect.arrayContaining(['persistence.yaml', 'three-node.yaml', 'two-node.yaml']),
    );
  });

  for (const { file, topology } of shipped)
    for (const provider of ['kind', 'kubeconfig'] as const) {
      it(`${file} on ${provider}`, () => {
        const m = clusterManifests(topology, { provider, lab: 'x' });
        const services = m.objects.filter((o): o is V1Service => o.kind === 'Service');
        expect(services.map((s) => s.metadata?.name)).toEqual(topology.services.map((s) => s.name));
        const dns = kubeadmDnsIP(topology.networking.serviceSubnet);
        for (const s of services) {
          const spec = topology.services.find((x) => x.name === s.metadata?.name)!;
          // Only what the file pinned is asked for; never kube-dns's address on kind.
          expect(s.spec?.clusterIP, s.metadata?.name).toBe(
            spec.clusterIPAllocated ? undefined : spec.clusterIP,
          );
          expect(s.spec?.clusterIP).not.toBe(dns);
          expect(s.spec?.loadBalancerClass).toBe(
            s.spec?.type === 'LoadBalancer' ? LOAD_BALANCER_CLASS : undefined,
          );
        }
        expect(m.statusUpdates).toEqual(
          topology.services
            .filter((s) => s.type === 'LoadBalancer')
            .map((s) => ({
              apiVersion: 'v1',
              kind: 'Service',
              namespace: 'svclab-x',
              name: s.name,
              status: { loadBalancer: { ingress: s.loadBalancerIPs.map((ip) => ({ ip })) } },
            })),
        );
        for (const o of [...m.objects, ...m.debugPods]) {
          expect(o.metadata?.labels?.[LAB_LABEL]).toBe('x');
          if (o.kind !== 'Namespace') expect(o.metadata?.namespace).toBe('svclab-x');
        }
        const externalPods = m.objects.filter(
          (o): o is V1Pod => o.kind === 'Pod' && o.metadata!.name!.startsWith('svclab-ext-'),
        );
        // kind's external hosts are containers; kubeconfig's are pods off the lab's nodes.
        expect(externalPods.map((p) => p.spec?.nodeSelector)).toEqual(
          provider === 'kind'
            ? []
            : topology.externalHosts.map(() => ({ 'kubernetes.io/hostname': 'svclab-external' })),
        );
      });
    }
});
