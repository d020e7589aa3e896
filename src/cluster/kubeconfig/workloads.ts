import type { V1Pod, V1Service } from '@kubernetes/client-node';
import { LabError, mapLimit } from '../../exec/index.js';
import type { PodSpec, ServiceSpec, Topology } from '../../model/types.js';
import { computeProxyState } from '../endpoints.js';
import type { KubeApi } from './api.js';
import {
  loadBalancerStatus,
  podManifest,
  serviceManifest,
  type WorkloadManifests,
  type WorkloadOptions,
} from './manifests.js';
import { AGENT_CONTAINER, UNREADY_MARKER } from './names.js';
import { apiStatus } from './namespace.js';
import { waitFor } from './wait.js';

/** What the cluster assigned: pod IPs and nodes, which the topology cannot choose on a real cluster. */
export interface ObservedPod {
  name: string;
  podIP: string;
  hostIP: string;
  nodeName: string;
}

const POD_TIMEOUT_MS = 180_000;

/** Creates the ConfigMap, Services and pods, then deletes (gracefully) pods the topology marks terminating. */
export async function createWorkloads(
  api: KubeApi,
  topo: Topology,
  m: WorkloadManifests,
): Promise<void> {
  const namespace = m.namespace.metadata!.name!;
  const what = (kind: string, name: string | undefined) =>
    `failed to create ${kind} ${namespace}/${name}`;
  await api.core
    .createNamespacedConfigMap({ namespace, body: m.configMap })
    .catch((err: unknown) => {
      throw new LabError(what('ConfigMap', m.configMap.metadata?.name), { cause: err });
    });
  await createServices(api, namespace, m.services, topo.services);
  await mapLimit(m.pods, 8, (body) =>
    api.core.createNamespacedPod({ namespace, body }).catch((err: unknown) => {
      throw new LabError(what('Pod', body.metadata?.name), { cause: err });
    }),
  );
  await waitPodsStarted(
    api,
    namespace,
    m.pods.map((p) => p.metadata!.name!),
    topo,
  );
  await mapLimit(
    topo.pods.filter((p) => p.terminating),
    8,
    (p) => deletePod(api, namespace, p.name, { graceful: true }),
  );
}

/**
 * Creates the Services, then writes the LoadBalancer ones' status from the topology. Returns what
 * the API server made of them (with the clusterIPs and nodePorts it allocated).
 */
export async function createServices(
  api: KubeApi,
  namespace: string,
  manifests: V1Service[],
  specs: ServiceSpec[],
): Promise<V1Service[]> {
  const created = await mapLimit(manifests, 8, (body) =>
    api.core.createNamespacedService({ namespace, body }).catch((err: unknown) => {
      throw new LabError(`failed to create Service ${namespace}/${body.metadata?.name}`, {
        cause: err,
      });
    }),
  );
  await mapLimit(specs, 8, (s) => setLoadBalancerStatus(api, namespace, s));
  return created;
}

function podStarted(pod: V1Pod, wantReady: boolean): string | undefined {
  const name = pod.metadata?.name ?? '?';
  const waiting = pod.status?.containerStatuses?.find((c) => c.state?.waiting?.reason);
  if (waiting)
    return `${name}: container ${waiting.name} waiting (${waiting.state!.waiting!.reason}${waiting.state!.waiting!.message ? `: ${waiting.state!.waiting!.message}` : ''})`;
  if (pod.status?.phase !== 'Running' || !pod.status.podIP)
    return `${name}: phase ${pod.status?.phase ?? 'unknown'}`;
  const ready =
    pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  if (ready !== wantReady) return `${name}: Ready=${ready}, want ${wantReady}`;
  return undefined;
}

/** Waits until every pod runs, with the readiness the topology asks for. */
export async function waitPodsStarted(
  api: KubeApi,
  namespace: string,
  names: string[],
  topo: Topology,
  timeoutMs = POD_TIMEOUT_MS,
): Promise<void> {
  const wantReady = new Map(topo.pods.map((p) => [p.name, p.ready]));
  await waitFor(
    `${names.length} pods in ${namespace} to run`,
    async () => {
      const pods = (await api.core.listNamespacedPod({ namespace })).items;
      const byName = new Map(pods.map((p) => [p.metadata?.name, p]));
      const missing = names
        .map((n) =>
          byName.has(n) ? podStarted(byName.get(n)!, wantReady.get(n) ?? true) : `${n}: not found`,
        )
        .filter((x) => x !== undefined);
      return missing.length > 0 ? missing.slice(0, 5).join('; ') : undefined;
    },
    { timeoutMs },
  );
}

export async function observePods(api: KubeApi, namespace: string): Promise<ObservedPod[]> {
  const pods = (await api.core.listNamespacedPod({ namespace })).items;
  return pods.map((p) => ({
    name: p.metadata?.name ?? '',
    podIP: p.status?.podIP ?? '',
    hostIP: p.status?.hostIP ?? '',
    nodeName: p.spec?.nodeName ?? '',
  }));
}

/**
 * Writes a LoadBalancer Service's status.loadBalancer (the status subresource) from the topology,
 * as a load-balancer controller would; its class (LOAD_BALANCER_CLASS) keeps every real
 * controller away. No-op for other types.
 */
export async function setLoadBalancerStatus(
  api: KubeApi,
  namespace: string,
  svc: ServiceSpec,
): Promise<void> {
  const status = loadBalancerStatus(svc);
  if (!status) return;
  try {
    const current = await api.core.readNamespacedService({ name: svc.name, namespace });
    await api.core.replaceNamespacedServiceStatus({
      name: svc.name,
      namespace,
      body: { ...current, status: { ...current.status, ...status } },
    });
  } catch (err) {
    throw new LabError(
      `failed to set status.loadBalancer of Service ${namespace}/${svc.name} to ${svc.loadBalancerIPs.join(', ') || 'no ingress'}`,
      { cause: err },
    );
  }
}

export async function observeServices(api: KubeApi, namespace: string): Promise<V1Service[]> {
  return (await api.core.listNamespacedService({ namespace })).items;
}

/**
 * Pure: the topology's Services with the addresses the API server allocated (clusterIP, and the
 * nodePorts of ports matched by name), where the topology left them to it. Pinned values are kept
 * as written: the API server either granted them or refused the Service.
 */
export function withAllocatedAddresses(topo: Topology, services: V1Service[]): Topology {
  const t = structuredClone(topo);
  const byName = new Map(services.map((s) => [s.metadata?.name, s]));
  for (const s of t.services) {
    const got = byName.get(s.name);
    if (!got) continue;
    if (s.clusterIPAllocated && got.spec?.clusterIP) s.clusterIP = got.spec.clusterIP;
    if (s.healthCheckNodePortAllocated && got.spec?.healthCheckNodePort)
      s.healthCheckNodePort = got.spec.healthCheckNodePort;
    for (const p of s.ports) {
      const np = got.spec?.ports?.find((x) => (x.name ?? '') === p.name)?.nodePort;
      if (p.nodePortAllocated && np) p.nodePort = np;
    }
  }
  return t;
}

/**
 * Pure: a replacement Service keeps what the API server allocated to the current one: its
 * clusterIP (immutable) and the nodePorts of ports that still need one and that the topology
 * leaves to the server (matched by port name), so a replace never reshuffles addresses.
 */
export function keepAllocated(body: V1Service, current: V1Service): V1Service {
  const out = structuredClone(body);
  const spec = out.spec!;
  if (!spec.clusterIP && current.spec?.clusterIP) {
    spec.clusterIP = current.spec.clusterIP;
    if (current.spec.clusterIPs) spec.clusterIPs = current.spec.clusterIPs;
  }
  if (spec.type !== 'ClusterIP' && current.spec?.type !== 'ClusterIP')
    for (const p of spec.ports ?? []) {
      const np = current.spec?.ports?.find((x) => (x.name ?? '') === (p.name ?? ''))?.nodePort;
      if (!p.nodePort && np) p.nodePort = np;
    }
  // Immutable while both need one (validateServiceExternalTrafficFieldsUpdate).
  if (
    !spec.healthCheckNodePort &&
    spec.type === 'LoadBalancer' &&
    spec.externalTrafficPolicy === 'Local'
  )
    if (current.spec?.healthCheckNodePort)
      spec.healthCheckNodePort = current.spec.healthCheckNodePort;
  return out;
}

/** Deletes a pod: gracefully (it becomes a terminating endpoint) or at once (grace period 0). */
export async function deletePod(
  api: KubeApi,
  namespace: string,
  name: string,
  opts: { graceful: boolean },
): Promise<void> {
  try {
    await api.core.deleteNamespacedPod({
      name,
      namespace,
      ...(opts.graceful ? {} : { gracePeriodSeconds: 0 }),
    });
  } catch (err) {
    if (apiStatus(err) !== 404)
      throw new LabError(`failed to delete pod ${namespace}/${name}`, { cause: err });
  }
}

/** Flips a pod's readiness through its agent container's readiness probe (see manifests.ts). */
export async function setPodReady(
  api: KubeApi,
  namespace: string,
  pod: string,
  ready: boolean,
): Promise<void> {
  await api.exec(namespace, pod, AGENT_CONTAINER, [
    'sh',
    '-c',
    ready ? `rm -f ${UNREADY_MARKER}` : `touch ${UNREADY_MARKER}`,
  ]);
}

/** What changed between two topologies, in API operations. */
export interface WorkloadChanges {
  servicesCreated: ServiceSpec[];
  servicesReplaced: ServiceSpec[];
  servicesDeleted: string[];
  podsCreated: PodSpec[];
  /** Pods recreated because a field a pod cannot change in place (node, ports, hostNetwork) changed. */
  podsRecreated: PodSpec[];
  podsDeleted: string[];
  podsTerminated: string[];
  readiness: { pod: string; ready: boolean }[];
  labels: PodSpec[];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Pure: the API operations that take the cluster from `prev` to `next`. How topology edits map:
 * a Service edit is a replace (clusterIP and nodePorts kept: as pinned, or as the API server
 * allocated them) and rewrites status.loadBalancer from the topology; a pod removed is deleted
 * with grace period 0; `terminating: true` deletes it with its long grace period (agnhost keeps
 * serving: a terminating, serving endpoint); `ready` flips the agent container's readiness probe;
 * a label edit updates the pod; node, ports or hostNetwork edits recreate it (new pod IP).
 */
export function diffWorkloads(prev: Topology, next: Topology): WorkloadChanges {
  const c: WorkloadChanges = {
    servicesCreated: [],
    servicesReplaced: [],
    servicesDeleted: [],
    podsCreated: [],
    podsRecreated: [],
    podsDeleted: [],
    podsTerminated: [],
    readiness: [],
    labels: [],
  };
  const prevSvc = new Map(prev.services.map((s) => [s.name, s]));
  const nextSvc = new Map(next.services.map((s) => [s.name, s]));
  for (const s of next.services) {
    const old = prevSvc.get(s.name);
    if (!old) c.servicesCreated.push(s);
    else if (!same(old, s)) c.servicesReplaced.push(s);
  }
  c.servicesDeleted = prev.services.filter((s) => !nextSvc.has(s.name)).map((s) => s.name);
  const prevPod = new Map(prev.pods.map((p) => [p.name, p]));
  const nextPod = new Map(next.pods.map((p) => [p.name, p]));
  for (const p of next.pods) {
    const old = prevPod.get(p.name);
    if (!old) {
      c.podsCreated.push(p);
      continue;
    }
    if (old.terminating) {
      if (!p.terminating)
        throw new LabError(
          `pod ${p.name} is terminating; a terminating pod cannot come back (remove it and add a new one)`,
        );
      continue;
    }
    if (old.node !== p.node || old.hostNetwork !== p.hostNetwork || !same(old.ports, p.ports)) {
      c.podsRecreated.push(p);
      continue;
    }
    if (!same(old.labels, p.labels)) c.labels.push(p);
    if (p.terminating) c.podsTerminated.push(p.name);
    else if (old.ready !== p.ready) c.readiness.push({ pod: p.name, ready: p.ready });
  }
  c.podsDeleted = prev.pods.filter((p) => !nextPod.has(p.name)).map((p) => p.name);
  return c;
}

export function describeChanges(c: WorkloadChanges): string {
  const parts = [
    [c.servicesCreated.length, 'Services created'],
    [c.servicesReplaced.length, 'Services replaced'],
    [c.servicesDeleted.length, 'Services deleted'],
    [c.podsCreated.length + c.podsRecreated.length, 'pods created'],
    [c.podsDeleted.length, 'pods deleted'],
    [c.podsTerminated.length, 'pods terminating'],
    [c.readiness.length, 'readiness changes'],
    [c.labels.length, 'label changes'],
  ] as const;
  return (
    parts
      .filter(([n]) => n > 0)
      .map(([n, w]) => `${n} ${w}`)
      .join(', ') || 'no changes'
  );
}

/** Applies the changes (Services first, so new pods land behind existing Services). */
export async function applyChanges(
  api: KubeApi,
  opts: WorkloadOptions,
  next: Topology,
  c: WorkloadChanges,
): Promise<void> {
  const ns = opts.namespace;
  await mapLimit(c.servicesDeleted, 8, (name) =>
    api.core.deleteNamespacedService({ name, namespace: ns }),
  );
  await mapLimit(c.servicesCreated, 8, (s) =>
    api.core.createNamespacedService({ namespace: ns, body: serviceManifest(opts, s) }),
  );
  await mapLimit(c.servicesReplaced, 8, async (s) => {
    const current = await api.core.readNamespacedService({ name: s.name, namespace: ns });
    const body = keepAllocated(serviceManifest(opts, s), current);
    body.metadata!.resourceVersion = current.metadata?.resourceVersion;
    await api.core.replaceNamespacedService({ name: s.name, namespace: ns, body });
  });
  await mapLimit([...c.servicesCreated, ...c.servicesReplaced], 8, (s) =>
    setLoadBalancerStatus(api, ns, s),
  );
  await mapLimit([...c.podsDeleted, ...c.podsRecreated.map((p) => p.name)], 8, (name) =>
    deletePod(api, ns, name, { graceful: false }),
  );
  if (c.podsRecreated.length > 0) {
    await waitFor(
      'recreated pods to be gone',
      async () => {
        const names = new Set(
          (await api.core.listNamespacedPod({ namespace: ns })).items.map((p) => p.metadata?.name),
        );
        const left = c.podsRecreated.filter((p) => names.has(p.name)).map((p) => p.name);
        return left.length > 0 ? left.join(', ') : undefined;
      },
      { timeoutMs: 60_000 },
    );
  }
  const created = [...c.podsCreated, ...c.podsRecreated];
  await mapLimit(created, 8, (p) =>
    api.core.createNamespacedPod({ namespace: ns, body: podManifest(opts, p) }),
  );
  await mapLimit(c.labels, 8, async (p) => {
    const pod = await api.core.readNamespacedPod({ name: p.name, namespace: ns });
    pod.metadata!.labels = podManifest(opts, p).metadata!.labels;
    await api.core.replaceNamespacedPod({ name: p.name, namespace: ns, body: pod });
  });
  await mapLimit(c.readiness, 8, (r) => setPodReady(api, ns, r.pod, r.ready));
  if (created.length > 0)
    await waitPodsStarted(
      api,
      ns,
      created.map((p) => p.name),
      next,
    );
  await mapLimit(c.podsTerminated, 8, (name) => deletePod(api, ns, name, { graceful: true }));
}

/** `ip ready serving terminating` per endpoint, per Service: what EndpointSlices should say. */
export function expectedEndpoints(topo: Topology): Map<string, string[]> {
  const out = new Map<string, Set<string>>();
  for (const sp of computeProxyState(topo).servicePorts) {
    const set = out.get(sp.service.name) ?? new Set<string>();
    for (const e of sp.endpoints)
      set.add(`${e.ip} ready=${e.ready} serving=${e.serving} terminating=${e.terminating}`);
    out.set(sp.service.name, set);
  }
  return new Map([...out].map(([k, v]) => [k, [...v].sort()]));
}

/** Waits until the EndpointSlice controller publishes exactly the endpoints the topology implies. */
export async function waitEndpointSlices(
  api: KubeApi,
  namespace: string,
  topo: Topology,
  timeoutMs = 60_000,
): Promise<void> {
  const want = expectedEndpoints(topo);
  await waitFor(
    `EndpointSlices in ${namespace} to match the topology`,
    async () => {
      const slices = (await api.discovery.listNamespacedEndpointSlice({ namespace })).items;
      const have = new Map<string, Set<string>>();
      for (const s of slices) {
        const svc = s.metadata?.labels?.['kubernetes.io/service-name'];
        if (!svc) continue;
        const set = have.get(svc) ?? new Set<string>();
        for (const e of s.endpoints ?? []) {
          for (const ip of e.addresses)
            set.add(
              `${ip} ready=${e.conditions?.ready ?? false} serving=${e.conditions?.serving ?? false} terminating=${e.conditions?.terminating ?? false}`,
            );
        }
        have.set(svc, set);
      }
      for (const [svc, endpoints] of want) {
        const got = [...(have.get(svc) ?? [])].sort();
        if (!same(got, endpoints))
          return `Service ${svc}: have [${got.join(', ')}], want [${endpoints.join(', ')}]`;
      }
      return undefined;
    },
    { timeoutMs },
  );
}
