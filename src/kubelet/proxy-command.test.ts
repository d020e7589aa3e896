import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { expandProxyCommand, validateProxyCommand } from './proxy-command.js';

const values = {
  kubeconfig: '/run/svclab/lab/control-plane/kube-proxy.kubeconfig',
  node: 'node-a',
  nodeIP: '10.0.0.11',
  netns: 'svclab.lab.node.node-a',
  clusterCIDR: '10.244.0.0/16',
  mode: 'nftables',
  config: "/tmp/it's here/node-a.yaml",
  metricsAddress: '10.0.0.11:10249',
  healthzAddress: '10.0.0.11:10256',
};

describe('--proxy-command templates', () => {
  it('replaces every placeholder with the shell-quoted value', () => {
    const line = expandProxyCommand(
      'my-proxy --kubeconfig={kubeconfig} --node {node} --config {config} --metrics {metricsAddress}',
      values,
    );
    // The shell sees exactly the values, a quote in a path included.
    const argv = execFileSync('/bin/sh', ['-c', `printf '%s\\n' ${line.slice('my-proxy '.length)}`])
      .toString()
      .trimEnd()
      .split('\n');
    expect(argv).toEqual([
      `--kubeconfig=${values.kubeconfig}`,
      '--node',
      'node-a',
      '--config',
      values.config,
      '--metrics',
      '10.0.0.11:10249',
    ]);
  });

  it('names an unknown placeholder and lists the known ones', () => {
    expect(() => validateProxyCommand('p --x {nodeName} {node}')).toThrow(
      /--proxy-command: Invalid value: unknown placeholder \{nodeName\} \(known: \{kubeconfig\}/,
    );
    expect(() => validateProxyCommand('  ')).toThrow(/--proxy-command: Required value/);
  });

  it('a value cannot break out of its quotes', () => {
    const line = expandProxyCommand('printf %s {node}', {
      ...values,
      node: "x'; touch /tmp/pwned; '$(id)",
    });
    expect(execFileSync('/bin/sh', ['-c', line]).toString()).toBe("x'; touch /tmp/pwned; '$(id)");
  });
});
