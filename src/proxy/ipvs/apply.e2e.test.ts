import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../exec/index.js';
import { skipWhen } from '../../harness/skip.js';
import type { NodeContext, ProxyState, ServicePortState } from '../types.js';
import { countRules } from './iptables.js';
import { IPSETS, IPSET_KEYS } from './ipset.js';
import { createIpvsProxy, parseIpvsadmList, type IpvsNodeProxy, type IpvsPlan } from './index.js';
import { RandomCluster } from './random.test-helper.js';
import { endpoint, service, servicePorts } from './testing.js';

/**
 * Programs real IPVS, ipsets, kube-ipvs0 and iptables in a network namespace and compares the
 * kernel's state with the plan, then drives TCP through the Service. Needs a kernel with IP_VS
 * (run it in the VM: this host's kernel has none).
 */
const ipvsMissing = skipWhen(
  'ipvs-kernel',
  !existsSync('/proc/net/ip_vs') &&
    '/proc/net/ip_vs is missing (no IP_VS in this kernel); run them in the VM (src/vm)',
  { proxy: 'ipvs' },
);

const tag = `svclab-t-ipvs-${randomBytes(3).toString('hex')}`;
const NS = { node: `${tag}-node`, p1: `${tag}-p1`, p2: `${tag}-p2`, client: `${tag}-cl` };
const NODE = 'node-a';
const NODE_IP = '192.168.100.2';
const CLIENT_IP = '192.168.100.10';
const POD1 = '10.244.1.2';
const POD2 = '10.244.2.2';

/** Every command run in the node, as `file args...`. */
const ran: string[] = [];
const ctx: NodeContext = {
  nodeName: NODE,
  nodeIP: NODE_IP,
  podCIDR: '10.244.0.0/16',
  clusterCIDR: '10.244.0.0/16',
  serviceCIDR: '10.96.0.0/16',
  exec: (file, args, opts) => {
    ran.push([file, ...args].join(' '));
    return run(file, args, { ...opts, netns: NS.node });
  },
  readFile: async (path) => (await run('cat', [path], { netns: NS.node })).stdout,
};

const web = (eps = [endpoint(POD1, NODE), endpoint(POD2, NODE)]) =>
  servicePorts(
    service({
      name: 'web',
      type: 'NodePort',
      clusterIP: '10.96.0.10',
      externalIPs: ['203.0.113.10'],
    }),
    [{ port: 80, nodePort: 30080 }],
    eps,
  );
const sticky = () =>
  servicePorts(
    service({
      name: 'sticky',
      clusterIP: '10.96.0.11',
      sessionAffinity: 'ClientIP',
      sessionAffinityTimeoutSeconds: 60,
    }),
    [{ port: 80 }],
    [endpoint(POD1, NODE), endpoint(POD2, NODE)],
  );
const dns = () =>
  servicePorts(
    service({
      name: 'dns',
      type: 'LoadBalancer',
      clusterIP: '10.96.0.53',
      loadBalancerIPs: ['198.51.100.53'],
      externalTrafficPolicy: 'Local',
    }),
    [{ port: 53, protocol: 'UDP', targetPort: 5353, nodePort: 30053 }],
    [endpoint(POD1, NODE)],
  );
/** Used only by the graceful-termination test, so no earlier connection (TIME_WAIT lasts 2 min) holds its real servers. */
const drain = (eps = [endpoint(POD1, NODE), endpoint(POD2, NODE)]) =>
  servicePorts(service({ name: 'drain', clusterIP: '10.96.0.30' }), [{ port: 80 }], eps);
const empty = () =>
  servicePorts(service({ name: 'empty', clusterIP: '10.96.0.20' }), [{ port: 80 }], []);
const state = (...sps: ServicePortState[][]): ProxyState => ({ servicePorts: sps.flat() });

/** Deadline-bounded wait for a condition (no fixed sleeps). */
async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 45_000,
  explain?: () => Promise<string>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${explain ? `\n${await explain()}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Long-lived helper processes (servers, a held connection) inside a namespace; killed in afterAll. */
const children: ChildProcessWithoutNullStreams[] = [];
function spawnIn(
  netns: string,
  code: string,
): { child: ChildProcessWithoutNullStreams; lines: string[] } {
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', code]);
  const lines: string[] = [];
  child.stdout.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
  children.push(child);
  return { child, lines };
}

/** A TCP server that answers every connection with its pod name and keeps it open. */
const serverCode = (name: string) =>
  `require('net').createServer((s)=>{s.on('error',()=>{});s.write('${name}\\n')}).listen(8080,()=>console.log('listening'))`;

/** One-shot TCP connects from a namespace: prints the first line received, or the error code. */
async function connectFrom(
  netns: string,
  host: string,
  port: number,
  times = 1,
): Promise<string[]> {
  const code = `
    const net=require('net');const out=[];
    const one=()=>new Promise((res)=>{const s=net.connect(${port},'${host}');s.setTimeout(5000,()=>{s.destroy();res('TIMEOUT')});
      s.on('data',(d)=>{s.destroy();res(d.toString().trim())});s.on('error',(e)=>res(e.code))});
    (async()=>{for(let i=0;i<${times};i++)out.push(await one());console.log(JSON.stringify(out))})();`;
  const r = await run(process.execPath, ['-e', code], { netns });
  return JSON.parse(r.stdout) as string[];
}

async function setupNamespaces(): Promise<void> {
  for (const ns of Object.values(NS)) {
    await run('ip', ['netns', 'add', ns]);
    // IPVS rejects real servers with EINVAL until the namespace has a local routing table (lo up).
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  const pods: [string, string, string][] = [
    [NS.p1, POD1, 'vp1'],
    [NS.p2, POD2, 'vp2'],
  ];
  const node: string[] = [];
  for (const [ns, ip, veth] of pods) {
    node.push(
      `link add ${veth} type veth peer name eth0 netns ${ns}`,
      `link set ${veth} address ee:ee:ee:ee:ee:ee up`,
      `route add ${ip}/32 dev ${veth}`,
    );
  }
  node.push(
    `link add eth0 type veth peer name eth0 netns ${NS.client}`,
    `address add ${NODE_IP}/24 dev eth0`,
    'link set eth0 up',
  );
  await run('ip', ['-n', NS.node, '-batch', '-'], { input: node.join('\n') + '\n' });
  for (const [ns, ip] of pods) {
    await run('ip', ['-n', ns, '-batch', '-'], {
      input: `link set eth0 up\naddress add ${ip}/32 dev eth0\nroute add 169.254.1.1 dev eth0 scope link\nroute add default via 169.254.1.1\nneigh add 169.254.1.1 lladdr ee:ee:ee:ee:ee:ee dev eth0\n`,
    });
  }
  // Pods reach their gateway by a link-local address whose MAC is the node side's (as Calico does).
  await run('ip', ['-n', NS.client, '-batch', '-'], {
    input: `address add ${CLIENT_IP}/24 dev eth0\nlink set eth0 up\nroute add default via ${NODE_IP}\n`,
  });
}

/** The kernel holds exactly the plan, plus the real servers still draining at weight 0. */
async function kernelMatchesPlan(plan: IpvsPlan, draining: string[] = []): Promise<void> {
  const ipvs = parseIpvsadmList((await ctx.exec('ipvsadm', ['-Ln'])).stdout);
  const kernelVS = Object.fromEntries(
    ipvs.map((vs) => [
      `${vs.protocol}/${vs.address}:${vs.port}`,
      {
        scheduler: vs.scheduler,
        persistence: vs.persistence,
        rs: vs.realServers.map((r) => `${r.address}:${r.port}/${r.forward}/${r.weight}`).sort(),
      },
    ]),
  );
  const planVS = Object.fromEntries(
    [...plan.virtualServers].map(([k, vs]) => {
      const wanted = vs.realServers.map((r) => `${r.address}:${r.port}/Masq/${r.weight}`);
      const quiesced = draining
        .filter((d) => d.startsWith(`${k}/`))
        .map((d) => `${d.slice(k.length + 1)}/Masq/0`);
      return [
        k,
        {
          scheduler: vs.scheduler,
          persistence: vs.persistence,
          rs: [...wanted, ...quiesced].sort(),
        },
      ];
    }),
  );
  expect(kernelVS).toEqual(planVS);

  const list = (await ctx.exec('ipset', ['list'])).stdout;
  for (const key of IPSET_KEYS) {
    const section = list.split(/^Name: /m).find((s) => s.startsWith(`${IPSETS[key].name}\n`));
    expect(section, `ipset ${IPSETS[key].name} exists`).toBeDefined();
    expect(section).toContain(`Type: ${IPSETS[key].type}`);
    const members = section!
      .split('Members:\n')[1]!
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ')[0]);
    expect(members.sort(), IPSETS[key].name).toEqual([...plan.ipsets.get(key)!].sort());
  }

  const addr = (await ctx.exec('ip', ['-o', '-4', 'addr', 'show', 'dev', 'kube-ipvs0'])).stdout;
  const bound = [...addr.matchAll(/inet (\S+)\/32/g)].map((m) => m[1]).sort();
  expect(bound).toEqual([...plan.boundAddresses].sort());
  // kube-proxy leaves kube-ipvs0 down: the VIPs' local routes exist anyway.
  expect((await ctx.exec('ip', ['-o', 'link', 'show', 'kube-ipvs0'])).stdout).toContain(
    'state DOWN',
  );

  const saved = (await ctx.exec('iptables-nft-save', [])).stdout;
  expect(countRules(saved)).toEqual(countRules(plan.iptables));
}

describe.skipIf(ipvsMissing)('IPVS proxy on a real kernel', () => {
  let proxy: IpvsNodeProxy;

  beforeAll(async () => {
    await setupNamespaces();
    proxy = createIpvsProxy(ctx, { ipvsScheduler: 'rr' });
    await proxy.install();
    const servers = [spawnIn(NS.p1, serverCode('p1')), spawnIn(NS.p2, serverCode('p2'))];
    await waitFor('pod servers', async () =>
      servers.every((s) => s.lines.includes('listening')) ? true : undefined,
    );
  });

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    const failures: string[] = [];
    for (const ns of Object.values(NS)) {
      const r = await run('ip', ['netns', 'del', ns], { allowFailure: true });
      if (!r.ok) failures.push(`${ns}: ${r.stderr.trim()}`);
    }
    expect(failures).toEqual([]);
  });

  it('install sets the IPVS sysctls in the node and creates kube-ipvs0 and every ipset', async () => {
    const r = await ctx.exec('sysctl', [
      '-n',
      'net.ipv4.vs.conntrack',
      'net.ipv4.vs.expire_nodest_conn',
      'net.ipv4.vs.expire_quiescent_template',
    ]);
    expect(r.stdout.trim().split('\n')).toEqual(['1', '1', '1']);
    expect((await ctx.exec('ip', ['-d', 'link', 'show', 'kube-ipvs0'])).stdout).toContain('dummy');
  });

  it('a full sync programs exactly the plan: virtual servers, ipsets, kube-ipvs0 addresses, iptables', async () => {
    const s = state(web(), sticky(), dns(), empty());
    const result = await proxy.sync(s);
    expect(result.strategy).toBe('full');
    await kernelMatchesPlan(proxy.plan(s));
    // NodePort virtual servers exist on the node address, never on 127.0.0.1.
    expect(proxy.plan(s).virtualServers.has(`TCP/${NODE_IP}:30080`)).toBe(true);
  });

  it('traffic: ClusterIP spreads round-robin, NodePort answers on the node IP, not on localhost; no endpoints is refused', async () => {
    const answers = await connectFrom(NS.client, '10.96.0.10', 80, 4);
    expect(answers.sort()).toEqual(['p1', 'p1', 'p2', 'p2']);
    expect(await connectFrom(NS.client, NODE_IP, 30080)).toEqual([
      expect.stringMatching(/^p[12]$/),
    ]);
    expect(await connectFrom(NS.node, '127.0.0.1', 30080)).toEqual(['ECONNREFUSED']);
    expect(await connectFrom(NS.client, '10.96.0.20', 80)).toEqual(['ECONNREFUSED']);
    const stickyAnswers = await connectFrom(NS.client, '10.96.0.11', 80, 4);
    expect(new Set(stickyAnswers).size).toBe(1);
  });

  it('an incremental sync of one endpoint change writes only that Service’s real servers, no iptables', async () => {
    const before = state(web(), sticky(), dns(), empty());
    await proxy.sync(before);
    const after = state(web([endpoint(POD1, NODE)]), sticky(), dns(), empty());
    const result = await proxy.sync(after);
    expect(result.strategy).toBe('incremental');
    expect(result.written['iptablesRules']).toBe(0);
    expect(result.written['ipLines']).toBe(0);
    expect(result.written['ipsetLines']).toBe(0);
    // POD2 leaves the 3 virtual servers of "web" (ClusterIP, externalIP, NodePort on the node IP):
    // deleted where it had no connections, at weight 0 where the earlier traffic left some (TIME_WAIT).
    expect(result.written['realServersDeleted']! + result.written['realServersQuiesced']!).toBe(3);
    expect(result.written['ipvsadmLines']).toBe(3);
    expect(proxy.draining()).toHaveLength(result.written['realServersQuiesced']!);
    await kernelMatchesPlan(proxy.plan(after), proxy.draining());
    // Back: draining real servers are deleted and added anew, as kube-proxy does.
    await proxy.sync(before);
    expect(proxy.draining()).toEqual([]);
    await kernelMatchesPlan(proxy.plan(before));
  });

  it('graceful termination: a removed endpoint with a live connection drains at weight 0, then is deleted', async () => {
    await proxy.sync(state(web(), sticky(), dns(), empty(), drain()));
    // Hold one connection to each backend through the ClusterIP (rr alternates).
    const held = [0, 1].map(() =>
      spawnIn(
        NS.client,
        `const s=require('net').connect(80,'10.96.0.30');s.on('data',(d)=>console.log(d.toString().trim()));` +
          `process.stdin.on('data',()=>{s.resetAndDestroy();process.exit(0)})`,
      ),
    );
    await waitFor('held connections', async () =>
      held.every((h) => h.lines.length > 0) ? true : undefined,
    );
    const onP2 = held.find((h) => h.lines[0] === 'p2');
    expect(onP2).toBeDefined();

    const removed = await proxy.sync(
      state(web(), sticky(), dns(), empty(), drain([endpoint(POD1, NODE)])),
    );
    const key = `TCP/10.96.0.30:80/${POD2}:8080`;
    expect(removed.written['realServersQuiesced']).toBe(1);
    expect(proxy.draining()).toEqual([key]);
    const vs = async () =>
      parseIpvsadmList((await ctx.exec('ipvsadm', ['-Ln'])).stdout).find(
        (v) => v.address === '10.96.0.30',
      )!;
    expect((await vs()).realServers.find((r) => r.address === POD2)).toMatchObject({
      weight: 0,
      activeConn: 1,
    });

    // Still connected: a check keeps it.
    expect(await proxy.reconcileGraceful()).toMatchObject({ deleted: [], draining: [key] });
    // New connections avoid the weight-0 real server.
    expect(await connectFrom(NS.client, '10.96.0.30', 80, 2)).toEqual(['p1', 'p1']);

    // Reset the connection: IPVS keeps it as inactive (CLOSE, 10 s), then it drains and is deleted.
    onP2!.child.stdin.write('rst\n');
    await waitFor(
      'the drained real server to be deleted',
      async () => ((await proxy.reconcileGraceful()).deleted.includes(key) ? true : undefined),
      60_000,
      async () => (await ctx.exec('ipvsadm', ['-Ln'])).stdout,
    );
    expect(proxy.draining()).toEqual([]);
    expect((await vs()).realServers.map((r) => r.address)).toEqual([POD1]);
  }, 150_000);

  it('incremental syncs of random one-Service changes among 60 Services keep the kernel equal to the plan', async () => {
    // Added, removed and changed Services (endpoints, terminating endpoints, affinity,
    // externalIPs, LoadBalancer IPs, NodePorts, traffic policies, ports sharing a ClusterIP,
    // equal but new objects), next to the Services the other tests use (which stay as they are).
    // Few UDP ports: each stale UDP flow is a conntrack process, slow under emulation.
    const cluster = new RandomCluster(7, 60, '10.96.1', 0.1);
    const fixed = [...web(), ...sticky(), ...dns(), ...empty()];
    const at = () => ({ servicePorts: [...fixed, ...cluster.sorted()] });
    await proxy.sync(at());
    await kernelMatchesPlan(proxy.plan(at()), proxy.draining());
    for (let i = 0; i < 12; i++) {
      const { kind } = cluster.change();
      const s = at();
      const start = ran.length;
      const result = await proxy.sync(s);
      expect(result.strategy, `step ${i} (${kind})`).toBe('incremental');
      // Constant work per change: at most 4 connection-count reads (or one listing), then one
      // process per tool (besides a conntrack -D per stale UDP flow).
      const commands = ran.slice(start).filter((c) => !c.startsWith('conntrack '));
      expect(commands.length, `step ${i} (${kind}): ${commands.join('; ')}`).toBeLessThanOrEqual(8);
      // Reading everything back is slow under emulation: every third step, and at the end.
      if (i % 3 === 2) await kernelMatchesPlan(proxy.plan(s), proxy.draining());
    }
    // What the incremental syncs believe is what the kernel holds: a full sync, which reads
    // it, has no virtual server or address to fix.
    const full = await proxy.sync(at(), { full: true });
    expect(full.written['ipvsadmLines']).toBe(0);
    expect(full.written['ipLines']).toBe(0);
    await kernelMatchesPlan(proxy.plan(at()), proxy.draining());
    await proxy.sync(state(web(), sticky(), dns(), empty()));
  }, 300_000);

  it('dump has the ipvsadm, ipset, iptables-save, kube-ipvs0 and conntrack sections', async () => {
    const d = await proxy.dump();
    expect(Object.keys(d).sort()).toEqual([
      'conntrack',
      'ipset',
      'iptables-save',
      'ipvsadm',
      'kube-ipvs0',
    ]);
    expect(d['ipvsadm']).toContain('TCP  10.96.0.10:80 rr');
    expect(d['ipset']).toContain('Name: KUBE-CLUSTER-IP');
    expect(d['iptables-save']).toContain('KUBE-LOOP-BACK');
    expect(d['kube-ipvs0']).toContain('10.96.0.10/32');
  });
});
