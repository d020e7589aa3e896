import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { kubeProxyConfiguration } from '../kubelet/kube-proxy.js';
import { plannerSettings } from './config.js';

const node = { nodeName: 'node-a', clusterCIDR: '10.244.0.0/16' };
/** The configuration the lab writes for a node's kube-proxy (src/kubelet/kube-proxy.ts). */
const labConfig = (mode: 'iptables' | 'nftables' | 'ipvs') =>
  stringify(
    kubeProxyConfiguration(
      {
        mode,
        binary: '/bin/kube-proxy',
        kubeconfig: '/k',
        clusterCIDR: '10.244.0.0/16',
        dir: '/d',
        logDir: '/l',
      },
      { name: 'node-a', ip: '172.18.0.2', netns: 'n' },
    ),
  );

describe("svclab's planner set up as the lab's kube-proxy", () => {
  it('iptables: localhostNodePorts as the lab sets it (off), NodePorts on every address', () => {
    const s = plannerSettings(labConfig('iptables'), 'iptables', node);
    expect(s.proxyOptions).toEqual({ iptablesLocalhostNodePorts: false, syncStrategy: 'partial' });
    expect(s.described).toContain('iptables.localhostNodePorts false');
  });

  it("iptables: upstream's default localhostNodePorts is on", () => {
    const s = plannerSettings('mode: iptables\nclusterCIDR: 10.244.0.0/16\n', 'iptables', node);
    expect(s.proxyOptions.iptablesLocalhostNodePorts).toBe(true);
  });

  it("nftables: NodePorts on the node's primary IP, the nftables default", () => {
    const s = plannerSettings(labConfig('nftables'), 'nftables', node);
    expect(s.nftables).toEqual({ nodePortAddresses: 'primary' });
    const all = plannerSettings(
      'mode: nftables\nclusterCIDR: 10.244.0.0/16\nnodePortAddresses: [all]\n',
      'nftables',
      node,
    );
    expect(all.nftables).toEqual({ nodePortAddresses: 'all' });
  });

  it("ipvs: the lab's scheduler (rr), the kernel's timeouts, NodePorts on every address", () => {
    const s = plannerSettings(labConfig('ipvs'), 'ipvs', node);
    expect(s.proxyOptions).toEqual({
      ipvsScheduler: 'rr',
      ipvsTimeouts: { tcp: 0, tcpFin: 0, udp: 0 },
    });
    expect(s.ipvs).toEqual({ strictARP: false });
    expect(s.described).toContain('nodePortAddresses all');
    const tuned = plannerSettings(
      "mode: ipvs\nclusterCIDR: 10.244.0.0/16\nipvs: { scheduler: '', strictARP: true, tcpTimeout: 15m, tcpFinTimeout: 2m0s, udpTimeout: 300s }\n",
      'ipvs',
      node,
    );
    expect(tuned.proxyOptions).toEqual({
      ipvsScheduler: 'rr',
      ipvsTimeouts: { tcp: 900, tcpFin: 120, udp: 300 },
    });
    expect(tuned.ipvs).toEqual({ strictARP: true });
    expect(() =>
      plannerSettings(
        'mode: ipvs\nclusterCIDR: 10.244.0.0/16\nipvs: { scheduler: mh }\n',
        'ipvs',
        node,
      ),
    ).toThrow(/ipvs\.scheduler mh/);
    expect(() =>
      plannerSettings(
        'mode: ipvs\nclusterCIDR: 10.244.0.0/16\nipvs: { excludeCIDRs: [10.0.0.0/8] }\n',
        'ipvs',
        node,
      ),
    ).toThrow(/excludeCIDRs/);
  });

  it.each([
    ['masqueradeAll', 'linux: { masqueradeAll: true }', /masqueradeAll/],
    ['another masquerade bit', 'iptables: { masqueradeBit: 15 }', /masqueradeBit 15/],
    ['NodePorts on a CIDR', 'nodePortAddresses: [172.18.0.0/24]', /nodePortAddresses 172\.18/],
    ['another local-traffic detector', 'detectLocalMode: NodeCIDR', /detectLocalMode NodeCIDR/],
  ])('refuses what the planner cannot follow: %s', (_what, yaml, message) => {
    const text = `mode: iptables\nclusterCIDR: 10.244.0.0/16\n${yaml}\n`;
    expect(() => plannerSettings(text, 'iptables', node)).toThrow(message);
  });

  it("refuses a cluster CIDR other than the node's, and a file that is not YAML", () => {
    expect(() =>
      plannerSettings('mode: iptables\nclusterCIDR: 10.0.0.0/8\n', 'iptables', node),
    ).toThrow(/clusterCIDR 10\.0\.0\.0\/8, the node 10\.244\.0\.0\/16/);
    expect(() => plannerSettings('mode: [', 'iptables', node)).toThrow(
      /cannot read kube-proxy's configuration for node-a/,
    );
  });
});
