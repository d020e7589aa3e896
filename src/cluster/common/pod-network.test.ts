import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTopology } from '../../model/index.js';
import { planAgentSpecs } from './agents.js';
import {
  nodeNetworkGateway,
  nodeRoutingBatch,
  podInterfaceBatch,
  podsWithNetns,
  sysctlScript,
} from './pod-network.js';
import { podVethName } from './names.js';

const topo = await loadTopology(
  join(import.meta.dirname, '..', '..', '..', 'topologies', 'three-node.yaml'),
);

describe('shared pod network plan', () => {
  it('gives a pod its /32 and a link-local default gateway with a fixed MAC', () => {
    const pod = topo.pods.find((p) => p.name === 'web-a')!;
    expect(podInterfaceBatch(pod)).toEqual([
      'link set lo up',
      `addr add ${pod.ip}/32 dev eth0`,
      'link set eth0 up',
      'route add 169.254.1.1 dev eth0 scope link',
      'route add default via 169.254.1.1 dev eth0',
      'neigh add 169.254.1.1 lladdr ee:ee:ee:ee:ee:ee dev eth0',
    ]);
  });

  it('routes local pods to their veths, other nodes pod CIDRs via their node IPs, the rest to .1', () => {
    const node = topo.nodes.find((n) => n.name === 'node-a')!;
    const batch = nodeRoutingBatch(topo, node);
    for (const pod of podsWithNetns(topo, 'node-a'))
      expect(batch).toContain(`route add ${pod.ip}/32 dev ${podVethName(pod.name)}`);
    for (const other of topo.nodes.filter((n) => n !== node))
      expect(batch).toContain(`route add ${other.podCIDR} via ${other.ip} dev eth0`);
    expect(batch.at(-1)).toBe('route replace default via 172.18.0.1 dev eth0');
  });

  it('leaves hostNetwork pods without a namespace; their ports are served by the node agent', () => {
    expect(podsWithNetns(topo).map((p) => p.name)).not.toContain('host-c');
    expect(planAgentSpecs(topo).find((s) => s.target === 'node-c')?.listen).toEqual(['tcp:9090']);
  });

  it('writes sysctls with shell builtins, globs as loops', () => {
    expect(
      sysctlScript([
        ['net/ipv4/ip_forward', '1'],
        ['net/ipv4/conf/*/rp_filter', '0'],
      ]),
    ).toEqual([
      'echo 1 > /proc/sys/net/ipv4/ip_forward',
      'for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > "$f"; done',
    ]);
    expect(nodeNetworkGateway('10.1.2.0/24')).toBe('10.1.2.1');
  });
});
