import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { packageRoot } from '../../cli/package-root.js';
import { loadTopology } from '../../model/index.js';
import { KubeApi } from './api.js';
import { ClusterBackend } from './backend.js';
import { ClusterLab } from './cluster-lab.js';
import {
  kubeconfigOptionsFromEnv,
  KubeconfigProvider,
  outsideClientLimit,
  PROXY_RESTART_NOT_ALLOWED,
} from './provider.js';

const api = () => {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'http://127.0.0.1:1' }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return new KubeApi(kc);
};

describe('what a lab on an existing cluster declares it cannot do', () => {
  it('kube-proxy restarts only with --allow-proxy-restart; otherwise the reason suites skip with', () => {
    const denied = new KubeconfigProvider({}).spec('l', api());
    expect(denied.restartKubeProxy).toBeUndefined();
    expect(denied.limits?.['proxy-restart']).toBe(PROXY_RESTART_NOT_ALLOWED);
    const allowed = new KubeconfigProvider({ allowProxyRestart: true }).spec('l', api());
    expect(allowed.restartKubeProxy).toBeTypeOf('function');
    expect(allowed.limits?.['proxy-restart']).toBeUndefined();
    expect(kubeconfigOptionsFromEnv({ SVCLAB_ALLOW_PROXY_RESTART: '1' }).allowProxyRestart).toBe(
      true,
    );
    expect(kubeconfigOptionsFromEnv({}).allowProxyRestart).toBe(false);
  });

  it('external hosts are never clients outside the cluster: hostNetwork pods sit behind a kube-proxy', () => {
    const spec = new KubeconfigProvider({ externalHosts: 'pod' }).spec('l', api());
    expect(spec.limits?.['outside-client']).toBe(outsideClientLimit('pod'));
    expect(outsideClientLimit('pod')).toMatch(/own kube-proxy captures traffic to external/);
    expect(outsideClientLimit('none')).toMatch(/SVCLAB_EXTERNAL_HOSTS=pod/);
  });
});

describe('ClusterLab: declared limits', () => {
  const lab = async (opts: Partial<ConstructorParameters<typeof ClusterLab>[3]>) => {
    const t = await loadTopology(join(packageRoot(), 'topologies', 'three-node.yaml'));
    t.nodes.forEach((n, i) => (n.podCIDR = `10.244.${i + 1}.0/24`));
    const backend = new ClusterBackend('l', () => t, {
      provider: 'kubeconfig',
      api: api(),
      namespace: 'svclab-l',
      nodeExec: () => () => Promise.reject(new Error('no node exec here')),
      external: () => ({ kind: 'pod', pod: 'svclab-ext-client' }),
      teardown: async () => ({ lab: 'l', removed: [], errors: [] }),
    });
    return new ClusterLab(backend, t, 'iptables', {
      workloads: {
        lab: 'l',
        namespace: 'svclab-l',
        placement: {},
        agentFiles: {},
        owner: { host: 'h', pid: 1, ephemeral: true },
      },
      tags: {
        clusterVersion: 'v1.37.0',
        nodeCount: 3,
        proxyMode: 'iptables',
        proxyModeSource: 'test',
        nodes: { 'node-a': 'w1', 'node-b': 'w2', 'node-c': 'w3' },
        notes: [],
      },
      nodeRules: false,
      ...opts,
    });
  };

  it('a proxy restart it may not do is refused with the reason suites skip with, not attempted', async () => {
    const l = await lab({ limits: { 'proxy-restart': PROXY_RESTART_NOT_ALLOWED } });
    expect(l.cannot('proxy-restart')).toBe(PROXY_RESTART_NOT_ALLOWED);
    await expect(l.restartProxies()).rejects.toThrow(PROXY_RESTART_NOT_ALLOWED);
  });

  it('a proxy restart it may do goes to the cluster nodes of the lab, each once', async () => {
    const calls: string[][] = [];
    const l = await lab({
      restartKubeProxy: async (nodes) => {
        calls.push(nodes);
        return [];
      },
    });
    expect(l.cannot('proxy-restart')).toBeUndefined();
    await l.restartProxies();
    expect(calls).toEqual([['w1', 'w2', 'w3']]);
  });

  it("masqueraded traffic may show the node IP or the node's pod-network address", async () => {
    const l = await lab({});
    expect(l.masqueradeAddresses('node-b')).toEqual([l.target('node-b').ip, '10.244.2.1']);
  });
});
