import { describe, expect, it } from 'vitest';
import type { ServicePortState } from '../types.js';
import {
  diffIpvs,
  emptyApplied,
  needsConnCounts,
  virtualServersNeedingConnCounts,
  reconcileGraceful,
  type AppliedState,
} from './diff.js';
import { checkGraceful, decideRemoval, type ConnCounts } from './graceful.js';
import { parseIpvsadmList } from './ipvsadm.js';
import { planIpvs } from './plan.js';
import { endpoint, service, servicePorts } from './testing.js';

const NODE = 'node-a';
const plan = (sps: ServicePortState[]) =>
  planIpvs({
    state: { servicePorts: sps },
    nodeName: NODE,
    nodeIPs: ['192.168.100.2'],
    clusterCIDR: '10.244.0.0/16',
    scheduler: 'rr',
  });

const web = (
  eps = [endpoint('10.244.1.2', NODE), endpoint('10.244.2.2', 'node-b')],
  affinity = false,
) =>
  servicePorts(
    service({
      name: 'web',
      clusterIP: '10.96.0.10',
      sessionAffinity: affinity ? 'ClientIP' : 'None',
      sessionAffinityTimeoutSeconds: 30,
    }),
    [{ port: 80 }],
    eps,
  );
const dns = (eps = [endpoint('10.244.1.5', NODE), endpoint('10.244.2.5', 'node-b')]) =>
  servicePorts(
    service({ name: 'dns', type: 'NodePort', clusterIP: '10.96.0.53' }),
    [{ port: 53, protocol: 'UDP', targetPort: 5353, nodePort: 30053 }],
    eps,
  );

function applyAll(sps: ServicePortState[]): AppliedState {
  return diffIpvs({ applied: emptyApplied(), desired: plan(sps) }).next;
}
const counts = (entries: [string, number, number][]) =>
  new Map<string, ConnCounts>(entries.map(([k, a, i]) => [k, { activeConn: a, inactiveConn: i }]));

describe('diffIpvs', () => {
  it('first sync writes every virtual server, real server, set member, address and the rules', () => {
    const ops = diffIpvs({ applied: emptyApplied(), desired: plan([...web(), ...dns()]) });
    expect(ops.ipvsadm).toEqual([
      '-A -t 10.96.0.10:80 -s rr',
      '-a -t 10.96.0.10:80 -r 10.244.1.2:8080 -m -w 1',
      '-a -t 10.96.0.10:80 -r 10.244.2.2:8080 -m -w 1',
      '-A -u 10.96.0.53:53 -s rr',
      '-a -u 10.96.0.53:53 -r 10.244.1.5:5353 -m -w 1',
      '-a -u 10.96.0.53:53 -r 10.244.2.5:5353 -m -w 1',
      '-A -u 192.168.100.2:30053 -s rr',
      '-a -u 192.168.100.2:30053 -r 10.244.1.5:5353 -m -w 1',
      '-a -u 192.168.100.2:30053 -r 10.244.2.5:5353 -m -w 1',
    ]);
    expect(ops.ip).toEqual([
      'address replace 10.96.0.10/32 dev kube-ipvs0',
      'address replace 10.96.0.53/32 dev kube-ipvs0',
    ]);
    expect(ops.ipset).toContain('add KUBE-CLUSTER-IP 10.96.0.10,tcp:80 -exist');
    expect(ops.ipset).toContain('add KUBE-NODE-PORT-UDP 30053 -exist');
    expect(ops.ipset).toContain('add KUBE-LOOP-BACK 10.244.1.5,udp:5353,10.244.1.5 -exist');
    expect(ops.ipset.every((l) => l.startsWith('add '))).toBe(true);
    expect(ops.iptables).toBeDefined();
  });

  it('a second sync of the same state does nothing', () => {
    const applied = applyAll([...web(), ...dns()]);
    const ops = diffIpvs({ applied, desired: plan([...web(), ...dns()]) });
    expect(ops).toMatchObject({ ipvsadm: [], ipset: [], ip: [], iptables: undefined });
  });

  it("one Service's endpoint change touches only that Service's real servers and set members", () => {
    const applied = applyAll([...web(), ...dns()]);
    const changed = dns([endpoint('10.244.1.5', NODE), endpoint('10.244.1.6', NODE)]);
    const ops = diffIpvs({ applied, desired: plan([...web(), ...changed]) });
    // UDP real servers are deleted at once (no connections to drain; expire_nodest_conn handles the rest).
    expect(ops.ipvsadm).toEqual([
      '-a -u 10.96.0.53:53 -r 10.244.1.6:5353 -m -w 1',
      '-d -u 10.96.0.53:53 -r 10.244.2.5:5353',
      '-a -u 192.168.100.2:30053 -r 10.244.1.6:5353 -m -w 1',
      '-d -u 192.168.100.2:30053 -r 10.244.2.5:5353',
    ]);
    expect(ops.ipset).toEqual(['add KUBE-LOOP-BACK 10.244.1.6,udp:5353,10.244.1.6 -exist']);
    expect(ops.ip).toEqual([]);
    expect(ops.iptables).toBeUndefined();
  });

  it('switching affinity on edits the virtual server in place (-E), keeping its real servers', () => {
    const applied = applyAll(web());
    const ops = diffIpvs({ applied, desired: plan(web(undefined, true)) });
    expect(ops.ipvsadm).toEqual(['-E -t 10.96.0.10:80 -s rr -p 30']);
    const off = diffIpvs({ applied: ops.next, desired: plan(web()) });
    expect(off.ipvsadm).toEqual(['-E -t 10.96.0.10:80 -s rr']);
  });

  it('a removed Service deletes its virtual servers, unbinds its VIP, removes its members; rules change only when a set empties', () => {
    const applied = applyAll([...web(), ...dns()]);
    const ops = diffIpvs({ applied, desired: plan(web()) });
    expect(ops.ipvsadm).toEqual(['-D -u 10.96.0.53:53', '-D -u 192.168.100.2:30053']);
    expect(ops.ip).toEqual(['address del 10.96.0.53/32 dev kube-ipvs0']);
    expect(ops.ipset).toContain('del KUBE-NODE-PORT-UDP 30053 -exist');
    expect(ops.ipset).toContain('del KUBE-CLUSTER-IP 10.96.0.53,udp:53 -exist');
    // KUBE-NODE-PORT-UDP became empty, so its rule goes: the ruleset changed.
    expect(ops.iptables).toBeDefined();
    expect(ops.iptables).not.toContain('KUBE-NODE-PORT-UDP');
  });

  it('full sync recreates and flushes every set and rewrites the rules', () => {
    const applied = applyAll(web());
    const ops = diffIpvs({ applied, desired: plan(web()), full: true });
    expect(ops.ipset).toContain(
      'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 -exist',
    );
    expect(ops.ipset).toContain('create KUBE-NODE-PORT-TCP bitmap:port range 0-65535 -exist');
    expect(ops.ipset).toContain('flush KUBE-CLUSTER-IP');
    expect(ops.ipset).toContain('add KUBE-CLUSTER-IP 10.96.0.10,tcp:80 -exist');
    expect(ops.iptables).toBe(applied.iptables);
    expect(ops.ipvsadm).toEqual([]);
  });
});

describe('graceful termination', () => {
  const removedKey = 'TCP/10.96.0.10:80/10.244.2.2:8080';

  it('decides: UDP deletes at once; TCP deletes when idle, quiesces with connections', () => {
    expect(decideRemoval('UDP', { activeConn: 3, inactiveConn: 0 })).toBe('delete');
    expect(decideRemoval('TCP', { activeConn: 0, inactiveConn: 0 })).toBe('delete');
    expect(decideRemoval('TCP', { activeConn: 0, inactiveConn: 1 })).toBe('quiesce');
    expect(decideRemoval('TCP', undefined)).toBe('delete');
    expect(checkGraceful(undefined)).toBe('gone');
    expect(checkGraceful({ activeConn: 1, inactiveConn: 0 })).toBe('keep');
    expect(checkGraceful({ activeConn: 0, inactiveConn: 0 })).toBe('delete');
  });

  it('asks for connection counts only when a TCP real server leaves or one is draining', () => {
    const applied = applyAll(web());
    expect(needsConnCounts(applied, plan(web()))).toBe(false);
    expect(needsConnCounts(applied, plan(web([endpoint('10.244.1.2', NODE)])))).toBe(true);
    expect(needsConnCounts(applied, plan([]))).toBe(false); // whole virtual server goes
    // Only the virtual server that loses a real server is listed, not the whole table.
    const [key] = [...applied.virtualServers.keys()].filter((k) => k.startsWith('TCP/'));
    expect(
      virtualServersNeedingConnCounts(applied, plan(web([endpoint('10.244.1.2', NODE)]))),
    ).toEqual([key]);
  });

  it('an idle TCP real server is deleted at once', () => {
    const applied = applyAll(web());
    const ops = diffIpvs({
      applied,
      desired: plan(web([endpoint('10.244.1.2', NODE)])),
      conns: counts([[removedKey, 0, 0]]),
    });
    expect(ops.ipvsadm).toEqual(['-d -t 10.96.0.10:80 -r 10.244.2.2:8080']);
    expect(ops.next.graceful.size).toBe(0);
  });

  it('weight 0 while connections live, kept on later syncs, deleted once ActiveConn+InActConn reach 0', () => {
    const desired = plan(web([endpoint('10.244.1.2', NODE)]));
    const s1 = diffIpvs({ applied: applyAll(web()), desired, conns: counts([[removedKey, 2, 1]]) });
    expect(s1.ipvsadm).toEqual(['-e -t 10.96.0.10:80 -r 10.244.2.2:8080 -m -w 0']);
    expect([...s1.next.graceful]).toEqual([removedKey]);
    expect(
      s1.next.virtualServers.get('TCP/10.96.0.10:80')!.realServers.map((r) => r.weight),
    ).toEqual([1, 0]);

    const s2 = diffIpvs({ applied: s1.next, desired, conns: counts([[removedKey, 0, 1]]) });
    expect(s2.ipvsadm).toEqual([]);
    expect([...s2.next.graceful]).toEqual([removedKey]);

    const s3 = diffIpvs({ applied: s2.next, desired, conns: counts([[removedKey, 0, 0]]) });
    expect(s3.ipvsadm).toEqual(['-d -t 10.96.0.10:80 -r 10.244.2.2:8080']);
    expect(s3.next.graceful.size).toBe(0);
    expect(s3.next.virtualServers.get('TCP/10.96.0.10:80')!.realServers).toHaveLength(1);
  });

  it('reconcileGraceful between syncs: keeps draining ones, deletes drained, forgets ones gone from the kernel', () => {
    const desired = plan(web([endpoint('10.244.1.2', NODE)]));
    const s1 = diffIpvs({ applied: applyAll(web()), desired, conns: counts([[removedKey, 1, 0]]) });
    expect(reconcileGraceful(s1.next, counts([[removedKey, 1, 0]])).ipvsadm).toEqual([]);
    const drained = reconcileGraceful(s1.next, counts([[removedKey, 0, 0]]));
    expect(drained.ipvsadm).toEqual(['-d -t 10.96.0.10:80 -r 10.244.2.2:8080']);
    expect(drained.deleted).toEqual([removedKey]);
    const gone = reconcileGraceful(s1.next, new Map());
    expect(gone.ipvsadm).toEqual([]);
    expect(gone.next.graceful.size).toBe(0);
  });

  it('an endpoint that comes back while draining is deleted and added anew, as kube-proxy does', () => {
    const s1 = diffIpvs({
      applied: applyAll(web()),
      desired: plan(web([endpoint('10.244.1.2', NODE)])),
      conns: counts([[removedKey, 1, 0]]),
    });
    const back = diffIpvs({
      applied: s1.next,
      desired: plan(web()),
      conns: counts([[removedKey, 1, 0]]),
    });
    expect(back.ipvsadm).toEqual([
      '-d -t 10.96.0.10:80 -r 10.244.2.2:8080',
      '-a -t 10.96.0.10:80 -r 10.244.2.2:8080 -m -w 1',
    ]);
    expect(back.next.graceful.size).toBe(0);
  });

  it('deleting the whole Service drops its draining real servers with it', () => {
    const s1 = diffIpvs({
      applied: applyAll(web()),
      desired: plan(web([endpoint('10.244.1.2', NODE)])),
      conns: counts([[removedKey, 1, 0]]),
    });
    const gone = diffIpvs({
      applied: s1.next,
      desired: plan([]),
      conns: counts([[removedKey, 1, 0]]),
    });
    expect(gone.ipvsadm).toEqual(['-D -t 10.96.0.10:80']);
    expect(gone.next.graceful.size).toBe(0);
  });
});

describe('parseIpvsadmList', () => {
  it('reads virtual servers, persistence and per-real-server counts', () => {
    const text = [
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      'TCP  10.96.0.10:80 rr persistent 30',
      '  -> 10.244.1.2:8080              Masq    1      0          0',
      '  -> 10.244.2.2:8080              Masq    0      2          1',
      'UDP  10.96.0.53:53 rr',
      '',
    ].join('\n');
    expect(parseIpvsadmList(text)).toEqual([
      {
        protocol: 'TCP',
        address: '10.96.0.10',
        port: 80,
        scheduler: 'rr',
        persistence: 30,
        realServers: [
          {
            address: '10.244.1.2',
            port: 8080,
            forward: 'Masq',
            weight: 1,
            activeConn: 0,
            inactiveConn: 0,
          },
          {
            address: '10.244.2.2',
            port: 8080,
            forward: 'Masq',
            weight: 0,
            activeConn: 2,
            inactiveConn: 1,
          },
        ],
      },
      {
        protocol: 'UDP',
        address: '10.96.0.53',
        port: 53,
        scheduler: 'rr',
        persistence: undefined,
        realServers: [],
      },
    ]);
  });
});
