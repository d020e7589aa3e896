import { setTimeout as sleep } from 'node:timers/promises';
import { LabError } from '../exec/index.js';
import type { PodSpec, ServiceSpec, Topology } from '../model/types.js';
import type { AgentClient } from '../traffic/agent-client.js';
import type { KubeObject } from './api-client.js';
import type { ControlPlane } from './handle.js';
import {
  POD_NAMESPACE,
  PRE_STOP_SLEEP_ANNOTATION,
  applyServiceSpec,
  loadBalancerStatus,
  serviceFromApi,
  withApiAllocations,
  serviceObject,
} from './objects.js';

/** A terminating pod the topology keeps (endpoint-terminating): grace and preStop long enough to look at it. */
export const TERMINATING_GRACE_SECONDS = 3600;

/**
 * A change to a lab with a control plane, made the way a user or a controller would make it:
 * Services through the API (PUT of the spec, the status subresource for LoadBalancer IPs), pod
 * readiness through the pod's own agent (its readiness probe flips, the lab kubelet reports it,
 * the EndpointSlice controller follows), deletions as DELETE with a grace period. Returns each
 * Service written, by `namespace/name`, with the ClusterIP, NodePorts and healthCheckNodePort the
 * API server allocated or kept, for the caller to record as bring-up does: a Service added with
 * a NodePort svclab's allocator chose (not sent: the API server allocates its own) would
 * otherwise be programmed by svclab's planners on another port than kube-proxy's.
 */
export async function applyTopologyChange(
  cp: ControlPlane,
  lab: string,
  before: Topology,
  after: Topology,
  agentOf: (pod: PodSpec) => Promise<AgentClient>,
): Promise<Map<string, ServiceSpec>> {
  const allocated = new Map<string, ServiceSpec>();
  const api = cp.api();
  const added = after.pods.filter((p) => !before.pods.some((b) => b.name === p.name));
  if (added.length > 0)
    throw new LabError(
      `adding pods (${added.map((p) => p.name).join(', ')}) to a running lab with a control plane is not supported: the lab kubelet does not create pod sandboxes`,
    );
  const key = (s: Pick<ServiceSpec, 'namespace' | 'name'>) => `${s.namespace}/${s.name}`;
  const old = new Map(before.services.map((s) => [key(s), s]));
  for (const s of after.services) {
    const prev = old.get(key(s));
    const path = `/api/v1/namespaces/${s.namespace}/services/${s.name}`;
    let written: KubeObject | undefined;
    if (!prev) {
      written = await api.create(
        `/api/v1/namespaces/${s.namespace}/services`,
        serviceObject(lab, s),
      );
    } else if (
      JSON.stringify({ ...prev, loadBalancerIPs: [] }) !==
      JSON.stringify({ ...s, loadBalancerIPs: [] })
    ) {
      const existing = await api.get<KubeObject>(path);
      written = await api.replace(path, applyServiceSpec(existing, s));
    }
    if (written) allocated.set(key(s), withApiAllocations(s, serviceFromApi(written)));
    if (JSON.stringify(prev?.loadBalancerIPs ?? []) !== JSON.stringify(s.loadBalancerIPs))
      await api.mergePatch(`${path}/status`, loadBalancerStatus(s));
  }
  for (const s of before.services)
    if (!after.services.some((a) => key(a) === key(s)))
      await api.delete(`/api/v1/namespaces/${s.namespace}/services/${s.name}`);

  for (const p of after.pods) {
    const prev = before.pods.find((b) => b.name === p.name)!;
    if (prev.ready !== p.ready) await (await agentOf(p)).setReady(p.ready);
    if (!prev.terminating && p.terminating) {
      // A preStop sleep as long as the grace period keeps the pod terminating and serving
      // (Ready stays true until its process is told to stop), as a pod draining its clients is.
      const path = `/api/v1/namespaces/${POD_NAMESPACE}/pods/${p.name}`;
      await api.mergePatch(path, {
        metadata: {
          annotations: { [PRE_STOP_SLEEP_ANNOTATION]: String(TERMINATING_GRACE_SECONDS) },
        },
      });
      await api.delete(path, { gracePeriodSeconds: TERMINATING_GRACE_SECONDS });
    } else if (prev.terminating && !p.terminating) {
      throw new LabError(`pod ${p.name} is terminating: a deletion cannot be undone`);
    }
  }
  for (const p of before.pods)
    if (!after.pods.some((a) => a.name === p.name)) await deletePodAndWait(cp, p.name, 30);
  return allocated;
}

/** DELETE with a grace period, then wait until the lab kubelet has stopped it and the object is gone. */
export async function deletePodAndWait(
  cp: ControlPlane,
  pod: string,
  graceSeconds: number,
): Promise<void> {
  const api = cp.api();
  const path = `/api/v1/namespaces/${POD_NAMESPACE}/pods/${pod}`;
  await api.delete(path, { gracePeriodSeconds: graceSeconds });
  const deadline = Date.now() + (graceSeconds + 30) * 1000;
  while ((await api.find(path)) !== undefined) {
    if (Date.now() > deadline)
      throw new LabError(
        `pod ${pod} was still in the API ${graceSeconds + 30} s after its deletion`,
      );
    await sleep(50);
  }
}

/**
 * The lab as the API has it now: Services (a user may have edited, added or deleted them with
 * kubectl), and each pod's readiness and termination from its Pod object. Nodes and pod
 * addresses are the lab's own and do not change.
 */
export async function topologyFromApi(cp: ControlPlane, topo: Topology): Promise<Topology> {
  const api = cp.api();
  const [services, pods] = await Promise.all([
    api.list('/api/v1/services'),
    api.list(`/api/v1/namespaces/${POD_NAMESPACE}/pods`),
  ]);
  const fromApi = services.items
    .filter((s) => !(s.metadata.namespace === 'default' && s.metadata.name === 'kubernetes'))
    .filter(
      (s) => s.spec?.type !== 'ExternalName' && s.spec?.clusterIP && s.spec.clusterIP !== 'None',
    )
    .map(serviceFromApi);
  const podsNow = topo.pods.flatMap((p) => {
    const obj = pods.items.find((o) => o.metadata.name === p.name);
    if (!obj) return [];
    const ready = obj.status?.conditions?.some(
      (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
    );
    return [{ ...p, ready: Boolean(ready), terminating: Boolean(obj.metadata.deletionTimestamp) }];
  });
  return { ...topo, services: fromApi, pods: podsNow };
}
