import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../exec/index.js';
import type { ServiceSpec } from '../../model/types.js';
import { servicePortChains } from '../shared/hash.js';
import type { Endpoint, NodeContext, ProxyState } from '../types.js';
import { JUMP_HOOKS, hookArgs, isServiceChainName } from './chains.js';
import { NODE, endpoint, service, servicePorts } from './fixtures.test-helper.js';
import { planIptables } from './plan.js';
import { createIptablesProxy, iptablesCommands } from './proxy.js';
import { normalizeChains, normalizeRule, parseSave, type Table } from './ruleset.js';

// Kernel tests of the iptables mode: the rules a sync leaves in a real (throwaway) network
// namespace, read back with iptables-save, for both iptables backends. No traffic here.

const MARKER = 'svclab-test-marker';

function nodeContext(netns: string): NodeContext {
  return {
    ...NODE,
    podCIDR: '10.244.0.0/24',
    serviceCIDR: '10.96.0.0/16',
    exec: (file, args, opts) => run(file, args, { ...opts, netns }),
    readFile: async (path) => (await run('cat', [path], { netns })).stdout,
  };
}

function stateOf(...services: [ServiceSpec, Endpoint[]][]): ProxyState {
  return { servicePorts: services.flatMap(([s, eps]) => servicePorts(s, eps)) };
}

const api = service({ name: 'api', clusterIP: '10.96.0.20', sessionAffinity: 'ClientIP' });
const web = service({
  type: 'NodePort',
  externalIPs: ['192.0.2.10'],
  externalTrafficPolicy: 'Local',
  ports: [
    { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 },
    { name: 'echo', protocol: 'UDP', port: 7, targetPort: 7007, nodePort: 30007 },
  ],
});
const db = service({ name: 'db', clusterIP: '10.96.0.30', internalTrafficPolicy: 'Local' });
const empty = service({ name: 'empty', clusterIP: '10.96.0.40' });

const API_ENDPOINTS = [endpoint('10.244.1.2', 'node-b'), endpoint('10.244.2.2', 'node-c')];
const STATE_1 = stateOf(
  [api, API_ENDPOINTS],
  [
    web,
    [
      endpoint('10.244.0.3', 'node-a'),
      endpoint('10.244.1.3', 'node-b'),
      endpoint('10.244.1.4', 'node-b'),
    ],
  ],
  [db, [endpoint('10.244.0.5', 'node-a')]],
  [empty, []],
);
// web loses an endpoint (its UDP port too: stale conntrack cleanup runs), db is deleted,
// api and empty are unchanged.
const STATE_2 = stateOf(
  [api, API_ENDPOINTS],
  [web, [endpoint('10.244.0.3', 'node-a'), endpoint('10.244.1.3', 'node-b')]],
  [empty, []],
);

describe.each(['nft', 'legacy'] as const)('iptables proxy on the %s backend', (backend) => {
  const netns = `svclab-t-ipt-${backend}-${randomBytes(3).toString('hex')}`;
  const ctx = nodeContext(netns);
  const cmd = iptablesCommands(backend);

  const saved = async () => parseSave((await ctx.exec(cmd.save, [])).stdout);

  /** The kernel's kube-proxy chains, normalised, without the test's marker rules. */
  const kernelChains = async (table: Table) => {
    const chains = (await saved()).get(table) ?? new Map<string, string[]>();
    const kube = normalizeChains(chains, (c) => c.startsWith('KUBE-'));
    for (const [c, rules] of kube)
      kube.set(
        c,
        rules.filter((r) => !r.includes(MARKER)),
      );
    return kube;
  };

  const expectKernelToMatch = async (state: ProxyState) => {
    const desired = planIptables({ node: ctx, state, previous: null, strategy: 'full' }).desired;
    for (const table of ['filter', 'nat'] as const) {
      expect(await kernelChains(table), `${table} table`).toEqual(normalizeChains(desired[table]));
    }
  };

  /** Appends a harmless marker rule to every kube-proxy nat chain: whoever rewrites a chain drops it. */
  const markAllNatChains = async () => {
    const chains = [...((await saved()).get('nat')?.keys() ?? [])].filter((c) =>
      c.startsWith('KUBE-'),
    );
    const lines = [
      '*nat',
      ...chains.map((c) => `-A ${c} -m comment --comment ${MARKER} -j RETURN`),
      'COMMIT',
      '',
    ];
    await ctx.exec(cmd.restore, ['--noflush'], { input: lines.join('\n') });
  };
  const markedChains = async () => {
    const nat = (await saved()).get('nat') ?? new Map<string, string[]>();
    return [...nat]
      .filter(([, rules]) => rules.some((r) => r.includes(MARKER)))
      .map(([c]) => c)
      .sort();
  };

  beforeAll(async () => {
    await run('ip', ['netns', 'add', netns]);
    await run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  });
  afterAll(async () => {
    await run('ip', ['netns', 'delete', netns], { allowFailure: true });
  });

  it('install sets route_localnet and hooks the built-in chains once, however often it runs', async () => {
    const proxy = createIptablesProxy(ctx, { iptablesBackend: backend });
    await proxy.install();
    await proxy.install();
    expect((await ctx.readFile('/proc/sys/net/ipv4/conf/all/route_localnet')).trim()).toBe('1');
    const rules = await saved();
    for (const h of JUMP_HOOKS) {
      const found = (rules.get(h.table)?.get(h.from) ?? []).filter(
        (r) => normalizeRule(r) === normalizeRule(hookArgs(h)),
      );
      expect(found, `${h.table} ${h.from} -> ${h.to}`).toHaveLength(1);
    }
    // Prepending in kube-proxy's order leaves the last hook first.
    expect(rules.get('filter')?.get('INPUT')?.[0]).toBe('-j KUBE-FIREWALL');
  });

  it("reads the node's nf_conntrack_tcp_be_liberal at install: set, there is no INVALID drop rule (kubernetes#117924)", async () => {
    const invalidDrop = async () =>
      ((await saved()).get('filter')?.get('KUBE-FORWARD') ?? []).some((r) =>
        /--ctstate INVALID -j DROP/.test(r),
      );
    // Per network namespace: this changes the test's namespace only.
    await ctx.exec('sysctl', ['-q', '-w', 'net.netfilter.nf_conntrack_tcp_be_liberal=1']);
    try {
      const liberal = createIptablesProxy(ctx, { iptablesBackend: backend, syncStrategy: 'full' });
      await liberal.install();
      await liberal.sync(STATE_1);
      expect(await invalidDrop()).toBe(false);
    } finally {
      await ctx.exec('sysctl', ['-q', '-w', 'net.netfilter.nf_conntrack_tcp_be_liberal=0']);
    }
    const strict = createIptablesProxy(ctx, { iptablesBackend: backend, syncStrategy: 'full' });
    await strict.install();
    await strict.sync(STATE_1);
    expect(await invalidDrop()).toBe(true);
  });

  it('a full sync leaves exactly the planned chains in the kernel', async () => {
    const proxy = createIptablesProxy(ctx, { iptablesBackend: backend, syncStrategy: 'full' });
    await proxy.install();
    const result = await proxy.sync(STATE_1);
    expect(result).toMatchObject({ mode: 'iptables', strategy: 'full', notes: [] });
    expect(result.written.servicePortsWritten).toBe(5);
    await expectKernelToMatch(STATE_1);
    // A second full sync with a smaller state deletes what went away.
    await proxy.sync(STATE_2);
    await expectKernelToMatch(STATE_2);
    const nat = (await saved()).get('nat')!;
    expect(
      [...nat.keys()].filter((c) => c === servicePortChains('default/db:http', 'TCP').local),
    ).toEqual([]);
  });

  it('a partial sync rewrites only the changed Service, deletes the removed one, and cleans UDP conntrack', async () => {
    const proxy = createIptablesProxy(ctx, { iptablesBackend: backend, syncStrategy: 'partial' });
    await proxy.install();
    await proxy.sync(STATE_1, { full: true });
    await expectKernelToMatch(STATE_1);
    await markAllNatChains();

    const result = await proxy.sync(STATE_2);
    expect(result.strategy).toBe('partial');
    expect(result.written).toMatchObject({ servicePortsWritten: 2, servicePortsSkipped: 2 });
    // The restore, plus one `conntrack -D` per address a client could have used to reach the
    // endpoint web's UDP port lost: its ClusterIP, external IP and NodePort.
    expect(result.commands).toBe(1 + 3);
    expect(result.notes).toEqual([]);
    await expectKernelToMatch(STATE_2);

    // Chains still carrying the marker were not touched by the restore: exactly api's.
    const apiPlan = planIptables({
      node: ctx,
      state: stateOf([api, API_ENDPOINTS]),
      previous: null,
      strategy: 'full',
    });
    const apiChains = [...apiPlan.desired.nat.keys()].filter(isServiceChainName);
    expect(apiChains).toHaveLength(3); // KUBE-SVC + two KUBE-SEP
    expect(await markedChains()).toEqual(apiChains.sort());

    // A forced full sync rewrites everything.
    const full = await proxy.sync(STATE_2, { full: true });
    expect(full.strategy).toBe('full');
    expect(await markedChains()).toEqual([]);
    await expectKernelToMatch(STATE_2);
  });

  it('a Service reachable from outside with both traffic policies Local loads (svclab issue 15)', async () => {
    // The plan once jumped from KUBE-EXT to a KUBE-SVC chain it never declared, and
    // iptables-restore rejected the whole transaction: no Service of the node was programmed.
    const both = service({
      name: 'both',
      clusterIP: '10.96.0.60',
      type: 'NodePort',
      externalIPs: ['192.0.2.60'],
      internalTrafficPolicy: 'Local',
      externalTrafficPolicy: 'Local',
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30060 }],
    });
    const remote = service({
      name: 'both-remote',
      clusterIP: '10.96.0.61',
      externalIPs: ['192.0.2.61'],
      internalTrafficPolicy: 'Local',
      externalTrafficPolicy: 'Local',
    });
    const state = stateOf(
      [both, [endpoint('10.244.0.6', 'node-a'), endpoint('10.244.1.6', 'node-b')]],
      [remote, [endpoint('10.244.1.7', 'node-b')]],
      [api, API_ENDPOINTS],
    );
    const proxy = createIptablesProxy(ctx, { iptablesBackend: backend, syncStrategy: 'full' });
    await proxy.install();
    await proxy.sync(state);
    await expectKernelToMatch(state);
    // The kernel holds the short-circuit jumps, into chains it has.
    const nat = (await saved()).get('nat')!;
    for (const name of ['default/both:http', 'default/both-remote:http']) {
      const chains = servicePortChains(name, 'TCP');
      expect(nat.get(chains.external)?.filter((r) => r.includes(`-j ${chains.cluster}`)), name).toHaveLength(2); // prettier-ignore
      expect(nat.has(chains.cluster), name).toBe(true);
    }
  });

  it('dump shows both tables and the conntrack table', async () => {
    const proxy = createIptablesProxy(ctx, { iptablesBackend: backend });
    const dump = await proxy.dump();
    expect(Object.keys(dump).sort()).toEqual(['conntrack', 'iptables-save']);
    expect(dump['iptables-save']).toMatch(/^\*filter$/m);
    expect(dump['iptables-save']).toMatch(/^\*nat$/m);
    expect(dump['iptables-save']).toContain(':KUBE-SERVICES');
    expect(dump['conntrack']).not.toMatch(/^failed/);
  });
});
