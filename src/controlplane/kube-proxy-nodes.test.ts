import { describe, expect, it } from 'vitest';
import { topologyFromObject } from '../model/load.js';
import { kubeProxyNodes } from './bringup.js';

const topo = topologyFromObject({
  apiVersion: 'svclab.dev/v1alpha1',
  kind: 'Topology',
  metadata: { name: 'two' },
  spec: { nodes: [{ name: 'node-a' }, { name: 'node-b' }] },
});

describe('kubeProxyNodes', () => {
  it('is every node by default, and the named ones in topology order otherwise', () => {
    expect(kubeProxyNodes(topo, undefined).map((n) => n.name)).toEqual(['node-a', 'node-b']);
    expect(kubeProxyNodes(topo, ['node-b']).map((n) => n.name)).toEqual(['node-b']);
    expect(kubeProxyNodes(topo, ['node-b', 'node-a']).map((n) => n.name)).toEqual([
      'node-a',
      'node-b',
    ]);
  });

  it('refuses a name the topology lacks, and an empty list', () => {
    expect(() => kubeProxyNodes(topo, ['node-a', 'node-z'])).toThrow(
      'kube-proxy nodes: no node "node-z" in the topology (have: node-a, node-b)',
    );
    expect(() => kubeProxyNodes(topo, [])).toThrow('kube-proxy nodes: the list is empty');
  });
});
