import { describe, expect, it } from 'vitest';
import type { ServicePortState } from '../types.js';
import {
  applyDrainCheck,
  applyPatch,
  checkDraining,
  diffIpvs,
  diffIpvsChanges,
  emptyApplied,
  reconcileGraceful,
  virtualServersNeedingConnCounts,
  type AppliedState,
  type SyncOps,
} from './diff.js';
import type { ConnCounts } from './graceful.js';
import { IPSET_KEYS } from './ipset.js';
import { rsKey } from './ipvsadm.js';
import { IpvsPlanner, planIpvs, type IpvsPlan, type PlanInput } from './plan.js';
import { NODE, NODE_IPS_A, NODE_IPS_B, RandomCluster, clone } from './random.test-helper.js';
import { referencePlanIpvs } from './reference.test-helper.js';
import { endpoint, service, servicePorts } from './testing.js';

/**
 * The incremental path (IpvsPlanner + diffIpvsChanges + applyPatch) against the full one as it
 * was (the one-shot reference planner + diffIpvs + its `next`), over random sequences of changes:
 * same plan, same ipvsadm/ipset/ip/iptables lines in the same order, same applied state.
 */

const CIDR = '10.244.0.0/16';

const normPlan = (p: IpvsPlan) => ({
  virtualServers: [...p.virtualServers].sort(([a], [b]) => (a < b ? -1 : 1)),
  ipsets: IPSET_KEYS.map((k) => [k, [...p.ipsets.get(k)!].sort()]),
  boundAddresses: [...p.boundAddresses].sort(),
  iptables: p.iptables,
});

const normApplied = (a: AppliedState) => ({
  // Real servers in their order: the next diff's lines follow it.
  virtualServers: [...a.virtualServers].sort(([x], [y]) => (x < y ? -1 : 1)),
  ipsets: IPSET_KEYS.map((k) => [k, [...a.ipsets.get(k)!].sort()]),
  boundAddresses: [...a.boundAddresses].sort(),
  iptables: a.iptables,
  graceful: [...a.graceful].sort(),
});

const opsOf = (o: Omit<SyncOps, 'next'>) => ({
  ipvsadm: o.ipvsadm,
  ipset: o.ipset,
  ip: o.ip,
  iptables: o.iptables,
  counts: o.counts,
});

/** Connection counts as the kernel would report them, varying with `salt` (about half idle). */
function kernelConns(
  applied: AppliedState,
  keys: Iterable<string> | undefined,
  salt: number,
): Map<string, ConnCounts> {
  const m = new Map<string, ConnCounts>();
  const hash = (s: string) => {
    let h = salt * 2654435761;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
    return h >>> 0;
  };
  for (const key of keys ?? applied.virtualServers.keys()) {
    const vs = applied.virtualServers.get(key);
    for (const rs of vs?.realServers ?? []) {
      const k = rsKey(vs!, rs);
      const h = hash(k);
      m.set(
        k,
        h % 2 === 0
          ? { activeConn: 0, inactiveConn: 0 }
          : { activeConn: h % 3, inactiveConn: (h >>> 3) % 2 },
      );
    }
  }
  return m;
}

/** What the random sequences went through, summed over seeds (checked at the end). */
const seen = {
  incremental: 0,
  full: 0,
  failed: 0,
  shuffled: 0,
  quiesced: 0,
  /** Draining real servers deleted and added anew (their endpoint came back). */
  cameBack: 0,
  drainedByCheck: 0,
  edited: 0,
  contested: 0,
};

/** Runs `steps` random changes and checks every sync both ways. */
function runSequence(seed: number, steps: number): { syncs: number; incremental: number } {
  const cluster = new RandomCluster(seed);
  const g = cluster.g;
  const planner = new IpvsPlanner({ nodeName: NODE, clusterCIDR: CIDR, scheduler: 'rr' });
  let ref = emptyApplied();
  const inc = emptyApplied();
  /** Old and new objects of what changed since the planner's last commit. */
  let touched: ServicePortState[] = [];
  let incremental = 0;

  for (let i = 0; i < steps; i++) {
    const { kind, touched: now } = cluster.change();
    touched.push(...now);
    const nodeIPs = cluster.nodeIPs;
    // The reference gets the state sorted by name (its "last one wins" is then the planner's
    // rule); the planner sometimes gets it shuffled, which must not matter.
    const sorted = cluster.sorted();
    const shuffle = g.chance(0.15);
    const given = shuffle ? cluster.shuffled() : sorted;
    if (shuffle) seen.shuffled++;
    const input: PlanInput = {
      state: { servicePorts: sorted },
      nodeName: NODE,
      nodeIPs,
      clusterCIDR: CIDR,
      scheduler: 'rr',
    };
    const want = referencePlanIpvs(input);
    const desired = planner.plan({ servicePorts: given }, nodeIPs);
    const where = `seed ${seed} step ${i} (${kind})`;
    expect(normPlan(desired), where).toEqual(normPlan(want));
    expect(planner.realServers, where).toBe(
      [...want.virtualServers.values()].reduce((n, v) => n + v.realServers.length, 0),
    );

    const changes = planner.changes;
    if (!changes.all) {
      // What the planner reports is confined to what changed: the cheap path stays cheap.
      const scope = referencePlanIpvs({ ...input, state: { servicePorts: touched } });
      for (const k of changes.virtualServers) expect(scope.virtualServers.has(k), where).toBe(true);
      for (const a of changes.boundAddresses) expect(scope.boundAddresses.has(a), where).toBe(true);
      for (const [set, members] of changes.ipsets)
        for (const m of members)
          expect(scope.ipsets.get(set)!.has(m), `${where} ${set}`).toBe(true);
    }

    const full = g.chance(0.08);
    const failed = !full && g.chance(0.08);
    let refOps: SyncOps;
    let incOps: Omit<SyncOps, 'next'>;
    let commitInc: () => void;
    if (full) {
      // As a full sync: counts of every real server the kernel has.
      const conns = kernelConns(ref, undefined, i);
      refOps = diffIpvs({ applied: ref, desired: want, conns, full: true });
      const all = diffIpvs({ applied: inc, desired, conns, full: true });
      incOps = all;
      commitInc = () => {
        Object.assign(inc, all.next);
      };
    } else {
      const refKeys = virtualServersNeedingConnCounts(ref, want);
      const incKeys = virtualServersNeedingConnCounts(
        inc,
        desired,
        changes.all ? undefined : changes,
      );
      expect(incKeys, where).toEqual(refKeys);
      const conns = refKeys.length > 0 ? kernelConns(ref, refKeys, i) : undefined;
      refOps = diffIpvs({ applied: ref, desired: want, conns });
      if (changes.all) {
        const all = diffIpvs({ applied: inc, desired, conns });
        incOps = all;
        commitInc = () => {
          Object.assign(inc, all.next);
        };
      } else {
        const some = diffIpvsChanges({ applied: inc, desired, changes, conns });
        incOps = some;
        commitInc = () => applyPatch(inc, some.patch);
        incremental++;
        seen.incremental++;
      }
    }
    expect(opsOf(incOps), where).toEqual(opsOf(refOps));
    seen.full += full ? 1 : 0;
    seen.failed += failed ? 1 : 0;
    seen.quiesced += refOps.counts.realServersQuiesced;
    seen.edited += refOps.counts.virtualServersEdited;
    seen.cameBack += refOps.ipvsadm.filter(
      (l, j) => l.startsWith('-d ') && refOps.ipvsadm[j + 1]?.startsWith(`-a ${l.slice(3)}`),
    ).length;
    const planned = new Set<string>();
    for (const sp of new Set(sorted)) {
      for (const k of referencePlanIpvs({
        ...input,
        state: { servicePorts: [sp] },
      }).virtualServers.keys()) {
        if (planned.has(k)) seen.contested++;
        planned.add(k);
      }
    }
    if (!failed) {
      // A failed sync commits nothing: the planner's changes accumulate into the next one.
      ref = refOps.next;
      commitInc();
      planner.commit();
      touched = [];
    }
    expect(normApplied(inc), where).toEqual(normApplied(ref));

    if (ref.graceful.size > 0 && g.chance(0.3)) {
      // The periodic check of draining real servers, as the proxy runs it between syncs.
      const keys = [...ref.graceful].map((k) => k.slice(0, k.lastIndexOf('/')));
      const conns = kernelConns(ref, keys, i + 1000);
      const r = reconcileGraceful(ref, conns);
      const d = checkDraining((k) => inc.virtualServers.get(k), inc.graceful, conns);
      expect(d.ipvsadm, where).toEqual(r.ipvsadm);
      expect(d.deleted, where).toEqual(r.deleted);
      seen.drainedByCheck += d.deleted.length;
      ref = r.next;
      applyDrainCheck(inc, d);
      expect(normApplied(inc), where).toEqual(normApplied(ref));
    }
  }
  return { syncs: steps, incremental };
}

describe('incremental IPVS planning and diffing', () => {
  it.each([1, 2, 3, 4, 5, 6])(
    'random changes (seed %i): same plan, lines and applied state as the full path',
    (seed) => {
      const r = runSequence(seed, 160);
      // Most syncs took the incremental path (else this test would prove little).
      expect(r.incremental).toBeGreaterThan(r.syncs / 2);
    },
  );

  it('the random sequences covered quiescing, comebacks, drain checks, edits, failures, full syncs, shuffles', () => {
    for (const [k, n] of Object.entries(seen)) expect(n, k).toBeGreaterThan(0);
  });

  const node = { nodeName: NODE, clusterCIDR: CIDR, scheduler: 'rr' as const };
  const web = (eps = [endpoint('10.244.1.2', NODE), endpoint('10.244.2.2', 'node-b')]) =>
    servicePorts(
      service({ name: 'web', clusterIP: '10.96.0.10', externalIPs: ['203.0.113.10'] }),
      [
        { name: 'http', port: 80 },
        { name: 'https', port: 443, targetPort: 8443 },
      ],
      eps,
    );
  const other = (name: string, eps = [endpoint('10.244.2.3', 'node-b')]) =>
    servicePorts(
      service({ name, clusterIP: '10.96.0.11', externalIPs: ['203.0.113.10'] }),
      [{ name: 'http', port: 80 }],
      eps,
    );

  it('reports only what one change touched; an unchanged state reports nothing', () => {
    const planner = new IpvsPlanner(node);
    const base = [...web(), ...other('api')];
    planner.plan({ servicePorts: base }, NODE_IPS_A);
    expect(planner.changes.all).toBe(true);
    planner.commit();

    planner.plan({ servicePorts: [...base] }, NODE_IPS_A);
    expect(planner.changes).toMatchObject({ all: false, added: [], removed: [] });
    expect(planner.changes.virtualServers.size).toBe(0);
    expect(planner.changes.boundAddresses.size).toBe(0);

    const extra = servicePorts(
      service({ name: 'new', clusterIP: '10.96.0.99' }),
      [{ port: 53, protocol: 'UDP' }],
      [],
    );
    planner.plan({ servicePorts: [...base, ...extra] }, NODE_IPS_A);
    expect([...planner.changes.virtualServers]).toEqual(['UDP/10.96.0.99:53']);
    expect([...planner.changes.boundAddresses]).toEqual(['10.96.0.99']);
    expect([...planner.changes.ipsets.get('clusterIP')!]).toEqual(['10.96.0.99,udp:53']);
    expect([...planner.changes.ipsets.get('ipvsIPs')!]).toEqual(['10.96.0.99']);
    expect(planner.changes.added).toEqual(extra);
  });

  it('a ClusterIP shared by ports stays bound until its last port goes; shared hairpin members likewise', () => {
    const planner = new IpvsPlanner(node);
    const [http, https] = web([endpoint('10.244.1.2', NODE)]);
    planner.plan({ servicePorts: [http!, https!] }, NODE_IPS_A);
    planner.commit();
    const p = planner.plan({ servicePorts: [http!] }, NODE_IPS_A);
    expect(p.boundAddresses.has('10.96.0.10')).toBe(true);
    expect(planner.changes.boundAddresses.size).toBe(0);
    expect([...planner.changes.virtualServers].sort()).toEqual([
      'TCP/10.96.0.10:443',
      'TCP/203.0.113.10:443',
    ]);
    const q = planner.plan({ servicePorts: [] }, NODE_IPS_A);
    expect(q.boundAddresses.size).toBe(0);
    expect([...q.ipsets.values()].every((s) => s.size === 0)).toBe(true);
    expect(planner.realServers).toBe(0);
  });

  it('a virtual server two Services plan goes to the larger name, and back to the other when it leaves', () => {
    const planner = new IpvsPlanner(node);
    const a = other('a', [endpoint('10.244.2.3', 'node-b')]);
    const b = other('b', [endpoint('10.244.2.4', 'node-b')]);
    const rs = (p: IpvsPlan) =>
      p.virtualServers.get('TCP/203.0.113.10:80')!.realServers.map((r) => r.address);
    // Whatever the order they come in.
    expect(rs(planner.plan({ servicePorts: [...b, ...a] }, NODE_IPS_A))).toEqual(['10.244.2.4']);
    expect(
      rs(planIpvs({ state: { servicePorts: [...a, ...b] }, nodeIPs: NODE_IPS_A, ...node })),
    ).toEqual(['10.244.2.4']);
    planner.commit();
    expect(rs(planner.plan({ servicePorts: a }, NODE_IPS_A))).toEqual(['10.244.2.3']);
    expect(planner.changes.virtualServers.has('TCP/203.0.113.10:80')).toBe(true);
  });

  it('an unchanged port is not planned again (its endpoints are not even read)', () => {
    let reads = 0;
    const counted = (sp: ServicePortState): ServicePortState => {
      const eps = sp.endpoints;
      return Object.defineProperty({ ...sp }, 'endpoints', {
        get: () => {
          reads++;
          return eps;
        },
        enumerable: true,
      });
    };
    const many = Array.from({ length: 200 }, (_, i) =>
      servicePorts(
        service({ name: `s${String(i).padStart(3, '0')}`, clusterIP: `10.96.1.${i + 1}` }),
        [{ port: 80 }],
        [endpoint('10.244.1.2', NODE)],
      ).map(counted),
    ).flat();
    const planner = new IpvsPlanner(node);
    planner.plan({ servicePorts: many }, NODE_IPS_A);
    planner.commit();
    const changed = [...many];
    changed[100] = { ...many[100]!, endpoints: [endpoint('10.244.2.2', 'node-b')] };
    reads = 0;
    planner.plan({ servicePorts: changed }, NODE_IPS_A);
    // Only the removed port's memo and the new port are looked at.
    expect(reads).toBe(0);
    expect([...planner.changes.virtualServers]).toEqual(['TCP/10.96.1.101:80']);
  });

  it('the incremental diff looks only at changed virtual servers and draining ones, not the table', () => {
    class CountingMap<K, V> extends Map<K, V> {
      gets = 0;
      iterations = 0;
      override get(k: K): V | undefined {
        this.gets++;
        return super.get(k);
      }
      override entries(): MapIterator<[K, V]> {
        this.iterations++;
        return super.entries();
      }
      override keys(): MapIterator<K> {
        this.iterations++;
        return super.keys();
      }
      override values(): MapIterator<V> {
        this.iterations++;
        return super.values();
      }
      override [Symbol.iterator](): MapIterator<[K, V]> {
        this.iterations++;
        return super[Symbol.iterator]();
      }
    }
    const many = Array.from({ length: 300 }, (_, i) =>
      servicePorts(
        service({
          name: `s${String(i).padStart(3, '0')}`,
          clusterIP: `10.96.1.${(i % 250) + 1}`,
          externalIPs: i >= 250 ? ['203.0.113.9'] : [],
        }),
        [{ port: 80 + Math.floor(i / 250) }],
        [endpoint('10.244.1.2', NODE), endpoint('10.244.2.2', 'node-b')],
      ),
    ).flat();
    const planner = new IpvsPlanner(node);
    const first = diffIpvs({
      applied: emptyApplied(),
      desired: planner.plan({ servicePorts: many }, NODE_IPS_A),
    });
    planner.commit();
    const applied = { ...first.next, virtualServers: new CountingMap(first.next.virtualServers) };
    const changed = [...many];
    changed[7] = { ...many[7]!, endpoints: [endpoint('10.244.1.2', NODE)] };
    const desired = planner.plan({ servicePorts: changed }, NODE_IPS_A);
    const keys = virtualServersNeedingConnCounts(applied, desired, planner.changes);
    expect(keys).toEqual(['TCP/10.96.1.8:80']);
    const conns = new Map([
      ['TCP/10.96.1.8:80/10.244.2.2:8080', { activeConn: 1, inactiveConn: 0 }],
    ]);
    const ops = diffIpvsChanges({ applied, desired, changes: planner.changes, conns });
    expect(ops.ipvsadm).toEqual(['-e -t 10.96.1.8:80 -r 10.244.2.2:8080 -m -w 0']);
    applyPatch(applied, ops.patch);
    planner.commit();
    expect(applied.virtualServers.iterations).toBe(0);
    expect(applied.virtualServers.gets).toBeLessThan(10);
    expect([...applied.graceful]).toEqual(['TCP/10.96.1.8:80/10.244.2.2:8080']);

    // Another Service changes while one drains: only both virtual servers are looked at.
    applied.virtualServers.gets = 0;
    changed[9] = { ...many[9]!, endpoints: [] };
    const d2 = planner.plan({ servicePorts: changed }, NODE_IPS_A);
    const keys2 = virtualServersNeedingConnCounts(applied, d2, planner.changes);
    expect(keys2).toEqual(['TCP/10.96.1.10:80', 'TCP/10.96.1.8:80']);
    const drained = new Map([
      ['TCP/10.96.1.8:80/10.244.2.2:8080', { activeConn: 0, inactiveConn: 0 }],
    ]);
    const ops2 = diffIpvsChanges({
      applied,
      desired: d2,
      changes: planner.changes,
      conns: drained,
    });
    expect(ops2.ipvsadm).toEqual([
      '-d -t 10.96.1.10:80 -r 10.244.1.2:8080',
      '-d -t 10.96.1.10:80 -r 10.244.2.2:8080',
      '-d -t 10.96.1.8:80 -r 10.244.2.2:8080',
    ]);
    applyPatch(applied, ops2.patch);
    expect(applied.graceful.size).toBe(0);
    expect(applied.virtualServers.iterations).toBe(0);
    expect(applied.virtualServers.gets).toBeLessThan(10);
  });

  it('a state renewed wholesale (10,000+ new objects) and then changed by one port plans as from scratch', () => {
    const ports = (n: number, tag: string) =>
      Array.from({ length: n }, (_, i) =>
        servicePorts(
          service({
            name: `s${String(i).padStart(5, '0')}`,
            clusterIP: `10.96.${i >> 8}.${i & 255}`,
          }),
          [{ port: 80 }],
          [endpoint(`10.244.1.${(i % 3) + 2}`, tag === 'a' ? NODE : 'node-b')],
        ),
      ).flat();
    const fresh = (sps: ServicePortState[]) =>
      normPlan(planIpvs({ state: { servicePorts: sps }, nodeIPs: NODE_IPS_A, ...node }));
    const planner = new IpvsPlanner(node);
    planner.plan({ servicePorts: ports(12_000, 'a') }, NODE_IPS_A);
    planner.commit();
    const renewed = ports(12_001, 'b');
    expect(normPlan(planner.plan({ servicePorts: renewed }, NODE_IPS_A))).toEqual(fresh(renewed));
    planner.commit();
    const one = [...renewed];
    one.splice(6000, 1, ...ports(1, 'a'));
    expect(normPlan(planner.plan({ servicePorts: one }, NODE_IPS_A))).toEqual(fresh(one));
    expect(planner.changes.virtualServers.size).toBe(2);
  });

  it('a port that cannot be planned fails the plan, and the next one starts over', () => {
    const planner = new IpvsPlanner(node);
    const base = [...web(), ...other('api')];
    planner.plan({ servicePorts: base }, NODE_IPS_A);
    planner.commit();
    const broken = { ...base[0]!, endpoints: undefined } as unknown as ServicePortState;
    expect(() => planner.plan({ servicePorts: [broken, ...base.slice(1)] }, NODE_IPS_A)).toThrow();
    const p = planner.plan({ servicePorts: base.slice(1) }, NODE_IPS_A);
    expect(planner.changes.all).toBe(true);
    expect(normPlan(p)).toEqual(
      normPlan(planIpvs({ state: { servicePorts: base.slice(1) }, nodeIPs: NODE_IPS_A, ...node })),
    );
  });

  it('new node addresses re-plan everything (NodePort virtual servers follow them)', () => {
    const planner = new IpvsPlanner(node);
    const np = servicePorts(
      service({ name: 'np', type: 'NodePort', clusterIP: '10.96.0.12' }),
      [{ port: 80, nodePort: 30080 }],
      [endpoint('10.244.1.2', NODE)],
    );
    planner.plan({ servicePorts: np }, NODE_IPS_A);
    planner.commit();
    const p = planner.plan({ servicePorts: np }, NODE_IPS_B);
    expect(planner.changes.all).toBe(true);
    expect([...p.virtualServers.keys()].sort()).toEqual([
      'TCP/10.96.0.12:80',
      'TCP/192.168.100.2:30080',
      'TCP/192.168.200.2:30080',
    ]);
  });

  it('equal but new objects plan the same and write nothing', () => {
    const planner = new IpvsPlanner(node);
    const base = [...web(), ...other('api')];
    const first = diffIpvs({
      applied: emptyApplied(),
      desired: planner.plan({ servicePorts: base }, NODE_IPS_A),
    });
    planner.commit();
    const desired = planner.plan({ servicePorts: clone(base) }, NODE_IPS_A);
    expect(planner.changes.removed).toHaveLength(3);
    expect(planner.changes.added).toHaveLength(3);
    const ops = diffIpvsChanges({ applied: first.next, desired, changes: planner.changes });
    expect(opsOf(ops)).toMatchObject({ ipvsadm: [], ipset: [], ip: [], iptables: undefined });
  });
});
