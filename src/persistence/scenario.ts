import type { Lab } from '../cluster/lab.js';
import type { PersistenceEvent } from './events.js';
import {
  closeFlows,
  DEFAULT_WATCH,
  exchangeConn,
  FIXED_PORTS,
  exchangeUdp,
  firstNewConnection,
  openFlows,
  watchStream,
  type FlowTarget,
  type WatchOptions,
} from './flows.js';
import {
  baselineOf,
  endpointPods,
  flushConntrack,
  ipvsUdpRealServersNote,
  nodeOf,
  restoreBaseline,
  syncNotes,
  type Baseline,
} from './lab-state.js';
import type { FlowKind, FlowResult, NewConnectionResult } from './outcome.js';

/** One cell of the matrix: an event on one mode, and what each flow did. */
export interface EventResult {
  event: string;
  title: string;
  /** The endpoint the flows talked to before the update. */
  serving: string;
  /** All three flows were on `serving` (else each flow's `before` says where it was). */
  pinned: boolean;
  /**
   * Duration of the update call: API change + proxy sync on every node (pod-deleted: also the
   * pod's teardown, which follows the sync).
   */
  updateMs: number;
  flows: Record<FlowKind, FlowResult>;
  newConnection: NewConnectionResult;
  /** Notes of the proxies' sync results (e.g. stale conntrack entries that could not be deleted). */
  notes: string[];
  durationMs: number;
}

export interface RunEventOptions {
  /** The pod whose agent opens the flows. Default `client`. */
  client?: string;
  /** The Service under test (namespace default). Default `web`. */
  service?: string;
  /** Pods and Services to put back after the event; default: the lab's topology now. */
  baseline?: Baseline;
  /** First fixed UDP source port; pinning may use up to 16 from here. Distinct per event. */
  udpSourcePort?: number;
  watch?: Partial<WatchOptions>;
}

export function flowTarget(lab: Lab, service: string): FlowTarget {
  const s = lab.service(service);
  const tcp = s.clusterIP('http');
  const udp = s.clusterIP('udp');
  return { host: tcp.host, tcpPort: tcp.port, udpPort: udp.port };
}

/**
 * Runs one event: (setup), open the flows, apply the update, watch every flow and time the first
 * new connection (all at once, each with its own deadline), close the flows, and put the
 * topology back unless the event is destructive. Conntrack is flushed before the flows open, so
 * each event starts clean.
 */
export async function runEvent(
  lab: Lab,
  event: PersistenceEvent,
  o: RunEventOptions = {},
): Promise<EventResult> {
  const started = performance.now();
  const client = o.client ?? 'client';
  const service = o.service ?? 'web';
  const watch = { ...DEFAULT_WATCH, ...o.watch };
  const baseline = o.baseline ?? baselineOf(lab.topology);
  const notes: string[] = [];
  const setup = event.setup;
  if (setup) notes.push(...syncNotes(await lab.update((t) => setup(t, service))));
  await flushConntrack(lab);
  const agent = await lab.agent(client);
  const target = flowTarget(lab, service);
  const flows = await openFlows(agent, target, {
    udpSourcePort: o.udpSourcePort ?? FIXED_PORTS.udp,
    pin: event.pin,
    watch,
  });
  try {
    const serving = flows.stream.backend;
    const eps = endpointPods(lab.topology, service);
    const ctx = {
      lab,
      service,
      serving,
      otherReady: eps.ready.find((p) => p !== serving),
      notReady: eps.notReady[0],
    };
    const messagesAtUpdate = (await agent.flowStatus(flows.stream.flowId)).messages;
    const t0 = performance.now();
    const results = await event.apply(ctx);
    const updatedAt = performance.now();
    notes.push(...syncNotes(results));
    const [stream, conn, udp, newConnection] = await Promise.all([
      watchStream(agent, flows.stream, { messagesAtUpdate, updatedAt, watch }),
      exchangeConn(agent, flows.conn, { updatedAt, watch }),
      exchangeUdp(agent, flows.udp, { updatedAt, watch }),
      firstNewConnection(agent, target, { startedAt: updatedAt, watch }),
    ]);
    // Read after the verdicts, so the probes are not delayed (the real servers do not move with
    // them): an IPVS cell says what its UDP virtual server held once the update had synced.
    if (lab.dataplaneMode === 'ipvs')
      notes.push(
        await ipvsUdpRealServersNote(
          lab,
          nodeOf(lab.topology, client),
          target.host,
          target.udpPort,
        ),
      );
    return {
      event: event.id,
      title: event.title,
      serving,
      pinned: flows.pinned,
      updateMs: Math.round(updatedAt - t0),
      flows: { stream, conn, udp },
      newConnection,
      notes: [...new Set(notes)],
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    await closeFlows(agent, flows);
    if (!event.destructive) await restoreBaseline(lab, baseline);
  }
}
