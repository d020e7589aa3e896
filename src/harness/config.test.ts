import { describe, expect, it } from 'vitest';
import { suiteConfig } from './config.js';

// The label names a run in test titles, dumps and `svclab test --summary`: a job summary that
// said "kube-proxy" without the mode could not tell an iptables run from an nftables one.
describe('suiteConfig label', () => {
  it('names the real kube-proxy with its mode', () => {
    const c = suiteConfig({ SVCLAB_PROXY: 'kube-proxy', SVCLAB_PROXY_MODE: 'nftables' });
    expect(c.label).toBe('kube-proxy-nftables');
    expect(c.proxy).toBe('nftables');
    expect(c.controlPlane).toBe(true);
  });

  it('names a proxy command with the mode it implements', () => {
    const c = suiteConfig({
      SVCLAB_PROXY: 'kube-proxy',
      SVCLAB_PROXY_MODE: 'iptables',
      SVCLAB_PROXY_COMMAND: 'my-proxy {kubeconfig}',
    });
    expect(c.label).toBe('proxy-command-iptables');
  });

  it("names svclab's iptables mode with its sync strategy, backend and control plane", () => {
    expect(suiteConfig({ SVCLAB_PROXY: 'iptables', SVCLAB_SYNC: 'full' }).label).toBe(
      'iptables/full/nft',
    );
    expect(suiteConfig({ SVCLAB_PROXY: 'nftables', SVCLAB_CONTROL_PLANE: '1' }).label).toBe(
      'nftables+cp',
    );
  });

  it('refuses the real kube-proxy without a data-plane mode', () => {
    expect(() => suiteConfig({ SVCLAB_PROXY: 'kube-proxy', SVCLAB_PROXY_MODE: 'none' })).toThrow(
      /SVCLAB_PROXY_MODE/,
    );
  });
});
