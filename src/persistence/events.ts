import { LabError } from '../exec/index.js';
import type { Lab, LabCapability } from '../cluster/lab.js';
import type { PodSpec, ServiceSpec, Topology } from '../model/types.js';
import type { SyncResult } from '../proxy/types.js';

/** What an event acts on, resolved after the flows opened. */
export interface EventContext {
  lab: Lab;
  /** The Service under test (namespace default). */
  service: string;
  /** The endpoint (pod) the flows are talking to. */
  serving: string;
  /** A ready endpoint that is not serving the flows (what "scale in" removes). */
  otherReady: string | undefined;
  /** A selected pod that exists but is not ready (what "scale out" makes ready). */
  notReady: string | undefined;
}

/**
 * One update applied to a running lab, through the same path a user's change takes: Lab.update
 * (API change + sync), Lab.sync, Lab.restartProxies or Lab.deletePod.
 */
export interface PersistenceEvent {
  id: string;
  title: string;
  /** State the event starts from, applied (and synced) before the flows open. */
  setup?: ((t: Topology, service: string) => void) | undefined;
  /**
   * The event needs every flow on one endpoint (it acts on "the serving endpoint"). Events that
   * start from ClientIP affinity cannot pin UDP (affinity is per Service port) and do not need to.
   */
  pin: boolean;
  /** Leaves the lab unlike its topology (a pod gone): run last, or on a fresh lab. */
  destructive?: boolean | undefined;
  /**
   * Cannot be undone through the API: on a lab with a control plane the event is destructive
   * (a Pod's deletion, once started, finishes; there is no un-terminating a pod).
   */
  irreversibleThroughApi?: boolean | undefined;
  /** What the lab must be able to do; where it cannot (Lab.cannot), the event is skipped with the reason. */
  requires?: LabCapability | undefined;
  apply(ctx: EventContext): Promise<SyncResult[]>;
}

export function findService(t: Topology, name: string): ServiceSpec {
  const s = t.services.find((x) => x.name === name && x.namespace === 'default');
  if (!s) throw new LabError(`no Service default/${name} in topology ${t.name}`);
  return s;
}

export function findPod(t: Topology, name: string): PodSpec {
  const p = t.pods.find((x) => x.name === name);
  if (!p) throw new LabError(`no pod ${name} in topology ${t.name}`);
  return p;
}

const need = (pod: string | undefined, what: string): string => {
  if (!pod) throw new LabError(`the topology has no ${what}: this event needs one`);
  return pod;
};

const update = (ctx: EventContext, mutate: (t: Topology) => void) => ctx.lab.update(mutate);

const withAffinity = (t: Topology, service: string) => {
  const s = findService(t, service);
  s.sessionAffinity = 'ClientIP';
  s.sessionAffinityTimeoutSeconds = 10800;
};

/** The matrix's rows, in the order they run (destructive ones last). */
export const EVENTS: readonly PersistenceEvent[] = [
  {
    id: 'scale-out',
    title: 'scale out: a not-ready pod becomes ready',
    pin: true,
    apply: (ctx) =>
      update(ctx, (t) => void (findPod(t, need(ctx.notReady, 'not-ready pod')).ready = true)),
  },
  {
    id: 'scale-in',
    title: 'scale in: another endpoint leaves (readiness false)',
    pin: true,
    apply: (ctx) =>
      update(
        ctx,
        (t) => void (findPod(t, need(ctx.otherReady, 'second ready endpoint')).ready = false),
      ),
  },
  {
    id: 'endpoint-removed',
    title: 'serving endpoint removed, its pod keeps running (readiness false)',
    pin: true,
    apply: (ctx) => update(ctx, (t) => void (findPod(t, ctx.serving).ready = false)),
  },
  {
    id: 'endpoint-terminating',
    title: 'serving endpoint terminating (still serving)',
    pin: true,
    irreversibleThroughApi: true,
    apply: (ctx) => update(ctx, (t) => void (findPod(t, ctx.serving).terminating = true)),
  },
  {
    id: 'affinity-timeout',
    title: 'ClientIP affinity timeout 10800 s -> 60 s',
    setup: withAffinity,
    pin: false,
    apply: (ctx) =>
      update(ctx, (t) => void (findService(t, ctx.service).sessionAffinityTimeoutSeconds = 60)),
  },
  {
    id: 'affinity-on',
    title: 'session affinity None -> ClientIP',
    pin: true,
    apply: (ctx) => update(ctx, (t) => withAffinity(t, ctx.service)),
  },
  {
    id: 'affinity-off',
    title: 'session affinity ClientIP -> None',
    setup: withAffinity,
    pin: false,
    apply: (ctx) => update(ctx, (t) => void (findService(t, ctx.service).sessionAffinity = 'None')),
  },
  {
    id: 'type-nodeport',
    title: 'Service type ClusterIP -> NodePort',
    pin: true,
    apply: (ctx) =>
      update(ctx, (t) => {
        const s = findService(t, ctx.service);
        s.type = 'NodePort';
        // Fixed NodePorts from the default range, one per Service port.
        s.ports.forEach((p, i) => (p.nodePort = 30200 + i));
      }),
  },
  {
    id: 'full-resync',
    title: 'full resync, nothing changed',
    pin: true,
    apply: (ctx) => ctx.lab.sync({ full: true }),
  },
  {
    id: 'proxy-restart',
    title: 'proxy restart (no memory, rules rebuilt by a full sync)',
    pin: true,
    requires: 'proxy-restart',
    apply: (ctx) => ctx.lab.restartProxies(),
  },
  {
    id: 'pod-deleted',
    title: 'serving pod deleted (process and network namespace gone)',
    pin: true,
    destructive: true,
    apply: (ctx) => ctx.lab.deletePod(ctx.serving),
  },
];

export const EVENT_IDS = EVENTS.map((e) => e.id);

/** Whether an event leaves `lab` unlike its topology for good (so it runs after the others). */
export function isDestructive(event: PersistenceEvent, lab: { controlPlane?: unknown }): boolean {
  return Boolean(event.destructive || (event.irreversibleThroughApi && lab.controlPlane));
}

/** Events by id, in catalogue order (destructive last); unknown ids are an error naming the valid ones. */
export function selectEvents(ids?: readonly string[]): PersistenceEvent[] {
  if (!ids || ids.length === 0) return [...EVENTS];
  const unknown = ids.filter((id) => !EVENT_IDS.includes(id));
  if (unknown.length > 0)
    throw new LabError(`unknown event ${unknown.join(', ')} (valid: ${EVENT_IDS.join(', ')})`);
  return EVENTS.filter((e) => ids.includes(e.id));
}

/** Why `lab` cannot run `event`, or undefined when it can. */
export function eventSkipReason(lab: Lab, event: PersistenceEvent): string | undefined {
  return event.requires ? lab.cannot(event.requires) : undefined;
}
