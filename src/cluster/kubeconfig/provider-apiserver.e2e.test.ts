/* eslint-disable @typescript-eslint/no-explicit-any -- API objects read back as JSON from kube-apiserver. */
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig, type V1Node } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { ApiClient, KubeObject, WatchEvent } from '../../controlplane/api-client.js';
import type { ControlPlane } from '../../controlplane/handle.js';
import { uniqueLabName } from '../../harness/lab-fixture.js';
import { skipWhen } from '../../harness/skip.js';
import { cidrContains, formatIPv4, nthAddress, parseCIDR, parseIPv4 } from '../../model/ipam.js';
import { loadTopology, topologyFromObject } from '../../model/index.js';
import type { Topology } from '../../model/types.js';
import { NetnsProvider } from '../../netns/provider.js';
import type { Lab } from '../lab.js';
import { KubeApi } from './api.js';
import { checkPinnedClusterIPs, clusterDnsAddresses } from './cluster-addresses.js';
import { downClusterLab, observedTopology, type ClusterSpec } from './cluster-up.js';
import { LOAD_BALANCER_CLASS, planWorkloads, type WorkloadOptions } from './manifests.js';
import {
  AGENT_CONFIGMAP,
  externalAgentPod,
  LAB_LABEL,
  nodeAgentPod,
  UNREADY_MARKER,
} from './names.js';
import { createLabNamespace, listLabNamespaces } from './namespace.js';
import { placeNodes, type Placement } from './placement.js';
import { KubeconfigProvider } from './provider.js';
import {
  applyChanges,
  createServices,
  createWorkloads,
  diffWorkloads,
  observePods,
  observeServices,
  waitEndpointSlices,
  withAllocatedAddresses,
} from './workloads.js';

/**
 * Issue 19: the kubeconfig provider's cluster side (namespace, placement, workloads, Service
 * addresses, LoadBalancer status, edits, down) against a real kube-apiserver with the real
 * namespace, EndpointSlice and endpoints controllers: the control plane of a netns lab. The unit
 * tests beside it check the same code against fake-apiserver.ts; this is what the real server,
 * its allocators and its controllers make of it.
 *
 * `KubeconfigProvider.up` itself cannot finish here: its last phase opens exec streams into the
 * pods' agent containers, and waits for kube-proxy, and nothing runs containers (see
 * standInKubelet). So the test runs up's phases through the same functions, in the same order
 * (place nodes, namespace, workloads, observed addresses, EndpointSlices), then `down` as is.
 */
const root = join(import.meta.dirname, '..', '..', '..');
const skip = skipWhen('root', process.getuid?.() !== 0 && 'needs root');

/**
 * A kubeconfig whose connections go through the lab kubelet's Unix socket instead of dialling the
 * server address, which exists only inside the lab's control-plane namespace (nothing of a lab
 * listens in the host's). The rest is client-node's own: the TLS it builds from the kubeconfig
 * (CA, client certificate, the server's address checked against its certificate) and its
 * generated clients. So the provider runs unchanged; only where the socket connects differs, and
 * that stays in this test rather than in a production option nothing else would use.
 */
class LabSocketKubeConfig extends KubeConfig {
  constructor(private readonly socketPath: string) {
    super();
  }

  override async applySecurityAuthentication(
    context: Parameters<KubeConfig['applySecurityAuthentication']>[0],
  ): Promise<void> {
    await super.applySecurityAuthentication(context);
    context.setAgent(this.throughSocket(context.getAgent()));
  }

  /** The websocket path (exec): not used here, but the client should not dial around the socket. */
  override async applyToHTTPSOptions(
    opts: Parameters<KubeConfig['applyToHTTPSOptions']>[0],
  ): Promise<void> {
    await super.applyToHTTPSOptions(opts);
    opts.agent = this.throughSocket(opts.agent);
  }

  private throughSocket(agent: unknown): https.Agent {
    if (!(agent instanceof https.Agent))
      throw new Error('client-node did not make an https.Agent for the lab API server');
    // http.Agent turns its own socketPath option into the connection's path (createSocket).
    return new https.Agent({ ...agent.options, socketPath: this.socketPath } as https.AgentOptions);
  }
}

function labKubeApi(cp: ControlPlane): KubeApi {
  const kc = new LabSocketKubeConfig(cp.files.apiserverSocket);
  kc.loadFromFile(cp.files.adminKubeconfig);
  return new KubeApi(kc);
}

const selectorOf = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/**
 * What a scheduler and a kubelet would do for the provider's pods, reduced to what the API sees.
 * Nothing can run their containers here: there is no container runtime, and the lab kubelet
 * (src/kubelet/main.ts) only keeps the status of its own lab's pods in namespace `default`, so
 * the lab namespace's pods would stay Pending and `createWorkloads` would wait for them forever.
 * This binds each pod to the one Node its nodeSelector selects (a selector that selects none or
 * several, or placement the stand-in does not honour, is a placement bug: it stops with it) and
 * reports it Running, with an address from that Node's podCIDR (hostNetwork: the Node's
 * InternalIP) and the readiness its agent container starts with (the UNREADY_MARKER it touches).
 * Pods being deleted are left alone, as a kubelet that never confirms would leave them. What the
 * test asserts is what the API server and its controllers make of these pods, not that they run.
 */
function standInKubelet(admin: ApiClient, namespace: string) {
  const stop = new AbortController();
  const boundTo = new Map<string, string>();
  const nextOffset = new Map<string, number>();
  const nodes = new Map<string, KubeObject>();
  const bind = async (pod: KubeObject) => {
    const name = pod.metadata.name;
    if (pod.spec.affinity || pod.spec.nodeName)
      throw new Error(`pod ${name}: the stand-in scheduler honours nodeSelector only`);
    const selector = selectorOf(pod.spec.nodeSelector ?? {});
    const matched = await admin.list(`/api/v1/nodes?labelSelector=${encodeURIComponent(selector)}`);
    if (matched.items.length !== 1)
      throw new Error(
        `pod ${name}: nodeSelector ${selector || '(none)'} selects ${matched.items.length} Nodes (want exactly 1)`,
      );
    const node = matched.items[0]!;
    nodes.set(node.metadata.name, node);
    await admin.create(`/api/v1/namespaces/${namespace}/pods/${name}/binding`, {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name },
      target: { apiVersion: 'v1', kind: 'Node', name: node.metadata.name },
    });
    boundTo.set(name, node.metadata.name);
  };
  const start = async (pod: KubeObject) => {
    const node = nodes.get(pod.spec.nodeName)!;
    const hostIP = node.status.addresses.find((a: any) => a.type === 'InternalIP').address;
    let ip = hostIP;
    if (!pod.spec.hostNetwork) {
      // Past the node's own .1 (the pod network's gateway), as a CNI would hand them out.
      const offset = nextOffset.get(node.metadata.name) ?? 2;
      nextOffset.set(node.metadata.name, offset + 1);
      ip = formatIPv4(nthAddress(parseCIDR(node.spec.podCIDR)!, offset)!);
    }
    const ready = !pod.spec.containers.some((c: any) =>
      (c.command ?? []).join(' ').includes(`touch ${UNREADY_MARKER}`),
    );
    const now = new Date().toISOString();
    const cond = (type: string, status: boolean) => ({
      type,
      status: status ? 'True' : 'False',
      lastTransitionTime: now,
    });
    await admin.mergePatch(`/api/v1/namespaces/${namespace}/pods/${pod.metadata.name}/status`, {
      status: {
        phase: 'Running',
        hostIP,
        hostIPs: [{ ip: hostIP }],
        podIP: ip,
        podIPs: [{ ip }],
        startTime: now,
        conditions: [
          cond('PodScheduled', true),
          cond('Initialized', true),
          cond('ContainersReady', ready),
          cond('Ready', ready),
        ],
        containerStatuses: pod.spec.containers.map((c: any) => ({
          name: c.name,
          image: c.image,
          imageID: '',
          ready,
          restartCount: 0,
          started: true,
          state: { running: { startedAt: now } },
        })),
      },
    });
  };
  const loop = (async () => {
    while (!stop.signal.aborted) {
      const pods = await admin.list(`/api/v1/namespaces/${namespace}/pods`);
      for (const pod of pods.items) {
        if (pod.metadata.deletionTimestamp) continue;
        if (!pod.spec.nodeName) await bind(pod);
        else if (!pod.status?.podIP && nodes.has(pod.spec.nodeName)) await start(pod);
      }
      // A control loop's period, as the lab kubelet's probe period: it acts on what it lists.
      await sleep(100);
    }
  })();
  return {
    boundTo,
    /** Settles only when the stand-in fails: race it against what waits for the pods. */
    failed: loop.then(() => new Promise<never>(() => {})),
    async stop() {
      stop.abort();
      await loop.catch(() => undefined);
    },
  };
}

/** Every object of these kinds carrying the lab's label, anywhere in the cluster. */
async function labelled(admin: ApiClient, lab: string): Promise<string[]> {
  const sel = `labelSelector=${encodeURIComponent(`${LAB_LABEL}=${lab}`)}`;
  const kinds = [
    '/api/v1/namespaces',
    '/api/v1/pods',
    '/api/v1/services',
    '/api/v1/configmaps',
    '/api/v1/endpoints',
    '/apis/discovery.k8s.io/v1/endpointslices',
  ];
  const out: string[] = [];
  for (const path of kinds)
    for (const o of (await admin.list(`${path}?${sel}`)).items)
      out.push(`${path.split('/').pop()} ${o.metadata.namespace ?? ''}/${o.metadata.name}`);
  return out.sort();
}

describe.skipIf(skip)('kubeconfig provider against a real kube-apiserver', () => {
  let lab: Lab;
  let admin: ApiClient;
  let api: KubeApi;
  let topo: Topology;
  let clusterNodes: V1Node[];
  let spec: ClusterSpec;
  let placement: Placement;
  let workloads: WorkloadOptions;
  let observed: Topology;
  let kubelet: ReturnType<typeof standInKubelet> | undefined;
  const kcLab = uniqueLabName('kc');
  const nextLab = `${kcLab}-b`;
  // Topology node -> cluster node, rotated, so a selector written from the topology's own node
  // names instead of the cluster's would select the wrong Node and show.
  const rotation = { 'node-a': 'node-b', 'node-b': 'node-c', 'node-c': 'node-a' };

  beforeAll(async () => {
    const file = join(root, 'topologies', 'three-node.yaml');
    const shipped = await loadTopology(file);
    // The cluster: three-node.yaml's nodes and a fourth, which runs none of the lab's pods (where
    // an external host can stand), registered by the lab kubelet. Their kubernetes.io/hostname
    // label is not their name, as on clusters whose kubelets run with --hostname-override or
    // whose cloud provider names the Nodes (the label is the hostname, the name is the Node's).
    // The lab's own pods and Services stay out: its Services would hold three-node.yaml's nodePorts.
    const doc = parse(await readFile(file, 'utf8'));
    doc.spec.nodes = [...doc.spec.nodes, { name: 'node-d' }].map((n: { name: string }) => ({
      ...n,
      labels: { 'kubernetes.io/hostname': `${n.name}.lab` },
    }));
    doc.spec.pods = [];
    doc.spec.services = [];
    lab = await new NetnsProvider().up(topologyFromObject(doc), {
      name: uniqueLabName('kcapi'),
      proxy: 'none',
      progress: 'silent',
      ephemeral: true,
      controlPlane: true,
    });
    const cp = lab.controlPlane!;
    admin = cp.api();
    api = labKubeApi(cp);
    // kind's and kubeadm's kube-dns: the tenth address of the Service CIDR.
    await admin.create('/api/v1/namespaces/kube-system/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kube-dns', namespace: 'kube-system' },
      spec: { clusterIP: '10.96.0.10', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] },
    });
    // What the lab on the cluster runs: three-node.yaml with a terminating and an unready
    // backend, so the EndpointSlice controller's conditions are compared with the provider's,
    // and one nodePort left to the API server's allocator.
    topo = structuredClone(shipped);
    topo.pods.find((p) => p.name === 'web-b')!.terminating = true;
    topo.pods.find((p) => p.name === 'web-c')!.ready = false;
    topo.services.find((s) => s.name === 'web-affinity')!.ports[1]!.nodePortAllocated = true;
    spec = new KubeconfigProvider({
      kubeconfig: cp.files.adminKubeconfig,
      placement: { kind: 'names', names: rotation },
      externalHosts: 'pod',
    }).spec(kcLab, api);
  });

  afterAll(async () => {
    await kubelet?.stop();
    // Labs the tests did not get to remove (a failure half-way): the cluster goes with the lab.
    await lab?.down();
  });

  it('reaches the API server through the lab socket, with TLS checked, and sees kube-dns', async () => {
    const cp = lab.controlPlane!;
    expect(await api.serverVersion()).toBe(cp.record.version);
    // Through the socket the certificate is still checked against the kubeconfig's server: the
    // same socket under another server address is refused.
    const elsewhere = new LabSocketKubeConfig(cp.files.apiserverSocket);
    elsewhere.loadFromFile(cp.files.adminKubeconfig);
    elsewhere.clusters = elsewhere.clusters.map((c) => ({
      ...c,
      server: 'https://172.18.0.253:6443',
    }));
    await expect(new KubeApi(elsewhere).serverVersion()).rejects.toThrow(
      /IP: 172\.18\.0\.253 is not in the cert's list/,
    );
    expect(await clusterDnsAddresses(api)).toEqual([
      { ip: '10.96.0.10', owner: 'Service kube-system/kube-dns' },
    ]);
    // three-node.yaml pins no clusterIP (web's 10.96.0.10 is svclab's own choice): accepted.
    const taken = await clusterDnsAddresses(api);
    expect(() => checkPinnedClusterIPs(topo, taken)).not.toThrow();
    const pinned = structuredClone(topo);
    pinned.services[0]!.clusterIPAllocated = false;
    expect(() => checkPinnedClusterIPs(pinned, taken)).toThrow(
      /spec\.clusterIP: 10\.96\.0\.10 belongs to Service kube-system\/kube-dns/,
    );
  });

  it('places topology nodes on the Nodes the API holds, by their hostname label', async () => {
    clusterNodes = (await api.core.listNode()).items;
    placement = placeNodes(topo, clusterNodes, spec.placement);
    expect(placement.nodes).toEqual(rotation);
    expect(placement.selectors['node-a']).toEqual({ 'kubernetes.io/hostname': 'node-b.lab' });
    for (const [node, selector] of Object.entries(placement.selectors)) {
      const selected = await api.core.listNode({ labelSelector: selectorOf(selector) });
      expect(
        selected.items.map((n) => n.metadata?.name),
        node,
      ).toEqual([rotation[node as keyof typeof rotation]]);
    }
  });

  it('creates the namespace and workloads; the API holds them as the provider wrote them', async () => {
    const ns = spec.namespace;
    const externals = spec.externalHosts(placement, clusterNodes, topo);
    await createLabNamespace(api, { lab: kcLab, namespace: ns, ephemeral: true });
    workloads = {
      lab: kcLab,
      namespace: ns,
      placement: placement.selectors,
      externalHostPlacement: externals.podPlacement,
      agentFiles: spec.agentFiles(),
      owner: { host: hostname(), pid: process.pid, ephemeral: true },
    };
    const m = planWorkloads(topo, workloads);
    kubelet = standInKubelet(admin, ns);
    await Promise.race([createWorkloads(api, topo, m), kubelet.failed]);

    // The namespace: the lab's label and owner, found by the sweep's listing.
    const got = await api.core.readNamespace({ name: ns });
    expect(got.metadata?.labels?.[LAB_LABEL]).toBe(kcLab);
    expect(got.status?.phase).toBe('Active');
    expect((await listLabNamespaces(api)).find((n) => n.namespace === ns)).toMatchObject({
      lab: kcLab,
      ownerHost: hostname(),
      ownerPid: process.pid,
      ephemeral: true,
      terminating: false,
    });

    // The compiled agent fits a ConfigMap (1 MiB) and arrives whole.
    const cm = await api.core.readNamespacedConfigMap({ name: AGENT_CONFIGMAP, namespace: ns });
    expect(Object.keys(cm.data ?? {}).sort()).toEqual(Object.keys(workloads.agentFiles).sort());
    expect(cm.data?.['agent.js']).toBe(workloads.agentFiles['agent.js']);

    // Pods: every one the provider planned, each on the Node its topology node is placed on.
    const pods = (await api.core.listNamespacedPod({ namespace: ns })).items;
    expect(pods.map((p) => p.metadata?.name).sort()).toEqual(
      m.pods.map((p) => p.metadata!.name!).sort(),
    );
    // Topology pods and node agents where their topology node is placed; the external host on
    // node-d, the one Node without lab pods. The stand-in bound each to the one Node its
    // nodeSelector selects, so nodeName is where that selector puts it.
    const clusterNodeOf = (name: string) => {
      const node =
        topo.pods.find((p) => p.name === name)?.node ??
        topo.nodes.find((n) => name === nodeAgentPod(n.name))?.name;
      return node ? placement.nodes[node] : { [externalAgentPod('client')]: 'node-d' }[name];
    };
    for (const p of pods) {
      const name = p.metadata!.name!;
      expect(p.spec?.nodeName, name).toBe(clusterNodeOf(name));
      expect(p.metadata?.labels?.[LAB_LABEL], name).toBe(kcLab);
    }
    // The terminating backend: deleted with its long grace period, which the API holds it for
    // (no kubelet confirms), still counted as a serving endpoint below.
    const webB = pods.find((p) => p.metadata?.name === 'web-b')!;
    expect(webB.metadata?.deletionTimestamp).toBeDefined();
    expect(webB.metadata?.deletionGracePeriodSeconds).toBeGreaterThan(3600);

    // Services: pinned nodePorts as written, clusterIPs from the real allocator (not kube-dns's),
    // the lab's LoadBalancer class, and the status svclab writes as the LB controller.
    const services = await observeServices(api, ns);
    const range = parseCIDR(topo.networking.serviceSubnet)!;
    for (const s of topo.services) {
      const api = services.find((x) => x.metadata?.name === s.name)!;
      expect(api, s.name).toBeDefined();
      expect(api.spec?.clusterIP, s.name).not.toBe('10.96.0.10');
      expect(cidrContains(range, parseIPv4(api.spec!.clusterIP!)!), s.name).toBe(true);
      s.ports.forEach((p, i) => {
        const got = api.spec?.ports?.[i]?.nodePort;
        if (s.type === 'ClusterIP') expect(got, s.name).toBeUndefined();
        else if (p.nodePortAllocated)
          expect(got! >= 30000 && got! <= 32767, `${s.name} ${got}`).toBe(true);
        else expect(got, s.name).toBe(p.nodePort);
      });
      expect(api.spec?.externalIPs ?? [], s.name).toEqual(s.externalIPs);
      expect(api.spec?.internalTrafficPolicy, s.name).toBe(s.internalTrafficPolicy);
      if (s.type !== 'ClusterIP')
        expect(api.spec?.externalTrafficPolicy, s.name).toBe(s.externalTrafficPolicy);
      expect(api.spec?.sessionAffinity, s.name).toBe(s.sessionAffinity);
    }
    const lb = services.find((x) => x.metadata?.name === 'web-local')!;
    expect(lb.spec?.loadBalancerClass).toBe(LOAD_BALANCER_CLASS);
    expect(lb.status?.loadBalancer?.ingress?.map((i) => i.ip)).toEqual(['172.18.200.10']);

    // The lab's topology as `up` records it: the cluster's pod IPs, external host addresses,
    // allocated clusterIPs and nodePorts.
    const podIPs = new Map((await observePods(api, ns)).map((p) => [p.name, p.podIP]));
    const externalIPs = { client: podIPs.get(externalAgentPod('client')) ?? '' };
    observed = withAllocatedAddresses(
      observedTopology(topo, placement, clusterNodes, podIPs, externalIPs),
      services,
    );
    const byName = (name: string) => services.find((s) => s.metadata?.name === name)!;
    expect(observed.services.find((s) => s.name === 'web')!.clusterIP).toBe(
      byName('web').spec!.clusterIP,
    );
    expect(observed.services.find((s) => s.name === 'web-affinity')!.ports[1]!.nodePort).toBe(
      byName('web-affinity').spec!.ports![1]!.nodePort,
    );
    const nodeD = clusterNodes.find((n) => n.metadata?.name === 'node-d')!;
    expect(observed.externalHosts.find((e) => e.name === 'client')!.ip).toBe(
      nodeD.status!.addresses!.find((a) => a.type === 'InternalIP')!.address,
    );
    expect(observed.pods.find((p) => p.name === 'web-a')!.ip).toBe(podIPs.get('web-a'));
    expect(observed.pods.find((p) => p.name === 'host-c')!.ip).toBe(
      observed.nodes.find((n) => n.name === 'node-c')!.ip,
    );
    // The real EndpointSlice controller agrees with what the provider expects of this topology
    // (terminating web-b serving, unready web-c not ready, empty has none).
    await waitEndpointSlices(api, ns, observed, 30_000);
  });

  it('Service edits keep the allocated clusterIP, drop nodePorts with the type, rewrite LB status', async () => {
    const next = structuredClone(observed);
    const lbSpec = next.services.find((s) => s.name === 'web-local')!;
    lbSpec.loadBalancerIPs = ['172.18.200.11'];
    next.services.find((s) => s.name === 'web-affinity')!.sessionAffinity = 'None';
    // The reverse of the persistence suite's type-nodeport event: only the type changes, the
    // ports keep their nodePorts. A ClusterIP Service may not carry any; on an update the API
    // server drops them because they did not change (pkg/registry/core/service/strategy.go,
    // dropTypeDependentFields), so the replace the provider sends is accepted.
    next.services.find((s) => s.name === 'solo')!.type = 'ClusterIP';
    const before = await observeServices(api, spec.namespace);
    const changes = diffWorkloads(observed, next);
    expect(changes.servicesReplaced.map((s) => s.name).sort()).toEqual([
      'solo',
      'web-affinity',
      'web-local',
    ]);
    await applyChanges(api, workloads, next, changes);
    const after = await observeServices(api, spec.namespace);
    const solo = after.find((s) => s.metadata?.name === 'solo')!;
    expect(solo.spec?.type).toBe('ClusterIP');
    expect(solo.spec?.clusterIP).toBe(
      before.find((s) => s.metadata?.name === 'solo')!.spec?.clusterIP,
    );
    expect(solo.spec?.ports?.map((p) => p.nodePort)).toEqual([undefined, undefined]);
    for (const name of ['web-affinity', 'web-local']) {
      const b = before.find((s) => s.metadata?.name === name)!;
      const a = after.find((s) => s.metadata?.name === name)!;
      expect(a.spec?.clusterIP, name).toBe(b.spec?.clusterIP);
      expect(
        a.spec?.ports?.map((p) => p.nodePort),
        name,
      ).toEqual(b.spec?.ports?.map((p) => p.nodePort));
    }
    const lb = after.find((s) => s.metadata?.name === 'web-local')!;
    expect(lb.status?.loadBalancer?.ingress?.map((i) => i.ip)).toEqual(['172.18.200.11']);
    expect(after.find((s) => s.metadata?.name === 'web-affinity')!.spec?.sessionAffinity).toBe(
      'None',
    );
    observed = next;
  });

  it('another lab cannot have the pinned nodePorts while this one holds them', async () => {
    const namespace = `svclab-${nextLab}`;
    await createLabNamespace(api, { lab: nextLab, namespace, ephemeral: true });
    const web = planWorkloads(topo, { ...workloads, lab: nextLab, namespace }).services[0]!;
    const refused = await api.core
      .createNamespacedService({ namespace, body: web })
      .catch((e: unknown) => e as { code?: number; body?: string });
    expect((refused as { code?: number }).code).toBe(422);
    expect(String((refused as { body?: string }).body)).toMatch(
      /spec\.ports\[0\]\.nodePort: Invalid value: 30080: provided port is already allocated/,
    );
  });

  it('down removes everything and returns only once the namespace is gone', async () => {
    const ns = spec.namespace;
    expect(await labelled(admin, kcLab)).toEqual(
      expect.arrayContaining([
        `namespaces /${ns}`,
        `pods ${ns}/web-b`,
        `services ${ns}/web`,
        `configmaps ${ns}/${AGENT_CONFIGMAP}`,
        `endpoints ${ns}/web`,
        expect.stringMatching(new RegExp(`^endpointslices ${ns}/web-`)),
      ]),
    );
    await kubelet?.stop();
    kubelet = undefined;
    // Follow the namespace from before the delete: its Terminating phase, then its removal.
    const events: WatchEvent[] = [];
    const list = await admin.list(`/api/v1/namespaces?fieldSelector=metadata.name%3D${ns}`);
    const watching = new AbortController();
    const watch = admin
      .watch(
        `/api/v1/namespaces?fieldSelector=metadata.name%3D${ns}`,
        list.metadata.resourceVersion,
        (ev) => events.push(ev),
        watching.signal,
      )
      .catch(() => undefined);

    const report = await downClusterLab(spec, kcLab);
    const afterDown = await api.core.readNamespace({ name: ns }).catch((e: unknown) => e);

    expect(report.errors).toEqual([]);
    expect(report.removed).toEqual(expect.arrayContaining([`pods in ${ns}`, `namespace ${ns}`]));
    // Gone the moment down returned: not merely Terminating.
    expect((afterDown as { code?: number }).code).toBe(404);
    // It was Terminating first, holding the namespace controller's finalizer, which only that
    // controller removes once the namespace is empty (pkg/controller/namespace): the wait in
    // down had something to wait for, and the controller really finalized it.
    const terminating = events.find(
      (e) => e.type === 'MODIFIED' && e.object.status?.phase === 'Terminating',
    );
    expect(terminating?.object.spec?.finalizers).toEqual(['kubernetes']);
    const deadline = Date.now() + 10_000;
    while (!events.some((e) => e.type === 'DELETED') && Date.now() < deadline) await sleep(50);
    expect(events.map((e) => e.type)).toContain('DELETED');
    watching.abort();
    await watch;
    expect(await labelled(admin, kcLab)).toEqual([]);
  });

  it('the next lab gets the same pinned nodePorts once down returned', async () => {
    const next = planWorkloads(topo, {
      ...workloads,
      lab: nextLab,
      namespace: `svclab-${nextLab}`,
    });
    const created = await createServices(api, `svclab-${nextLab}`, next.services, topo.services);
    expect(
      created.find((s) => s.metadata?.name === 'web')!.spec?.ports?.map((p) => p.nodePort),
    ).toEqual([30080, 30081]);
    const report = await downClusterLab({ ...spec, namespace: `svclab-${nextLab}` }, nextLab);
    expect(report.errors).toEqual([]);
    expect(await labelled(admin, nextLab)).toEqual([]);
  });
});
