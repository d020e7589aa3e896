/* eslint-disable @typescript-eslint/no-explicit-any -- API objects are JSON from kube-apiserver; only the fields read here are typed where they are read. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../cluster/lab.js';
import { computeProxyState } from '../cluster/endpoints.js';
import { labDir } from '../cluster/state.js';
import { run } from '../exec/index.js';
import { uniqueLabName } from '../harness/lab-fixture.js';
import { loadTopology } from '../model/index.js';
import { NetnsProvider } from '../netns/provider.js';
import { NETNS_PREFIX } from '../netns/names.js';
import type { ControlPlane } from './handle.js';

/**
 * A lab with the real control plane (etcd, kube-apiserver, kube-controller-manager built from
 * source), checked with the real kubectl: the objects match the topology, the EndpointSlices are
 * the controller's, and changes made through the API reach the lab and its dataplane.
 */
const root = join(import.meta.dirname, '..', '..');
const provider = new NetnsProvider();
const skip = process.getuid?.() !== 0 ? 'needs root' : undefined;

/** Processes whose argv mentions the lab's folder (components) or `--lab <lab>` (agents, kubelet). */
function labProcesses(lab: string): number[] {
  const dir = labDir(lab);
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        return argv.some((a, i) => a.includes(`${dir}/`) || (a === '--lab' && argv[i + 1] === lab));
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe.skipIf(skip)(
  'control plane in a netns lab (real etcd, kube-apiserver, kube-controller-manager)',
  () => {
    let lab: Lab;
    let cp: ControlPlane;
    const kubectl = async (...args: string[]) => {
      const r = await run(
        `${cp.record.binDir}/kubectl`,
        ['--kubeconfig', cp.files.adminKubeconfig, ...args],
        {
          netns: cp.record.netns,
        },
      );
      return r.stdout;
    };
    const getJson = async (what: string) =>
      JSON.parse(await kubectl('get', what, '-o', 'json')).items as any[];

    beforeAll(async () => {
      const topo = await loadTopology(join(root, 'topologies', 'three-node.yaml'));
      lab = await provider.up(topo, {
        name: uniqueLabName('cp'),
        proxy: 'nftables',
        progress: 'silent',
        ephemeral: true,
        controlPlane: true,
      });
      cp = lab.controlPlane!;
    });
    afterAll(async () => {
      await lab?.down();
    });

    it('runs the built release, inside the lab: nothing of it listens in the host namespace', async () => {
      expect(await kubectl('version', '-o', 'json')).toContain('"gitVersion": "v1.37.2"');
      const ss = await run('ss', ['-Hltn']);
      for (const port of [':6443 ', ':2379 ', ':10257 ']) expect(ss.stdout).not.toContain(port);
      const inside = await run('ss', ['-Hltn'], { netns: cp.record.netns });
      expect(inside.stdout).toContain(`${cp.record.ip}:6443`);
    });

    it('registers a Node per node with its address, podCIDR and hostname label', async () => {
      const nodes = await getJson('nodes');
      expect(nodes.map((n) => n.metadata.name).sort()).toEqual(
        lab.topology.nodes.map((n) => n.name).sort(),
      );
      for (const spec of lab.topology.nodes) {
        const n = nodes.find((x) => x.metadata.name === spec.name);
        expect(n.spec.podCIDR).toBe(spec.podCIDR);
        expect(n.metadata.labels['kubernetes.io/hostname']).toBe(spec.name);
        expect(n.status.addresses).toContainEqual({ type: 'InternalIP', address: spec.ip });
      }
    });

    it('has a Running Pod per topology pod, on its node, with its IP and Ready from its agent', async () => {
      const pods = await getJson('pods');
      for (const spec of lab.topology.pods) {
        const p = pods.find((x) => x.metadata.name === spec.name);
        expect(p, spec.name).toBeDefined();
        expect(p.spec.nodeName).toBe(spec.node);
        expect(p.status.phase).toBe('Running');
        expect(p.status.podIP).toBe(spec.ip);
        expect(p.status.conditions.find((c: any) => c.type === 'Ready').status).toBe(
          spec.ready ? 'True' : 'False',
        );
      }
    });

    it('creates the Services as the API server accepted and allocated them', async () => {
      const services = await getJson('services');
      expect(services.map((s) => s.metadata.name)).toContain('kubernetes');
      for (const spec of lab.topology.services) {
        const s = services.find(
          (x) => x.metadata.name === spec.name && x.metadata.namespace === spec.namespace,
        );
        expect(s.spec.clusterIP).toBe(spec.clusterIP);
        expect(s.spec.type).toBe(spec.type);
        for (const port of spec.ports)
          expect(s.spec.ports.find((p: any) => p.name === port.name).nodePort).toBe(port.nodePort);
        if (spec.loadBalancerIPs.length > 0)
          expect(s.status.loadBalancer.ingress.map((i: any) => i.ip)).toEqual(spec.loadBalancerIPs);
      }
    });

    it("has the controller's EndpointSlices, and they say what the topology implies", async () => {
      const slices = await getJson('endpointslices');
      const want = computeProxyState(lab.topology);
      for (const sp of want.servicePorts) {
        const mine = slices.filter(
          (s) => s.metadata.labels['kubernetes.io/service-name'] === sp.service.name,
        );
        expect(mine.length, sp.name).toBeGreaterThan(0);
        for (const s of mine)
          expect(s.metadata.labels['endpointslice.kubernetes.io/managed-by']).toBe(
            'endpointslice-controller.k8s.io',
          );
        const got = mine
          .flatMap((s) =>
            (s.endpoints ?? []).map(
              (e: any) => `${e.targetRef.name}@${e.nodeName}:${e.conditions.ready}`,
            ),
          )
          .sort();
        expect(got, sp.name).toEqual(
          sp.endpoints.map((e) => `${e.podName}@${e.nodeName}:${e.ready}`).sort(),
        );
      }
    });

    it('follows readiness: a failing probe takes the pod out of ready endpoints and out of the rules', async () => {
      await lab.update((t) => void (t.pods.find((p) => p.name === 'web-c')!.ready = false));
      const slices = await getJson('endpointslices');
      const web = slices.find((s) => s.metadata.labels['kubernetes.io/service-name'] === 'web');
      expect(web.endpoints.find((e: any) => e.targetRef.name === 'web-c').conditions.ready).toBe(
        false,
      );
      const seen = await lab.probe('client-a', 'web:http', { count: 30 });
      const answered = new Set(seen.attempts.filter((a) => a.ok).map((a) => a.backend));
      expect(answered.has('web-c')).toBe(false);
      expect(answered.size).toBeGreaterThan(0);
      await lab.update((t) => void (t.pods.find((p) => p.name === 'web-c')!.ready = true));
    });

    it('follows a Service edited with kubectl: ClientIP affinity reaches the nftables rules', async () => {
      const node = lab.topology.nodes[0]!.name;
      const affinitySets = async () =>
        (await lab.exec(node, ['nft', 'list', 'table', 'ip', 'kube-proxy'])).stdout
          .split('\n')
          .filter((l) => /^\s*set affinity-\w+-default\/web\/tcp\/http__/.test(l));
      expect(await affinitySets()).toEqual([]);
      await kubectl('patch', 'svc', 'web', '-p', '{"spec":{"sessionAffinity":"ClientIP"}}');
      await until('the lab kubelet to sync the edited Service', async () => {
        const st = await cp.kubelet<{ proxy: { key: string } }>('status');
        return /"name":"web"[^}]*"sessionAffinity":"ClientIP"/.test(st.proxy.key)
          ? true
          : undefined;
      });
      expect((await affinitySets()).length).toBeGreaterThan(0);
      await lab.refreshFromApi();
      expect(lab.service('web').spec.sessionAffinity).toBe('ClientIP');
      const seen = await lab.probe('client-a', 'web:http', { count: 20 });
      expect(new Set(seen.attempts.filter((a) => a.ok).map((a) => a.backend)).size).toBe(1);
    });

    it('follows a Pod deleted with kubectl: its namespace and agent go, its endpoints leave', async () => {
      const netns = `${NETNS_PREFIX}${lab.name}.pod.web-b`;
      expect(existsSync(`/run/netns/${netns}`)).toBe(true);
      await kubectl('delete', 'pod', 'web-b', '--wait=true');
      expect(existsSync(`/run/netns/${netns}`)).toBe(false);
      const slices = await getJson('endpointslices');
      const names = slices.flatMap((s) => (s.endpoints ?? []).map((e: any) => e.targetRef?.name));
      expect(names).not.toContain('web-b');
      await lab.refreshFromApi();
      expect(lab.topology.pods.map((p) => p.name)).not.toContain('web-b');
      const seen = await lab.probe('client-a', 'web:http', { count: 20 });
      expect(seen.attempts.some((a) => a.backend === 'web-b')).toBe(false);
    });

    it('records what the API server allocated for a Service a lab update adds, and programs that', async () => {
      // svclab's allocator chose this ClusterIP and NodePort (the *Allocated flags): they are
      // not sent, so the API server allocates its own, and those are what kube-proxy would use.
      const web = lab.topology.services.find((s) => s.name === 'web')!;
      await lab.update((t) => {
        t.services.push({
          ...structuredClone(web),
          name: 'web-added',
          externalIPs: [],
          clusterIP: '10.96.0.250',
          clusterIPAllocated: true,
          ports: [{ ...web.ports[0]!, nodePort: 30999, nodePortAllocated: true }],
        });
      });
      const api = (await getJson('services')).find((s) => s.metadata.name === 'web-added');
      const added = lab.service('web-added');
      expect(added.spec.clusterIP).toBe(api.spec.clusterIP);
      expect(added.spec.ports[0]!.nodePort).toBe(api.spec.ports[0].nodePort);
      for (const to of [added.clusterIP('http'), added.nodePort('http', 'node-b')]) {
        const seen = await lab.probe('client-a', to, { count: 5 });
        expect(
          seen.attempts.every((a) => a.ok),
          to.description,
        ).toBe(true);
      }
      await lab.update((t) => void (t.services = t.services.filter((s) => s.name !== 'web-added')));
    });

    it("dumps the components' logs and the lab's objects as kubectl shows them", async () => {
      const dir = await lab.dump();
      const objects = readFileSync(join(dir, 'control-plane', 'objects.yaml'), 'utf8');
      expect(objects).toContain('kind: EndpointSlice');
      expect(objects).toContain('name: web-a');
      for (const c of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'svclab-kubelet'])
        expect(existsSync(join(dir, 'control-plane', `${c}.log`)), c).toBe(true);
      await run('rm', ['-rf', dir]);
    });

    it('leaves nothing after down: no process, namespace or folder', async () => {
      const name = lab.name;
      expect(labProcesses(name).length).toBeGreaterThan(4);
      const report = await lab.down();
      expect(report.errors).toEqual([]);
      expect(labProcesses(name)).toEqual([]);
      expect(
        readdirSync('/run/netns').filter((n) => n.startsWith(`${NETNS_PREFIX}${name}.`)),
      ).toEqual([]);
      expect(existsSync(labDir(name))).toBe(false);
    });
  },
);
