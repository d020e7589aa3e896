import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { computeProxyState } from '../cluster/endpoints.js';
import { topologyFromObject } from '../model/load.js';
import { prng } from '../model/prng.js';
import { generateServiceSets, nodePort, selectorsOf } from './generate.js';

const doc = parse(
  readFileSync(join(import.meta.dirname, '..', '..', 'topologies', 'three-node.yaml'), 'utf8'),
) as { spec: Record<string, unknown> };
const pods = topologyFromObject(doc).pods;
const sets = (seed: number, count: number) =>
  generateServiceSets({ seed, count, serviceSubnet: '10.96.0.0/16', pods });
const topologyOf = (services: Record<string, unknown>[]) =>
  topologyFromObject({ ...doc, spec: { ...doc.spec, services } });

describe('generateServiceSets', () => {
  it('is a function of the seed', () => {
    expect(sets(7, 5)).toEqual(sets(7, 5));
    expect(sets(7, 5)).not.toEqual(sets(8, 5));
    expect(sets(7, 5).map((s) => s.label)).toEqual(
      [1, 2, 3, 4, 5].map((i) => `random seed 7 #${i}`),
    );
  });

  it('makes valid topologies with the addresses as given (nothing left to allocate)', () => {
    for (const set of sets(3, 10)) {
      const t = topologyOf(set.services);
      expect(t.services).toHaveLength(set.services.length);
      for (const s of t.services) {
        expect(s.clusterIPAllocated).toBeFalsy();
        for (const p of s.ports) expect(p.nodePortAllocated).toBeFalsy();
      }
    }
  });

  it.each([1, 2, 42, 1000])(
    'covers every field kube-proxy reads within 5 sets (seed %i)',
    (seed) => {
      const topos = sets(seed, 5).map((s) => topologyOf(s.services));
      const services = topos.flatMap((t) => t.services);
      const ports = services.flatMap((s) => s.ports);
      const states = topos.flatMap((t) => computeProxyState(t).servicePorts);
      expect(new Set(services.map((s) => s.type))).toEqual(
        new Set(['ClusterIP', 'NodePort', 'LoadBalancer']),
      );
      expect(new Set(services.map((s) => s.externalTrafficPolicy))).toEqual(
        new Set(['Cluster', 'Local']),
      );
      expect(new Set(services.map((s) => s.internalTrafficPolicy))).toEqual(
        new Set(['Cluster', 'Local']),
      );
      expect(
        services.some(
          (s) => s.sessionAffinity === 'ClientIP' && s.sessionAffinityTimeoutSeconds !== 10800,
        ),
      ).toBe(true);
      expect(services.some((s) => s.externalIPs.length > 0 && s.type === 'ClusterIP')).toBe(true);
      expect(services.some((s) => s.loadBalancerIPs.length > 0)).toBe(true);
      // healthCheckNodePort: asked for by the first LoadBalancer + Local Service of a set.
      const checked = services.filter((s) => s.healthCheckNodePort !== undefined);
      expect(checked.some((s) => !s.healthCheckNodePortAllocated)).toBe(true);
      expect(
        checked.every((s) => s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local'),
      ).toBe(true);
      // loadBalancerSourceRanges that hold the compared node (172.18.0.2), that leave it out,
      // and a zero-masked one.
      const ranges = services.map((s) => s.loadBalancerSourceRanges.join(','));
      expect(ranges).toContain('172.16.0.0/12');
      expect(ranges).toContain('192.0.2.0/24,198.51.100.7/32');
      expect(ranges.some((r) => r.includes('0.0.0.0/0'))).toBe(true);
      expect(ports.some((p) => typeof p.targetPort === 'string')).toBe(true);
      expect(ports.some((p) => typeof p.targetPort === 'number')).toBe(true);
      expect(new Set(ports.map((p) => p.protocol))).toEqual(new Set(['TCP', 'UDP']));
      expect(services.some((s) => s.ports.length >= 3)).toBe(true);
      expect(states.some((sp) => sp.endpoints.length === 0)).toBe(true);
      expect(states.some((sp) => sp.endpoints.length >= 3)).toBe(true);
      // Endpoints on the compared node and elsewhere, and a hostNetwork one (the node's IP).
      expect(states.some((sp) => sp.endpoints.some((e) => e.nodeName === 'node-a'))).toBe(true);
      expect(states.some((sp) => sp.endpoints.some((e) => e.nodeName !== 'node-a'))).toBe(true);
      expect(states.some((sp) => sp.endpoints.some((e) => e.ip.startsWith('172.18.0.')))).toBe(
        true,
      );
      // trafficDistribution: every value, hints node-a's zone filters by (all endpoints hinted,
      // one in zone-a), hints it must ignore (an endpoint on zoneless node-c), and node hints.
      expect(new Set(services.map((s) => s.trafficDistribution))).toEqual(
        new Set([undefined, 'PreferClose', 'PreferSameZone', 'PreferSameNode']),
      );
      const hinted = (sp: (typeof states)[number]) =>
        sp.endpoints.some((e) => e.zoneHints !== undefined);
      expect(
        states.some(
          (sp) =>
            hinted(sp) &&
            sp.endpoints.length >= 2 &&
            sp.endpoints.every((e) => e.zoneHints !== undefined) &&
            sp.endpoints.some((e) => e.zoneHints?.includes('zone-a')),
        ),
      ).toBe(true);
      expect(
        states.some((sp) => hinted(sp) && sp.endpoints.some((e) => e.zoneHints === undefined)),
      ).toBe(true);
      expect(states.some((sp) => sp.endpoints.some((e) => e.nodeHints !== undefined))).toBe(true);
    },
  );

  it("keeps a set's NodePorts apart from the previous set's (both exist while one replaces the other)", () => {
    const all = sets(5, 30);
    const portsOf = (i: number) =>
      all[i]!.services.flatMap((s) =>
        (s.spec as { ports: { nodePort?: number }[]; healthCheckNodePort?: number }).ports
          .flatMap((p) => (p.nodePort ? [p.nodePort] : []))
          .concat((s.spec as { healthCheckNodePort?: number }).healthCheckNodePort ?? []),
      );
    for (let i = 1; i < all.length; i++) {
      const both = [...portsOf(i - 1), ...portsOf(i)];
      expect(new Set(both).size).toBe(both.length);
      for (const p of both) expect(p).toBeLessThan(30086);
    }
    expect(nodePort(0)).toBe(30000);
  });

  it("selects by every label of the topology's pods, and by one no pod has", () => {
    expect(selectorsOf(pods)).toEqual([
      { app: 'client' },
      { app: 'host-agent' },
      { app: 'web' },
      { local: 'true' },
      { role: 'solo' },
      { zone: 'a' },
      { 'svclab.dev/fidelity': 'no-endpoints' },
    ]);
  });

  it('prng is uniform enough to choose from', () => {
    const r = prng(1);
    const xs = Array.from({ length: 1000 }, () => r());
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.filter((x) => x < 0.5).length).toBeGreaterThan(400);
    expect(xs.filter((x) => x < 0.5).length).toBeLessThan(600);
  });
});
