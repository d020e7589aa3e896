import { describe, expect, it } from 'vitest';
import type { ExecResult } from '../../exec/index.js';
import { staleUdpFlows } from '../conntrack.js';
import type { NodeContext, ProxyState, SyncResult } from '../types.js';
import { IPSETS } from './ipset.js';
import { createIpvsProxy, planIpvs, type IpvsNodeProxy } from './index.js';
import { rsKey } from './ipvsadm.js';
import { NODE, RandomCluster } from './random.test-helper.js';
import { endpoint, service, servicePorts } from './testing.js';

/**
 * The IPVS proxy's sync on a simulated kernel that runs ipvsadm -R, ipset restore and ip -batch
 * lines as the real tools do (and fails as they do on a line that cannot apply): one proxy syncs
 * incrementally, another fully every time (reading the kernel, as before), and both kernels must
 * end up the same after every change.
 */

interface FakeRS {
  address: string;
  port: number;
  weight: number;
}
interface FakeVS {
  protocol: 'TCP' | 'UDP';
  address: string;
  port: number;
  scheduler: string;
  persistence: number | undefined;
  realServers: FakeRS[];
}

const NODE_IP = '192.168.100.2';

class FakeKernel {
  readonly vs = new Map<string, FakeVS>();
  readonly sets = new Map<string, Set<string>>();
  readonly bound = new Set<string>();
  nodeAddrs = [NODE_IP];
  iptables = '';
  /** Every command run, as `file args...`. */
  readonly log: string[] = [];
  /** Connection counts the kernel reports, by rsKey and the current epoch. */
  conns: (rsKey: string) => { activeConn: number; inactiveConn: number } = () => ({
    activeConn: 0,
    inactiveConn: 0,
  });
  /** Fails the next command whose text starts with this. */
  failNext: string | undefined;

  readonly ctx: NodeContext = {
    nodeName: NODE,
    nodeIP: NODE_IP,
    podCIDR: '10.244.1.0/24',
    clusterCIDR: '10.244.0.0/16',
    serviceCIDR: '10.96.0.0/16',
    exec: (file, args, opts) => Promise.resolve(this.exec(file, [...args], opts?.input)),
    readFile: () => Promise.resolve('6.1.0-18-amd64\n'),
  };

  private exec(file: string, args: string[], input: string | undefined): ExecResult {
    const cmd = [file, ...args].join(' ');
    this.log.push(cmd);
    if (this.failNext !== undefined && cmd.startsWith(this.failNext)) {
      this.failNext = undefined;
      throw new Error(`injected failure: ${cmd}`);
    }
    let stdout = '';
    const lines = (input ?? '').split('\n').filter(Boolean);
    if (file === 'ipvsadm') {
      if (args[0] === '-R') for (const l of lines) this.ipvsadm(l.split(' '));
      else if (args[0] === '-Ln' && args.length === 1) stdout = this.list([...this.vs.keys()]);
      else if (args[0] === '-Ln') {
        const key = `${args[1] === '-u' ? 'UDP' : 'TCP'}/${args[2]}`;
        if (!this.vs.has(key)) throw new Error(`ipvsadm: No such service ${key}`);
        stdout = this.list([key]);
      }
    } else if (file === 'ipset') {
      for (const l of lines) this.ipset(l.split(' '));
    } else if (file === 'ip' && args[0] === '-batch') {
      for (const l of lines) {
        const [, op, cidr] = l.split(' ');
        const addr = cidr!.replace('/32', '');
        if (op === 'replace') this.bound.add(addr);
        else if (!this.bound.delete(addr))
          throw new Error(`ip: ${l}: Cannot assign requested address`);
      }
    } else if (file === 'ip' && args.join(' ') === '-o -4 addr show') {
      stdout = [
        '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
        ...this.nodeAddrs.map(
          (a) =>
            `2: eth0    inet ${a}/24 brd 192.168.100.255 scope global eth0\\       valid_lft forever`,
        ),
        ...[...this.bound].map(
          (a) => `3: kube-ipvs0    inet ${a}/32 scope global kube-ipvs0\\       valid_lft forever`,
        ),
      ].join('\n');
    } else if (file.startsWith('iptables') && file.endsWith('-restore')) {
      this.iptables = input ?? '';
    }
    return {
      argv: [file, ...args],
      netns: undefined,
      exitCode: 0,
      stdout,
      stderr: '',
      durationMs: 0,
      timedOut: false,
      ok: true,
    };
  }

  /** One `ipvsadm -R` line; throws like ipvsadm does when it cannot apply. */
  private ipvsadm(a: string[]): void {
    const [op, proto, addrPort] = a as [string, string, string];
    const key = `${proto === '-u' ? 'UDP' : 'TCP'}/${addrPort}`;
    const opt = (flag: string) => {
      const i = a.indexOf(flag);
      return i >= 0 ? a[i + 1] : undefined;
    };
    const vs = this.vs.get(key);
    const fail = (why: string) => {
      throw new Error(`ipvsadm -R: ${a.join(' ')}: ${why}`);
    };
    if (op === '-A' || op === '-E') {
      if (op === '-A' && vs) fail('Service already exists');
      if (op === '-E' && !vs) fail('No such service');
      const [address, port] = addrPort.split(':') as [string, string];
      const p = opt('-p');
      this.vs.set(key, {
        protocol: proto === '-u' ? 'UDP' : 'TCP',
        address,
        port: Number(port),
        scheduler: opt('-s')!,
        persistence: p === undefined ? undefined : Number(p),
        realServers: vs?.realServers ?? [],
      });
      return;
    }
    if (!vs) fail('No such service');
    if (op === '-D') {
      this.vs.delete(key);
      return;
    }
    const [address, port] = opt('-r')!.split(':') as [string, string];
    const i = vs!.realServers.findIndex((r) => r.address === address && r.port === Number(port));
    if (op === '-a') {
      if (i >= 0) fail('Destination already exists');
      vs!.realServers.push({ address, port: Number(port), weight: Number(opt('-w')) });
    } else if (op === '-e') {
      if (i < 0) fail('No such destination');
      vs!.realServers[i]!.weight = Number(opt('-w'));
    } else if (op === '-d') {
      if (i < 0) fail('No such destination');
      vs!.realServers.splice(i, 1);
    } else fail('unknown operation');
  }

  private ipset(a: string[]): void {
    const [op, name, member] = a as [string, string, string | undefined];
    if (op === 'create') {
      if (!this.sets.has(name)) this.sets.set(name, new Set());
      return;
    }
    const set = this.sets.get(name);
    if (!set) throw new Error(`ipset: The set with the given name does not exist: ${name}`);
    if (op === 'flush') set.clear();
    else if (op === 'add') set.add(member!);
    else if (op === 'del') set.delete(member!);
  }

  private list(keys: string[]): string {
    const out = [
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
    ];
    for (const key of keys) {
      const vs = this.vs.get(key)!;
      const p = vs.persistence !== undefined ? ` persistent ${vs.persistence}` : '';
      out.push(`${vs.protocol}  ${vs.address}:${vs.port} ${vs.scheduler}${p}`);
      for (const rs of vs.realServers) {
        const c = this.conns(rsKey(vs, rs));
        out.push(
          `  -> ${rs.address}:${rs.port}              Masq    ${rs.weight}      ${c.activeConn}          ${c.inactiveConn}`,
        );
      }
    }
    return out.join('\n') + '\n';
  }

  /** Everything programmed, comparable between kernels (real servers in any order). */
  snapshot() {
    return {
      virtualServers: [...this.vs]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => ({
          k,
          scheduler: v.scheduler,
          persistence: v.persistence,
          rs: v.realServers.map((r) => `${r.address}:${r.port}/${r.weight}`).sort(),
        })),
      sets: [...this.sets].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, [...v].sort()]),
      bound: [...this.bound].sort(),
      iptables: this.iptables,
    };
  }

  conntrackDeletes(since: number): string[] {
    return this.log.slice(since).filter((c) => c.startsWith('conntrack -D'));
  }
}

async function installed(kernel: FakeKernel): Promise<IpvsNodeProxy> {
  const proxy = createIpvsProxy(kernel.ctx, { ipvsScheduler: 'rr' });
  await proxy.install();
  return proxy;
}

/** What the kernel holds besides the plan: real servers draining at weight 0. */
function expectKernelHolds(
  kernel: FakeKernel,
  state: ProxyState,
  draining: string[],
  where: string,
) {
  const plan = planIpvs({
    state,
    nodeName: NODE,
    nodeIPs: kernel.nodeAddrs,
    clusterCIDR: kernel.ctx.clusterCIDR,
    scheduler: 'rr',
  });
  const snap = kernel.snapshot();
  expect(
    snap.virtualServers.map((v) => v.k),
    where,
  ).toEqual([...plan.virtualServers.keys()].sort());
  for (const v of snap.virtualServers) {
    const want = plan.virtualServers.get(v.k)!;
    const quiesced = draining
      .filter((d) => d.startsWith(`${v.k}/`))
      .map((d) => `${d.slice(v.k.length + 1)}/0`);
    expect(v.rs, `${where} ${v.k}`).toEqual(
      [...want.realServers.map((r) => `${r.address}:${r.port}/1`), ...quiesced].sort(),
    );
  }
  for (const [key, members] of plan.ipsets)
    expect([...kernel.sets.get(IPSETS[key].name)!].sort(), `${where} ${key}`).toEqual(
      [...members].sort(),
    );
  expect(snap.bound, where).toEqual([...plan.boundAddresses].sort());
  const totals = (r: SyncResult) => ({
    virtualServers: r.written['virtualServers'],
    realServers: r.written['realServers'],
    ipsetEntries: r.written['ipsetEntries'],
    boundAddresses: r.written['boundAddresses'],
  });
  return (r: SyncResult) =>
    expect(totals(r), where).toEqual({
      virtualServers: plan.virtualServers.size,
      realServers: [...plan.virtualServers.values()].reduce((n, v) => n + v.realServers.length, 0),
      ipsetEntries: [...plan.ipsets.values()].reduce((n, s) => n + s.size, 0),
      boundAddresses: plan.boundAddresses.size,
    });
}

describe('IPVS proxy sync on a simulated kernel', () => {
  it.each([11, 12, 13])(
    'random changes (seed %i): incremental syncs leave the kernel as full syncs do',
    async (seed) => {
      const cluster = new RandomCluster(seed);
      const incKernel = new FakeKernel();
      const fullKernel = new FakeKernel();
      const inc = await installed(incKernel);
      const full = await installed(fullKernel);
      let previous: ProxyState = { servicePorts: [] };
      let incrementalSyncs = 0;
      for (let i = 0; i < 120; i++) {
        const { kind } = cluster.change();
        const where = `seed ${seed} step ${i} (${kind})`;
        // Node addresses are read on full syncs: change them for both kernels, and make the
        // incremental proxy do one too now and then.
        const nodeAddrs = cluster.nodeIPs.filter((a) => !a.startsWith('127.'));
        incKernel.nodeAddrs = fullKernel.nodeAddrs = nodeAddrs;
        const conns = (k: string) => {
          let h = i + 7;
          for (let j = 0; j < k.length; j++) h = Math.imul(h ^ k.charCodeAt(j), 16777619);
          h >>>= 0;
          return h % 2 === 0
            ? { activeConn: 0, inactiveConn: 0 }
            : { activeConn: h % 3, inactiveConn: (h >>> 4) % 2 };
        };
        incKernel.conns = fullKernel.conns = conns;
        const state = {
          servicePorts: cluster.g.chance(0.1) ? cluster.shuffled() : cluster.sorted(),
        };

        if (cluster.g.chance(0.06)) {
          // A command fails half-way: the sync throws, and the next one is full.
          incKernel.failNext = cluster.g.pick(['ipvsadm -R', 'ip -batch', 'ipset restore']);
          await inc.sync(state).catch(() => undefined);
          incKernel.failNext = undefined;
        }
        const logStart = incKernel.log.length;
        const forceFull = kind === 'nodeIPs' || cluster.g.chance(0.05);
        const r = await inc.sync(state, forceFull ? { full: true } : {});
        const rf = await full.sync(state, { full: true });
        if (r.strategy === 'incremental') {
          incrementalSyncs++;
          // Incremental syncs never list the whole table unless more than 4 virtual servers need counts.
          const listings = incKernel.log.slice(logStart).filter((c) => c.startsWith('ipvsadm -Ln'));
          if (listings.includes('ipvsadm -Ln')) expect(listings, where).toEqual(['ipvsadm -Ln']);
        }
        expect(incKernel.snapshot(), where).toEqual(fullKernel.snapshot());
        expect(inc.draining(), where).toEqual(full.draining());
        const totals = expectKernelHolds(incKernel, state, inc.draining(), where);
        totals(r);
        totals(rf);
        // Stale UDP flows: what the old bookkeeping (every port before and after) found.
        const flows = staleUdpFlows(previous.servicePorts, state.servicePorts, NODE_IP).map(
          (f) =>
            `conntrack -D -p udp --orig-dst ${f.origDst} --orig-port-dst ${f.origPort} --dst-nat ${f.endpointIP}`,
        );
        expect(incKernel.conntrackDeletes(logStart).sort(), where).toEqual(flows.sort());
        previous = state;

        if (cluster.g.chance(0.2)) {
          const a = await inc.reconcileGraceful();
          const b = await full.reconcileGraceful();
          expect(a.deleted, where).toEqual(b.deleted);
          expect(inc.draining(), where).toEqual(a.draining);
          expect(incKernel.snapshot(), where).toEqual(fullKernel.snapshot());
        }
      }
      expect(incrementalSyncs).toBeGreaterThan(60);
    },
  );

  it('one endpoint change: lists only that virtual server, writes only its real servers', async () => {
    const kernel = new FakeKernel();
    const proxy = await installed(kernel);
    const many = (eps: ReturnType<typeof endpoint>[]) =>
      Array.from({ length: 50 }, (_, i) =>
        servicePorts(
          service({ name: `s${String(i).padStart(2, '0')}`, clusterIP: `10.96.0.${i + 1}` }),
          [{ port: 80 }],
          i === 7 ? eps : [endpoint('10.244.1.2', NODE), endpoint('10.244.2.2', 'node-b')],
        ),
      ).flat();
    const before = many([endpoint('10.244.1.2', NODE), endpoint('10.244.2.2', 'node-b')]);
    expect((await proxy.sync({ servicePorts: before })).strategy).toBe('full');
    kernel.conns = (k) =>
      k === 'TCP/10.96.0.8:80/10.244.2.2:8080'
        ? { activeConn: 1, inactiveConn: 0 }
        : { activeConn: 0, inactiveConn: 0 };
    const start = kernel.log.length;
    const after = [...before];
    after[7] = { ...before[7]!, endpoints: [before[7]!.endpoints[0]!] };
    const r = await proxy.sync({ servicePorts: after });
    expect(r.strategy).toBe('incremental');
    expect(kernel.log.slice(start)).toEqual(['ipvsadm -Ln -t 10.96.0.8:80', 'ipvsadm -R']);
    expect(r.written).toMatchObject({
      ipvsadmLines: 1,
      realServersQuiesced: 1,
      virtualServers: 50,
      realServers: 99,
    });
    expect(proxy.draining()).toEqual(['TCP/10.96.0.8:80/10.244.2.2:8080']);

    // Drained: the next check deletes it, listing only that virtual server.
    kernel.conns = () => ({ activeConn: 0, inactiveConn: 0 });
    const check = kernel.log.length;
    expect(await proxy.reconcileGraceful()).toMatchObject({
      deleted: ['TCP/10.96.0.8:80/10.244.2.2:8080'],
      draining: [],
    });
    expect(kernel.log.slice(check)).toEqual(['ipvsadm -Ln -t 10.96.0.8:80', 'ipvsadm -R']);
    expect(proxy.draining()).toEqual([]);
    expectKernelHolds(kernel, { servicePorts: after }, [], 'after the check');
  });
});
