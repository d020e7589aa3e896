import { describe, expect, it } from 'vitest';
import { kubeProxyConfiguration, parseSyncMetrics } from './kube-proxy.js';

describe('kube-proxy per node', () => {
  it('keeps kube-proxy inside its namespace: no global conntrack writes, node addresses, own hostname', () => {
    const c = kubeProxyConfiguration(
      {
        mode: 'nftables',
        binary: '/b',
        kubeconfig: '/k',
        clusterCIDR: '10.244.0.0/16',
        dir: '/d',
        logDir: '/l',
      },
      { name: 'node-a', ip: '172.18.0.2', netns: 'n' },
    ) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(c.conntrack.maxPerCore).toBe(0);
    expect(c.oomScoreAdj).toBe(0);
    expect(c.hostnameOverride).toBe('node-a');
    expect(c.metricsBindAddress).toBe('172.18.0.2:10249');
    expect(c.healthzBindAddress).toBe('172.18.0.2:10256');
    expect(c.mode).toBe('nftables');
    // 0s would be defaulted to 1s (pkg/proxy/apis/config/v1alpha1/defaults.go).
    expect(c.nftables.minSyncPeriod).toBe('1ms');
    expect(c.iptables.minSyncPeriod).toBe('1ms');
    expect(c.nftables.syncPeriod).toBe('30s');
  });

  it('reads the sync metrics, with and without labels, and ignores longer names', () => {
    const m = parseSyncMetrics(
      [
        '# HELP kubeproxy_sync_proxy_rules_service_changes_total x',
        'kubeproxy_sync_proxy_rules_service_changes_total 7',
        'kubeproxy_sync_proxy_rules_endpoint_changes_total{a="b c"} 3',
        'kubeproxy_sync_proxy_rules_endpoint_changes_total{a="d"} 2',
        'kubeproxy_sync_proxy_rules_endpoint_changes_pending 1',
        'kubeproxy_sync_proxy_rules_last_timestamp_seconds 1.7e9',
        'kubeproxy_sync_proxy_rules_last_timestamp_seconds_other 9e9',
        'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds 1.6e9',
      ].join('\n'),
    );
    expect(m).toEqual({
      serviceChanges: 7,
      endpointChanges: 5,
      servicePending: 0,
      endpointPending: 1,
      lastSync: 1.7e9,
      lastQueued: 1.6e9,
    });
  });
});
