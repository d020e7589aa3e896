import { describe, expect, it } from 'vitest';
import type { ProxyState } from '../proxy/types.js';
import { clusterIPLag, lagReason } from './cluster-ips.js';
import type { NormalisedRuleset } from './lines.js';

const state = (...ips: string[]): ProxyState =>
  ({
    servicePorts: ips.map((clusterIP) => ({ service: { clusterIP }, endpoints: [] })),
  }) as unknown as ProxyState;
const ruleset = (...texts: string[]): NormalisedRuleset => ({
  source: 'test',
  lines: texts.map((text) => ({ kind: 'rule', text, table: 'nat', object: 'KUBE-SERVICES' })),
});

describe('clusterIPLag', () => {
  it('finds nothing when every mode’s lines hold exactly the state’s ClusterIPs', () => {
    const kernel = [
      ruleset(
        '-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y',
        '-A KUBE-SERVICES -d 10.96.254.104/32 -p tcp -j REJECT',
      ),
      // nftables: elements, and the service CIDR's own rules (a range, not an address).
      ruleset(
        'element ip kube-proxy service-ips { 10.96.254.103 . tcp . 81 : goto service-X }',
        'rule ip kube-proxy services ip daddr 10.96.0.0/16 drop',
      ),
      // IPVS: virtual servers, ipset entries, kube-ipvs0 addresses; node and pod IPs are no Service's.
      ruleset(
        'ipvs -A -t 10.96.254.102:80 -s rr',
        'ipvs -a -t 10.96.254.102:80 -r 10.244.0.3:8080 -m -w 1',
        'ipset add KUBE-CLUSTER-IP 10.96.254.102,tcp:80',
        'kube-ipvs0 inet 10.96.254.102/32 scope global',
        'ipvs -A -t 172.18.0.2:30070 -s rr',
      ),
    ];
    const lag = clusterIPLag(
      state('10.96.0.1', '10.96.254.104', '10.96.254.103', '10.96.254.102'),
      kernel,
      '10.96.0.0/16',
    );
    expect(lag).toEqual({ missing: [], stale: [] });
    expect(lagReason(lag)).toBeUndefined();
  });

  it('names the ClusterIPs a kernel still lacks and the ones it still holds (seed 11 set 78)', () => {
    const kernel = [
      ruleset(
        'ipvs -A -t 10.96.0.1:443 -s rr',
        'ipvs -A -t 10.96.254.106:80 -s rr',
        'ipvs -A -t 10.96.254.108:80 -s rr',
        'ipset add KUBE-CLUSTER-IP 10.96.254.109,tcp:81',
        'kube-ipvs0 inet 10.96.254.110/32 scope global',
      ),
    ];
    const lag = clusterIPLag(
      state('10.96.0.1', '10.96.254.105', '10.96.254.104', '10.96.254.103', '10.96.254.102'),
      kernel,
      '10.96.0.0/16',
    );
    expect(lag).toEqual({
      missing: ['10.96.254.102', '10.96.254.103', '10.96.254.104', '10.96.254.105'],
      stale: ['10.96.254.106', '10.96.254.108', '10.96.254.109', '10.96.254.110'],
    });
    expect(lagReason(lag)).toBe(
      'ClusterIPs without 10.96.254.102, 10.96.254.103, 10.96.254.104 and 1 more, still with 10.96.254.106, 10.96.254.108, 10.96.254.109 and 1 more',
    );
  });
});
