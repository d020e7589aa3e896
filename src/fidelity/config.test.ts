import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { kubeProxyConfiguration } from '../kubelet/kube-proxy.js';
import { plannerSettings } from './config.js';

const node = { nodeName: 'node-a', clusterCIDR: '10.244.0.0/16' };
/** The configuration the lab writes for a node's kube-proxy (src/kubelet/kube-proxy.ts). */
const labConfig = (mode: 'iptables' | 'nftables') =>
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
