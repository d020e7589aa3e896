import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { V1Node } from '@kubernetes/client-node';
import { packageRoot } from '../../cli/package-root.js';
import { loadTopology } from '../../model/index.js';
import type { Topology } from '../../model/types.js';
import {
  LOAD_BALANCER_CLASS,
  loadBalancerStatus,
  podManifest,
  serviceManifest,
  type WorkloadOptions,
} from './manifests.js';
import { parsePlacement, placeNodes } from './placement.js';
import { diffWorkloads, expectedEndpoints } from './workloads.js';
import { externalHostsOnCluster, nodesWithoutEndpoints } from './provider.js';

const topo = () => loadTopology(join(packageRoot(), 'topologies', 'three-node.yaml'));
const opts = (t: Topology): WorkloadOptions => ({
  lab: 'l',
  namespace: 'svclab-l',
  placement: Object.fromEntries(t.nodes.map((n) => [n.name, { 'kubernetes.io/hostname': n.name }])),
  agentFiles: {},
  owner: { host: 'h', pid: 1, ephemeral: false },
});
const node = (
  name: string,
  over: { ready?: boolean; unschedulable?: boolean; labels?: Record<string, string> } = {},
): V1Node => ({
  metadata: { name, labels: { 'kubernetes.io/hostname': name, ...over.labels } },
  spec: { unschedulable: over.unschedulable },
  status: { conditions: [{ type: 'Ready', status: over.ready === false ? 'False' : 'True' }] },
});

describe('diffWorkloads: how topology edits map to API operations', () => {
  it('readiness, termination, removal, label and Service edits', async () => {
    const prev = await topo();
    const next = structuredClone(prev);
    next.pods.find((p) => p.name === 'web-a')!.ready = false;
    next.pods.find((p) => p.name === 'web-b')!.terminating = true;
    next.pods = next.pods.filter((p) => p.name !== 'client-b');
    next.pods.find((p) => p.name === 'web-c')!.labels.extra = 'x';
    next.services.find((s) => s.name === 'web-affinity')!.sessionAffinity = 'None';
    const c = diffWorkloads(prev, next);
    expect(c.readiness).toEqual([{ pod: 'web-a', ready: false }]);
    expect(c.podsTerminated).toEqual(['web-b']);
    expect(c.podsDeleted).toEqual(['client-b']);
    expect(c.labels.map((p) => p.name)).toEqual(['web-c']);
    expect(c.servicesReplaced.map((s) => s.name)).toEqual(['web-affinity']);
    expect(c.podsCreated).toEqual([]);
  });

  it('moving a pod to another node recreates it; a terminating pod cannot come back', async () => {
    const prev = await topo();
    const next = structuredClone(prev);
    next.pods.find((p) => p.name === 'client-a')!.node = 'node-c';
    expect(diffWorkloads(prev, next).podsRecreated.map((p) => p.name)).toEqual(['client-a']);
    const terminating = structuredClone(prev);
    terminating.pods.find((p) => p.name === 'web-a')!.terminating = true;
    expect(() => diffWorkloads(terminating, prev)).toThrow(/cannot come back/);
  });

  it('expected EndpointSlice endpoints follow the EndpointSlice conditions', async () => {
    const t = await topo();
    t.pods.find((p) => p.name === 'web-b')!.terminating = true;
    const solo = expectedEndpoints(t).get('solo');
    expect(solo).toEqual([
      `${t.pods.find((p) => p.name === 'web-b')!.ip} ready=false serving=true terminating=true`,
    ]);
    expect(expectedEndpoints(t).get('empty')).toEqual([]);
  });
});

describe('manifests', () => {
  it('an unready pod starts with the readiness marker; agnhost serves the declared ports', async () => {
    const t = await topo();
    const pod = { ...t.pods.find((p) => p.name === 'web-a')!, ready: false };
    const m = podManifest(opts(t), pod);
    expect(m.spec!.containers[1]!.command!.join(' ')).toContain(
      'touch /run/svclab/unready && exec node',
    );
    expect(m.spec!.containers[0]!.args).toEqual([
      'netexec',
      '--http-port=8080',
      '--udp-port=8081',
      '--delay-shutdown=3600',
    ]);
  });

  it('a pod without a UDP port disables netexec UDP; two TCP ports cannot be served by netexec', async () => {
    const t = await topo();
    const host = t.pods.find((p) => p.name === 'host-c')!;
    expect(podManifest(opts(t), host).spec!.containers[0]!.args).toContain('--udp-port=-1');
    const two = {
      ...host,
      ports: [...host.ports, { name: 'b', containerPort: 9091, protocol: 'TCP' as const }],
    };
    expect(() => podManifest(opts(t), two)).toThrow(/at most one TCP/);
  });

  it('Services ask for pinned addresses only; allocated ones are left to the API server', async () => {
    const t = await topo();
    const webLocal = t.services.find((x) => x.name === 'web-local')!;
    // three-node.yaml pins nodePorts but no clusterIP: svclab chose 10.96.0.12, the cluster will not.
    expect(webLocal).toMatchObject({ clusterIP: '10.96.0.12', clusterIPAllocated: true });
    const s = serviceManifest(opts(t), webLocal);
    expect(s.spec).toMatchObject({
      type: 'LoadBalancer',
      loadBalancerClass: LOAD_BALANCER_CLASS,
      externalTrafficPolicy: 'Local',
      externalIPs: ['172.18.100.20'],
    });
    expect(s.spec!.clusterIP).toBeUndefined();
    expect(s.spec!.ports!.map((p) => p.nodePort)).toEqual([30090, 30091]);
    expect(s.status).toBeUndefined();
    const pinned = serviceManifest(opts(t), {
      ...webLocal,
      clusterIP: '10.96.0.50',
      clusterIPAllocated: undefined,
      ports: webLocal.ports.map((p) => ({ ...p, nodePortAllocated: true })),
    });
    expect(pinned.spec!.clusterIP).toBe('10.96.0.50');
    expect(pinned.spec!.ports!.map((p) => p.nodePort)).toEqual([undefined, undefined]);
  });

  it('status.loadBalancer comes from the topology, for LoadBalancer Services only', async () => {
    const t = await topo();
    expect(loadBalancerStatus(t.services.find((x) => x.name === 'web-local')!)).toEqual({
      loadBalancer: { ingress: [{ ip: '172.18.200.10' }] },
    });
    expect(loadBalancerStatus(t.services.find((x) => x.name === 'web')!)).toBeUndefined();
  });

  it('externalTrafficPolicy is sent for ClusterIP Services with externalIPs, not for plain ones', async () => {
    const t = await topo();
    const itp = t.services.find((x) => x.name === 'itp-local')!;
    expect(serviceManifest(opts(t), itp).spec!.externalTrafficPolicy).toBeUndefined();
    expect(
      serviceManifest(opts(t), {
        ...itp,
        externalIPs: ['203.0.113.9'],
        externalTrafficPolicy: 'Local',
      }).spec!.externalTrafficPolicy,
    ).toBe('Local');
  });
});

describe('placement', () => {
  it('spreads over Ready, schedulable nodes in name order, and says when nodes are shared', async () => {
    const t = await topo();
    const p = placeNodes(
      t,
      [
        node('w2'),
        node('w1'),
        node('cordoned', { unschedulable: true }),
        node('down', { ready: false }),
      ],
      { kind: 'spread' },
    );
    expect(p.nodes).toEqual({ 'node-a': 'w1', 'node-b': 'w2', 'node-c': 'w1' });
    expect(p.selectors['node-c']).toEqual({ 'kubernetes.io/hostname': 'w1' });
    expect(p.notes[0]).toMatch(/share 2 cluster nodes/);
  });

  it('by name and by label, reporting every problem', async () => {
    const t = await topo();
    expect(() => placeNodes(t, [node('w1')], parsePlacement('node-a=w1,node-b=w9'))).toThrow(
      /w9 \(for node-b\) does not exist[\s\S]*node-c has no cluster node/,
    );
    const labelled = [
      node('x', { labels: { 'svclab.dev/node': 'node-a' } }),
      node('y', { labels: { 'svclab.dev/node': 'node-b' } }),
      node('z', { labels: { 'svclab.dev/node': 'node-c' } }),
    ];
    expect(
      placeNodes(t, labelled, parsePlacement('label:svclab.dev/node')).selectors['node-b'],
    ).toEqual({ 'svclab.dev/node': 'node-b' });
  });

  it('external hosts go to a node without lab pods, or are unavailable with the reason', async () => {
    const t = await topo();
    const nodes = [node('w1'), node('w2'), node('w3'), node('w4')];
    const p = placeNodes(t, nodes, { kind: 'spread' });
    const free = nodesWithoutEndpoints(t, p, nodes);
    expect(free.map((n) => n.metadata?.name)).toEqual(['w4']);
    expect(externalHostsOnCluster('pod', free, t).location('client')).toEqual({
      kind: 'pod',
      pod: 'svclab-ext-client',
    });
    expect(() => externalHostsOnCluster('pod', [], t).location('client')).toThrow(
      /every cluster node runs a lab pod/,
    );
    expect(() => externalHostsOnCluster('none', free, t).location('client')).toThrow(
      /SVCLAB_EXTERNAL_HOSTS=pod/,
    );
  });

  it('pods are pinned by the kubernetes.io/hostname label, which need not be the Node name', async () => {
    const t = await topo();
    // As on clusters whose kubelets run with --hostname-override: the Node is named otherwise.
    const nodes = ['w1', 'w2', 'w3', 'w4'].map((n) =>
      node(n, { labels: { 'kubernetes.io/hostname': `${n}.example` } }),
    );
    const p = placeNodes(t, nodes, { kind: 'spread' });
    expect(p.selectors['node-a']).toEqual({ 'kubernetes.io/hostname': 'w1.example' });
    const free = nodesWithoutEndpoints(t, p, nodes);
    expect(externalHostsOnCluster('pod', free, t).podPlacement).toEqual({
      client: { 'kubernetes.io/hostname': 'w4.example' },
    });
  });
});
