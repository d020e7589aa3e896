import { describe, expect, it } from 'vitest';
import { planIptables } from '../../proxy/iptables/index.js';
import { scaleMutations, scaleState, serviceName } from './state.js';

const backends = [0, 1, 2].map((i) => ({
  podName: `backend-${i}`,
  ip: `10.244.0.${10 + i}`,
  nodeName: 'node',
}));
const opts = { services: 30, endpoints: 2, backends, nodePortEvery: 10 };
const node = {
  nodeName: 'node',
  nodeIP: '172.18.0.2',
  podCIDR: '10.244.0.0/24',
  clusterCIDR: '10.244.0.0/16',
  serviceCIDR: '10.96.0.0/12',
};

describe('scaleState', () => {
  it('builds N Services with unique ClusterIPs and NodePorts, 1 in nodePortEvery a NodePort', () => {
    const s = scaleState(opts);
    const services = new Map(s.servicePorts.map((sp) => [sp.service.name, sp.service]));
    expect(services.size).toBe(30);
    expect(new Set([...services.values()].map((x) => x.clusterIP)).size).toBe(30);
    const nodePorts = s.servicePorts.flatMap((sp) => (sp.port.nodePort ? [sp.port.nodePort] : []));
    // svc-29 is a NodePort Service with an iperf port: that port has its NodePort too (the API
    // would allocate one at random, possibly another Service's).
    expect(nodePorts).toEqual([30000, 30001, 30002, 39999]);
    expect(
      s.servicePorts
        .filter((sp) => sp.port.name === 'http')
        .every((sp) => sp.endpoints.length === 2),
    ).toBe(true);
  });

  it('gives only the first and last Service an iperf port, with a single endpoint', () => {
    const iperf = scaleState(opts).servicePorts.filter((sp) => sp.port.name === 'iperf');
    expect(iperf.map((sp) => sp.service.name)).toEqual([serviceName(0), serviceName(29)]);
    expect(iperf.every((sp) => sp.endpoints.length === 1)).toBe(true);
  });

  it('puts Service 0 first and Service N-1 last in KUBE-SERVICES (the lookup order the data path probes)', () => {
    const plan = planIptables({ node, state: scaleState(opts), previous: null, strategy: 'full' });
    const order = plan.restoreInput
      .split('\n')
      .filter((l) => l.startsWith('-A KUBE-SERVICES ') && l.includes('cluster IP'))
      .map((l) => /default\/(svc-\d+):/.exec(l)?.[1]);
    expect(order[0]).toBe(serviceName(0));
    expect(order[order.length - 1]).toBe(serviceName(29));
  });

  it('adds Services that collide with none of the base, and endpoint changes that really change', () => {
    const base = scaleState(opts);
    const m = scaleMutations({ ...opts, backends });
    const added = m.withExtra(base, 2).servicePorts.slice(base.servicePorts.length);
    expect(added).toHaveLength(2);
    const baseIPs = new Set(base.servicePorts.map((sp) => sp.service.clusterIP));
    expect(added.some((sp) => baseIPs.has(sp.service.clusterIP))).toBe(false);
    const victim = (st: typeof base) =>
      st.servicePorts
        .find((sp) => sp.service.name === serviceName(15))!
        .endpoints.map((e) => e.ip)
        .sort()
        .join(',');
    const sets = [
      victim(base),
      victim(m.changeEndpoints(base, 0)),
      victim(m.changeEndpoints(base, 1)),
      victim(m.changeEndpoints(base, 2)),
    ];
    expect(sets[1]).not.toBe(sets[0]);
    expect(sets[2]).not.toBe(sets[1]);
    expect(sets[3]).not.toBe(sets[2]);
  });
});
