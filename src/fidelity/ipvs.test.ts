import { describe, expect, it } from 'vitest';
import { endpoint, service, servicePorts, tcpPort } from '../proxy/nftables/fixtures.js';
import { CONSTANT, UNATTRIBUTED, groupByOwner, indexServicePorts } from './attribute.js';
import { compareRulesets } from './diff.js';
import { normaliseIptablesSave } from './iptables-save.js';
import {
  normaliseDummyAddresses,
  normaliseIpsetSave,
  normaliseIpvsadmSave,
  normaliseSysctls,
} from './ipvs-save.js';
import { nodeAddresses } from './run.js';

// Shaped like what kube-proxy v1.37.2 writes in IPVS mode on a lab node (ipvsadm v1.31,
// ipset v7.17, iproute2 6.1): hash order in the kernel's listings, counters, a random initval.
const IPVSADM = `-A -t 10.0.0.2:30080 -s rr
-a -t 10.0.0.2:30080 -r 10.244.2.3:8080 -m -w 1
-a -t 10.0.0.2:30080 -r 10.244.1.2:8080 -m -w 1
-A -t 10.96.0.10:80 -s rr
-a -t 10.96.0.10:80 -r 10.244.2.3:8080 -m -w 1
-a -t 10.96.0.10:80 -r 10.244.1.2:8080 -m -w 1
-A -u 10.96.0.53:53 -s rr -p 10800
-a -u 10.96.0.53:53 -r 10.244.1.9:53 -m -w 1
-A -t 10.96.0.99:80 -s rr
`;
const TIMEOUTS = 'Timeout (tcp tcpfin udp): 900 120 300\n';

const IPSET = `create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
add KUBE-NODE-PORT-TCP 30080
create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x4e5c1a2b
add KUBE-CLUSTER-IP 10.96.0.53,udp:53
add KUBE-CLUSTER-IP 10.96.0.10,tcp:80
create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x0a1b2c3d
add KUBE-LOOP-BACK 10.244.1.2,tcp:8080,10.244.1.2
create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x11111111
add KUBE-IPVS-IPS 10.96.0.53
add KUBE-IPVS-IPS 10.96.0.10
create KUBE-HEALTH-CHECK-NODE-PORT bitmap:port range 0-65535
create docker-ips hash:ip family inet hashsize 1024 maxelem 65536
add docker-ips 10.0.0.9
`;

const ADDR = `5: kube-ipvs0    inet 10.96.0.53/32 scope global kube-ipvs0\\       valid_lft forever preferred_lft forever
5: kube-ipvs0    inet 10.96.0.10/32 scope global kube-ipvs0\\       valid_lft forever preferred_lft forever
`;
const LINK =
  '5: kube-ipvs0: <BROADCAST,NOARP> mtu 1500 qdisc noop state DOWN mode DEFAULT group default \\    link/ether 1e:4f:33:aa:bb:cc brd ff:ff:ff:ff:ff:ff\n';

const SAVE = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-IPVS-OUT-FILTER - [0:0]
-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
COMMIT
*filter
:KUBE-IPVS-OUT-FILTER - [0:0]
-A KUBE-IPVS-OUT-FILTER -s 10.96.0.10/32 -m ipvs --vaddr 10.96.0.10/32 --vproto 6 --vport 80 -j DROP
COMMIT
`;

describe('normaliseIpvsadmSave', () => {
  const texts = normaliseIpvsadmSave(IPVSADM, TIMEOUTS).lines.map((l) => l.text);

  it('sorts virtual servers, and real servers within theirs, keeping scheduler and persistence', () => {
    expect(texts).toEqual([
      'ipvs -A -t 10.0.0.2:30080 -s rr',
      'ipvs -a -t 10.0.0.2:30080 -r 10.244.1.2:8080 -m -w 1',
      'ipvs -a -t 10.0.0.2:30080 -r 10.244.2.3:8080 -m -w 1',
      'ipvs -A -t 10.96.0.10:80 -s rr',
      'ipvs -a -t 10.96.0.10:80 -r 10.244.1.2:8080 -m -w 1',
      'ipvs -a -t 10.96.0.10:80 -r 10.244.2.3:8080 -m -w 1',
      'ipvs -A -t 10.96.0.99:80 -s rr',
      'ipvs -A -u 10.96.0.53:53 -s rr -p 10800',
      'ipvs -a -u 10.96.0.53:53 -r 10.244.1.9:53 -m -w 1',
      'ipvs timeouts (tcp tcpfin udp) 900 120 300',
    ]);
  });

  it('does not depend on the order the kernel listed them in', () => {
    const shuffled = IPVSADM.split('\n').reverse().join('\n');
    // Reversed, real servers come before their virtual server's line: still grouped under it.
    expect(normaliseIpvsadmSave(shuffled, TIMEOUTS).lines.map((l) => l.text)).toEqual(texts);
  });
});

describe('normaliseIpsetSave', () => {
  const texts = normaliseIpsetSave(IPSET).lines.map((l) => l.text);

  it("keeps only kube-proxy's sets, drops the random initval, sorts sets and members", () => {
    expect(texts).toEqual([
      'ipset create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12',
      'ipset add KUBE-CLUSTER-IP 10.96.0.10,tcp:80',
      'ipset add KUBE-CLUSTER-IP 10.96.0.53,udp:53',
      'ipset create KUBE-HEALTH-CHECK-NODE-PORT bitmap:port range 0-65535',
      'ipset create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12',
      'ipset add KUBE-IPVS-IPS 10.96.0.10',
      'ipset add KUBE-IPVS-IPS 10.96.0.53',
      'ipset create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536 bucketsize 12',
      'ipset add KUBE-LOOP-BACK 10.244.1.2,tcp:8080,10.244.1.2',
      'ipset create KUBE-NODE-PORT-TCP bitmap:port range 0-65535',
      'ipset add KUBE-NODE-PORT-TCP 30080',
    ]);
  });

  it('keeps a create option that differs (a set made with `comment`)', () => {
    const withComment = IPSET.replace(
      'create KUBE-NODE-PORT-TCP bitmap:port range 0-65535',
      'create KUBE-NODE-PORT-TCP bitmap:port range 0-65535 comment',
    );
    expect(normaliseIpsetSave(withComment).lines.map((l) => l.text)).toContain(
      'ipset create KUBE-NODE-PORT-TCP bitmap:port range 0-65535 comment',
    );
  });
});

describe('normaliseSysctls', () => {
  const SYSCTL = `net.ipv4.vs.conntrack = 1
net.ipv4.vs.conn_reuse_mode = 1
net.ipv4.vs.expire_nodest_conn = 1
net.ipv4.vs.expire_quiescent_template = 1
net.ipv4.ip_forward = 1
net.ipv4.conf.all.arp_ignore = 0
net.ipv4.conf.all.arp_announce = 0
`;
  it('gives one line per sysctl IPVS mode sets, in a fixed order whatever order sysctl printed', () => {
    const shuffled = SYSCTL.split('\n').reverse().join('\n');
    const texts = normaliseSysctls(shuffled).lines.map((l) => l.text);
    expect(texts).toEqual([
      'sysctl net.ipv4.vs.conntrack = 1',
      'sysctl net.ipv4.vs.conn_reuse_mode = 1',
      'sysctl net.ipv4.vs.expire_nodest_conn = 1',
      'sysctl net.ipv4.vs.expire_quiescent_template = 1',
      'sysctl net.ipv4.ip_forward = 1',
      'sysctl net.ipv4.conf.all.arp_ignore = 0',
      'sysctl net.ipv4.conf.all.arp_announce = 0',
    ]);
  });
  it('marks a sysctl the output lacks, so a side without it differs', () => {
    const without = SYSCTL.replace(/^net\.ipv4\.vs\.conntrack.*\n/m, '');
    expect(normaliseSysctls(without).lines[0]!.text).toBe(
      'sysctl net.ipv4.vs.conntrack (not present)',
    );
    expect(normaliseSysctls(without).lines[0]!.text).not.toBe(
      normaliseSysctls(SYSCTL).lines[0]!.text,
    );
  });
});

describe('normaliseDummyAddresses', () => {
  it("lists kube-ipvs0's addresses sorted, without index and lifetimes, after the device's state", () => {
    expect(normaliseDummyAddresses(ADDR, LINK).lines.map((l) => l.text)).toEqual([
      'kube-ipvs0 link <BROADCAST,NOARP> state DOWN',
      'kube-ipvs0 inet 10.96.0.10/32 scope global',
      'kube-ipvs0 inet 10.96.0.53/32 scope global',
    ]);
  });

  it('has no lines for a node without the device', () => {
    expect(normaliseDummyAddresses('').lines).toEqual([]);
  });
});

describe('nodeAddresses', () => {
  it("takes every IPv4 address but loopback's and kube-ipvs0's", () => {
    const text = [
      '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
      '2: eth0@if9    inet 10.0.0.2/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever',
      '3: cbr0    inet 10.244.1.1/24 scope global cbr0\\       valid_lft forever',
      '5: kube-ipvs0    inet 10.96.0.10/32 scope global kube-ipvs0\\       valid_lft forever',
    ].join('\n');
    expect(nodeAddresses(text)).toEqual(['10.0.0.2/24', '10.244.1.1/24']);
  });
});

describe('IPVS attribution', () => {
  const web = service({
    name: 'web',
    type: 'NodePort',
    clusterIP: '10.96.0.10',
    ports: [tcpPort(80, { name: 'http', nodePort: 30080 })],
  });
  const dns = service({
    name: 'dns',
    clusterIP: '10.96.0.53',
    sessionAffinity: 'ClientIP',
    sessionAffinityTimeoutSeconds: 10800,
    ports: [{ name: 'dns', port: 53, targetPort: 53, protocol: 'UDP' }],
  });
  const state = {
    servicePorts: [
      ...servicePorts(web, [endpoint('10.244.1.2', 'node-a'), endpoint('10.244.2.3', 'node-b')]),
      ...servicePorts(dns, [endpoint('10.244.1.9', 'node-a', 53)]),
    ],
  };
  const index = indexServicePorts(state);
  const rulesets = [
    normaliseIptablesSave(SAVE),
    normaliseIpvsadmSave(IPVSADM, TIMEOUTS),
    normaliseIpsetSave(IPSET),
    normaliseDummyAddresses(ADDR, LINK),
    normaliseSysctls('net.ipv4.vs.conntrack = 1\n'),
  ];
  const groups = groupByOwner(
    rulesets.flatMap((r) => r.lines),
    index,
    'ipvs',
  );

  it('gives virtual servers (ClusterIP and NodePort), set members and addresses to their Service port', () => {
    expect(groups.get('default/web:http/TCP')).toEqual([
      'filter -A KUBE-IPVS-OUT-FILTER -s 10.96.0.10/32 -m ipvs --vaddr 10.96.0.10/32 --vproto 6 --vport 80 -j DROP',
      'ipvs -A -t 10.0.0.2:30080 -s rr',
      'ipvs -a -t 10.0.0.2:30080 -r 10.244.1.2:8080 -m -w 1',
      'ipvs -a -t 10.0.0.2:30080 -r 10.244.2.3:8080 -m -w 1',
      'ipvs -A -t 10.96.0.10:80 -s rr',
      'ipvs -a -t 10.96.0.10:80 -r 10.244.1.2:8080 -m -w 1',
      'ipvs -a -t 10.96.0.10:80 -r 10.244.2.3:8080 -m -w 1',
      'ipset add KUBE-CLUSTER-IP 10.96.0.10,tcp:80',
      'ipset add KUBE-IPVS-IPS 10.96.0.10',
      'ipset add KUBE-LOOP-BACK 10.244.1.2,tcp:8080,10.244.1.2',
      'ipset add KUBE-NODE-PORT-TCP 30080',
      'kube-ipvs0 inet 10.96.0.10/32 scope global',
    ]);
    expect(groups.get('default/dns:dns/UDP')).toEqual([
      'ipvs -A -u 10.96.0.53:53 -s rr -p 10800',
      'ipvs -a -u 10.96.0.53:53 -r 10.244.1.9:53 -m -w 1',
      'ipset add KUBE-CLUSTER-IP 10.96.0.53,udp:53',
      'ipset add KUBE-IPVS-IPS 10.96.0.53',
      'kube-ipvs0 inet 10.96.0.53/32 scope global',
    ]);
  });

  it('leaves set definitions, set-matching rules, timeouts and the device to the constant part', () => {
    const constant = groups.get(CONSTANT)!;
    expect(constant).toContain(
      'ipset create KUBE-HEALTH-CHECK-NODE-PORT bitmap:port range 0-65535',
    );
    expect(constant).toContain('ipvs timeouts (tcp tcpfin udp) 900 120 300');
    expect(constant).toContain('kube-ipvs0 link <BROADCAST,NOARP> state DOWN');
    expect(constant).toContain('sysctl net.ipv4.vs.conntrack = 1');
    expect(constant.some((l) => l.includes('--match-set KUBE-CLUSTER-IP'))).toBe(true);
  });

  it('puts a virtual server of no Service port of the state apart', () => {
    expect(groups.get(UNATTRIBUTED)).toEqual(['ipvs -A -t 10.96.0.99:80 -s rr']);
  });

  it('reports a real server svclab left out on its Service port, and nothing else', () => {
    const svclab = rulesets.map((r) => ({
      ...r,
      lines: r.lines.filter(
        (l) => l.text !== 'ipvs -a -t 10.96.0.10:80 -r 10.244.2.3:8080 -m -w 1',
      ),
    }));
    const byPort = new Map(
      compareRulesets({ mode: 'ipvs', index, kubeProxy: rulesets, svclab }).map((c) => [
        c.servicePort,
        c,
      ]),
    );
    expect(byPort.get('default/web:http/TCP')!.status).toBe('different');
    expect(byPort.get('default/web:http/TCP')!.firstDifference).toEqual([
      '- ipvs -a -t 10.96.0.10:80 -r 10.244.2.3:8080 -m -w 1',
      '+ (none)',
    ]);
    expect(byPort.get('default/dns:dns/UDP')!.status).toBe('identical');
    expect(byPort.get(CONSTANT)!.status).toBe('identical');
  });
});

describe('runs read back from the VM', () => {
  it('get their declarations back (JSON keeps no patterns)', async () => {
    const { reviveRuns } = await import('./vm.js');
    const { DECLARED_DIFFERENCES } = await import('./declared.js');
    const d = DECLARED_DIFFERENCES[0]!;
    const fromJson = JSON.parse(
      JSON.stringify({
        kubeVersion: 'v1.37.2',
        runs: [
          {
            mode: d.mode,
            lab: 'l',
            configuration: [],
            notes: [],
            sources: [
              {
                source: 's',
                comparisons: [
                  {
                    servicePort: CONSTANT,
                    status: 'declared',
                    declared: [d],
                    lines: { kubeProxy: 1, svclab: 0 },
                  },
                ],
              },
            ],
          },
        ],
      }),
    );
    const revived = reviveRuns(fromJson);
    expect(revived.runs[0]!.sources[0]!.comparisons[0]!.declared[0]).toBe(d);
  });
});

describe('KUBE-IPVS-OUT-FILTER rules', () => {
  // What iptables-save (nft backend) printed in the VM for kube-proxy v1.37.2: the ipvs match's
  // options in its own order and the protocol by number. Seed 11, sets 8, 16 and 19 of the
  // generated series showed a Service's three drop rules in another order than svclab's
  // (kube-proxy fills them walking its svcPortMap, a Go map).
  const lb = service({
    name: 'lb',
    type: 'LoadBalancer',
    clusterIP: '10.96.0.20',
    loadBalancerIPs: ['172.18.200.138'],
    loadBalancerSourceRanges: ['192.0.2.0/24'],
    ports: [
      tcpPort(80, { name: 'a', nodePort: 30032 }),
      { name: 'b', port: 81, targetPort: 8081, protocol: 'UDP', nodePort: 30033 },
    ],
  });
  const index = indexServicePorts({
    servicePorts: servicePorts(lb, [endpoint('10.244.1.2', 'node-a')]),
  });
  const rule = (proto: number, port: number) =>
    `-A KUBE-IPVS-OUT-FILTER -s 172.18.200.138/32 -m ipvs --vproto ${proto} --vaddr 172.18.200.138 --vport ${port} -j DROP`;
  const save = (rules: string[]) =>
    `*filter\n:KUBE-IPVS-OUT-FILTER - [0:0]\n${rules.join('\n')}\nCOMMIT\n`;

  it("belong to the load-balancer IP:port they drop, in iptables-save's option order", () => {
    const groups = groupByOwner(
      normaliseIptablesSave(save([rule(6, 80), rule(17, 81)])).lines,
      index,
      'ipvs',
    );
    expect(groups.get('default/lb:a/TCP')).toEqual([`filter ${rule(6, 80)}`]);
    expect(groups.get('default/lb:b/UDP')).toEqual([`filter ${rule(17, 81)}`]);
    expect(groups.get(CONSTANT) ?? []).not.toContain(`filter ${rule(6, 80)}`);
  });

  it('compare identical whatever order the two proxies wrote them in', () => {
    const kubeProxy = [normaliseIptablesSave(save([rule(17, 81), rule(6, 80)]))];
    const svclab = [normaliseIptablesSave(save([rule(6, 80), rule(17, 81)]))];
    const results = compareRulesets({ mode: 'ipvs', index, kubeProxy, svclab });
    expect(results.filter((c) => c.status !== 'identical')).toEqual([]);
  });
});
