import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../exec/index.js';
import type { NodeContext, ServicePortState } from '../types.js';
import { NftablesApplier } from './apply.js';
import { NODE_CONFIG, endpoint, service, servicePorts, tcpPort } from './fixtures.js';
import { createNftablesProxy } from './index.js';
import { parseJsonListing, parseTextRules } from './listing.js';
import { planRuleset } from './plan.js';
import type { Ruleset } from './ruleset.js';

/** Programs `table ip kube-proxy` in a throwaway namespace and checks the kernel holds the plan. */

const netns = `svclab-t-nft-${randomBytes(3).toString('hex')}`;

const ctx: NodeContext = {
  nodeName: NODE_CONFIG.nodeName,
  nodeIP: NODE_CONFIG.nodeIP,
  podCIDR: '10.244.1.0/24',
  clusterCIDR: NODE_CONFIG.clusterCIDR,
  serviceCIDR: NODE_CONFIG.serviceCIDR,
  exec: (file, args, opts) => run(file, args, { ...opts, netns }),
  readFile: async (path) => (await run('cat', [path], { netns })).stdout,
};

beforeAll(async () => {
  await run('ip', ['netns', 'add', netns]);
});

afterAll(async () => {
  await run('ip', ['netns', 'del', netns], { allowFailure: true });
});

/** What the kernel lists, in the plan's shape: objects and elements from JSON, rules from text. */
async function kernelState(): Promise<{ json: Ruleset; rules: Map<string, string[]> }> {
  const json = await ctx.exec('nft', ['-j', 'list', 'table', 'ip', 'kube-proxy']);
  const text = await ctx.exec('nft', ['list', 'table', 'ip', 'kube-proxy']);
  const rs = parseJsonListing([json.stdout], 'ip', 'kube-proxy');
  if (!rs) throw new Error('table ip kube-proxy is missing');
  return { json: rs, rules: parseTextRules(text.stdout) };
}

async function expectKernelMatches(plan: Ruleset): Promise<void> {
  const { json, rules } = await kernelState();
  expect([...json.chains.keys()].sort()).toEqual([...plan.chains.keys()].sort());
  for (const c of plan.chains.values()) {
    expect(json.chains.get(c.name)?.base, `hook of ${c.name}`).toEqual(c.base);
    expect(rules.get(c.name), `rules of ${c.name}`).toEqual(c.rules);
  }
  expect([...json.sets.keys()].sort()).toEqual([...plan.sets.keys()].sort());
  for (const s of plan.sets.values()) {
    const got = json.sets.get(s.name)!;
    expect(
      { kind: got.kind, type: got.type, timeout: got.timeoutSeconds },
      `definition of ${s.name}`,
    ).toEqual({
      kind: s.kind,
      type: s.type,
      timeout: s.timeoutSeconds,
    });
    if (s.flags?.includes('dynamic')) continue;
    const want = new Map(
      [...s.elements].map(([k, e]) => [k, { value: e.value, comment: e.comment }]),
    );
    const have = new Map(
      [...got.elements].map(([k, e]) => [k, { value: e.value, comment: e.comment }]),
    );
    expect(have, `elements of ${s.name}`).toEqual(want);
  }
}

const A = 'node-a';
const B = 'node-b';
const web = service({
  name: 'web',
  clusterIP: '10.96.0.10',
  ports: [tcpPort(80)],
  sessionAffinity: 'ClientIP',
  sessionAffinityTimeoutSeconds: 60,
});
const dns = service({
  name: 'dns',
  clusterIP: '10.96.0.53',
  ports: [
    { name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353 },
    { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 5353 },
  ],
});
const np = service({
  name: 'np',
  type: 'LoadBalancer',
  clusterIP: '10.96.0.30',
  ports: [tcpPort(80, { nodePort: 30080 })],
  externalTrafficPolicy: 'Local',
  externalIPs: ['192.168.200.100'],
  loadBalancerIPs: ['192.168.200.101'],
});
const itp = service({
  name: 'itp',
  clusterIP: '10.96.0.40',
  ports: [tcpPort(80)],
  internalTrafficPolicy: 'Local',
});
const empty = service({
  name: 'empty',
  type: 'NodePort',
  clusterIP: '10.96.0.50',
  ports: [tcpPort(80, { nodePort: 30050 })],
});

function cluster(
  webEps = [endpoint('10.244.1.2', A), endpoint('10.244.2.2', B), endpoint('10.244.2.3', B)],
  dnsEps = [endpoint('10.244.1.53', A), endpoint('10.244.2.53', B)],
): ServicePortState[] {
  return [
    ...servicePorts(web, webEps),
    ...servicePorts(dns, dnsEps),
    ...servicePorts(np, [endpoint('10.244.2.30', B)]),
    ...servicePorts(itp, [endpoint('10.244.1.40', A)]),
    ...servicePorts(empty, []),
  ];
}

describe('nftables proxy on a kernel', () => {
  const proxy = createNftablesProxy(ctx, {});

  it('install writes the table skeleton', async () => {
    await proxy.install();
    await expectKernelMatches(planRuleset({ servicePorts: [] }, NODE_CONFIG));
  });

  it('the first sync programs every Service as planned', async () => {
    const state = { servicePorts: cluster() };
    const result = await proxy.sync(state);
    expect(result.strategy).toBe('full');
    expect(result.notes).toEqual([]);
    await expectKernelMatches(planRuleset(state, NODE_CONFIG));
  });

  it('an endpoint change is written incrementally, and stale chains and sets are deleted', async () => {
    const webEps = [endpoint('10.244.1.2', A), endpoint('10.244.2.9', B)];
    const dnsEps = [endpoint('10.244.1.53', A)];
    const state = {
      servicePorts: cluster(webEps, dnsEps).filter((sp) => sp.service.name !== 'itp'),
    };
    const result = await proxy.sync(state);
    expect(result.strategy).toBe('incremental');
    // web (affinity): its service chain rewritten, one endpoint chain and affinity set new, two
    // of each gone; itp (internalTrafficPolicy=Local, so no service- chain): its local- chain
    // gone; dns (no affinity, so no endpoint chains): both ports' service chains rewritten.
    expect(result.written).toMatchObject({
      chainsWritten: 4,
      chainsDeleted: 3,
      setsAdded: 1,
      setsDeleted: 2,
    });
    // The UDP port lost an endpoint: its conntrack entries are deleted (netlink works here).
    expect(result.written.staleUdpFlows).toBe(1);
    expect(result.notes).toEqual([]);
    await expectKernelMatches(planRuleset(state, NODE_CONFIG));
  });

  it('a full sync repairs drift and keeps learnt affinity', async () => {
    const state = { servicePorts: cluster() };
    await proxy.sync(state);
    const plan = planRuleset(state, NODE_CONFIG);
    const affinity = [...plan.sets.keys()].find((n) => n.startsWith('affinity-'))!;
    await ctx.exec('nft', ['-f', '-'], {
      input: [
        'add chain ip kube-proxy service-AAAAAAAA-default/gone/tcp/p80',
        'delete element ip kube-proxy service-ips { 10.96.0.53 . udp . 53 }',
        'flush chain ip kube-proxy masquerading',
        `add element ip kube-proxy ${affinity} { 10.244.9.9 }`,
      ].join('\n'),
    });

    const result = await proxy.sync(state, { full: true });
    expect(result.strategy).toBe('full');
    await expectKernelMatches(plan);
    const learnt = await ctx.exec('nft', ['list', 'set', 'ip', 'kube-proxy', affinity]);
    expect(learnt.stdout).toContain('10.244.9.9');
  });

  it('dump shows the table and the conntrack table', async () => {
    const dump = await proxy.dump();
    expect(Object.keys(dump).sort()).toEqual(['conntrack', 'nft']);
    expect(dump.nft).toContain('table ip kube-proxy');
  });

  it('a load split into chunked transactions ends up identical to the plan', async () => {
    const applier = new NftablesApplier(ctx, { chunkSize: 3 });
    const state = {
      servicePorts: Array.from({ length: 10 }, (_, i) =>
        servicePorts(
          service({ name: `bulk-${i}`, clusterIP: `10.96.7.${i + 1}`, ports: [tcpPort(80)] }),
          [endpoint(`10.244.2.${i + 100}`, B)],
        ),
      ).flat(),
    };
    const plan = planRuleset(state, NODE_CONFIG);
    const result = await applier.apply(plan, { full: true });
    expect(result.counts.transactions).toBe(4);
    await expectKernelMatches(plan);
  });
});

describe('nftables proxy on a kernel, external policies (svclab issue 15)', () => {
  it('programs a ClusterIP Service with externalIPs under externalTrafficPolicy=Local, and one with both policies Local', async () => {
    const eip = service({
      name: 'eip',
      clusterIP: '10.96.0.60',
      ports: [tcpPort(80)],
      externalIPs: ['192.168.200.110'],
      externalTrafficPolicy: 'Local',
    });
    const both = service({
      name: 'both',
      type: 'NodePort',
      clusterIP: '10.96.0.61',
      ports: [tcpPort(80, { nodePort: 30061 })],
      internalTrafficPolicy: 'Local',
      externalTrafficPolicy: 'Local',
    });
    const proxy = createNftablesProxy(ctx, {});
    await proxy.install();
    const state = {
      servicePorts: [
        ...servicePorts(eip, [endpoint('10.244.1.60', A), endpoint('10.244.2.60', B)]),
        ...servicePorts(both, [endpoint('10.244.2.61', B)]),
      ],
    };
    await proxy.sync(state, { full: true });
    const plan = planRuleset(state, NODE_CONFIG);
    await expectKernelMatches(plan);
    // The external IP goes through the local chain, without the masquerade mark.
    const { rules } = await kernelState();
    const external = [...rules.keys()].find((c) => c.startsWith('external-') && c.endsWith('/eip/tcp/p80'))!; // prettier-ignore
    expect(rules.get(external)?.at(-1)).toMatch(/^goto local-[A-Z2-7]{8}-default\/eip\/tcp\/p80$/);
    expect(rules.get(external)?.join('\n')).not.toContain('comment "masquerade"');
  });
});

describe('nftables proxy on a kernel, numgen-rules endpoint selection', () => {
  const cfg = { ...NODE_CONFIG, endpointSelection: 'numgen-rules' as const };
  const proxy = createNftablesProxy(ctx, {}, { endpointSelection: 'numgen-rules' });

  it('the kernel lists the rules exactly as planned, with no anonymous map', async () => {
    await proxy.install();
    const state = { servicePorts: cluster() };
    await proxy.sync(state, { full: true });
    await expectKernelMatches(planRuleset(state, cfg));
    const table = await ctx.exec('nft', ['list', 'table', 'ip', 'kube-proxy']);
    expect(table.stdout).toMatch(/numgen random mod 3 0 goto endpoint-/);
    expect(table.stdout).not.toMatch(/numgen random mod \d+ v?map/);
    expect(table.stdout).toMatch(/numgen random mod 2 0 meta l4proto udp dnat to /);
  });

  it('an endpoint change rewrites only the Service chain, incrementally', async () => {
    const state = {
      servicePorts: cluster([endpoint('10.244.1.2', A), endpoint('10.244.2.9', B)]),
    };
    const result = await proxy.sync(state);
    expect(result.strategy).toBe('incremental');
    await expectKernelMatches(planRuleset(state, cfg));
  });
});
