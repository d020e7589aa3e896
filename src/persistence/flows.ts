import { setTimeout as delay } from 'node:timers/promises';
import { LabError } from '../exec/index.js';
import type { AgentClient } from '../traffic/agent-client.js';
import type { Attempt, FlowOpened } from '../traffic/protocol.js';
import {
  judgeExchange,
  judgeStream,
  judgeUdp,
  summarizeNewConnections,
  type FlowKind,
  type FlowResult,
  type NewConnectionResult,
} from './outcome.js';

/** Bounds of one observation. Nothing waits longer than a bound; nothing sleeps and hopes. */
export interface WatchOptions {
  /** No answer for this long after the update: stalled. */
  stallMs: number;
  /**
   * A stream is alive when heartbeats still arrive this long after the update (the last within
   * 10 heartbeat intervals): long enough for a connection whose ACKs are being dropped to fill
   * the server's congestion window and fall silent.
   */
  aliveMs: number;
  /** Heartbeat interval asked of the stream's server. */
  heartbeatMs: number;
  /** Datagrams sent on a UDP flow after the update before calling it stalled (each waits stallMs / udpTries). */
  udpTries: number;
  /**
   * Deadline for opening a flow and for each new-connection attempt. Generous on purpose: it only
   * bounds setup and retries, and on a loaded 2-core machine an agent can be descheduled for a
   * second (1 s was seen to fail the first open of a run); outcomes are judged by stallMs.
   */
  connectTimeoutMs: number;
}

export const DEFAULT_WATCH: WatchOptions = {
  stallMs: 2000,
  aliveMs: 1500,
  heartbeatMs: 50,
  udpTries: 3,
  connectTimeoutMs: 3000,
};

/**
 * Fixed client source ports live below the ephemeral range (32768-60999 by default): a port the
 * client's own connections picked at random, now in TIME_WAIT, would make bind() fail.
 */
export const FIXED_PORTS = { udp: 20000, tcp: 26000 } as const;

/** Fixed ports for the i-th case of a run: 20 apart (pinning may use up to 16 UDP ports). */
export function fixedPorts(i: number): { udpSourcePort: number; tcpSourcePort: number } {
  return { udpSourcePort: FIXED_PORTS.udp + i * 20, tcpSourcePort: FIXED_PORTS.tcp + i * 20 };
}

/** Where the flows go: a Service's TCP and UDP ports, at one address. */
export interface FlowTarget {
  host: string;
  tcpPort: number;
  udpPort: number;
}

export interface OpenedFlow {
  kind: FlowKind;
  flowId: string;
  backend: string;
  localPort: number;
}

export interface OpenedFlows {
  stream: OpenedFlow;
  conn: OpenedFlow;
  udp: OpenedFlow;
  /** All three share one backend (the "serving endpoint" the event acts on). */
  pinned: boolean;
}

/** Attempts to land a flow on the stream's backend; 16 misses at 1/2 each: 1 in 65,536. */
const PIN_TRIES = 16;

function backendOf(kind: FlowKind, o: FlowOpened): string {
  if (!o.first.ok || o.first.backend === undefined) {
    throw new LabError(
      `failed to open the ${kind} flow: ${o.first.failure ?? 'no answer'} ${o.first.detail ?? ''}`.trim(),
    );
  }
  return o.first.backend;
}

/**
 * Opens the three long-lived flows from `agent`: a heartbeat stream, an idle keep-alive
 * connection and a UDP flow from a fixed source port. With `pin`, the connection and the UDP flow
 * are re-opened (the misses closed) until they reach the stream's backend, so one endpoint change
 * concerns all three; without affinity every open is a fresh load-balancing decision.
 */
export async function openFlows(
  agent: AgentClient,
  target: FlowTarget,
  o: { udpSourcePort: number; pin: boolean; watch: WatchOptions },
): Promise<OpenedFlows> {
  const w = o.watch;
  // The agent's own idle deadline stays far beyond the stall bound: the watcher decides stalls.
  const s = await agent.streamOpen({
    host: target.host,
    port: target.tcpPort,
    intervalMs: w.heartbeatMs,
    timeoutMs: w.connectTimeoutMs * 2,
    idleTimeoutMs: 120_000,
  });
  const stream: OpenedFlow = {
    kind: 'stream',
    flowId: s.flowId,
    backend: backendOf('stream', s),
    localPort: s.localPort,
  };
  let pinned = true;
  const land = async (
    kind: 'conn' | 'udp',
    open: (i: number) => Promise<FlowOpened>,
  ): Promise<OpenedFlow> => {
    let last: OpenedFlow | undefined;
    for (let i = 0; i < (o.pin ? PIN_TRIES : 1); i++) {
      if (last) await agent.flowClose(last.flowId).catch(() => undefined);
      const f = await open(i);
      last = { kind, flowId: f.flowId, backend: backendOf(kind, f), localPort: f.localPort };
      if (last.backend === stream.backend) return last;
    }
    pinned = false;
    return last!;
  };
  const conn = await land('conn', () =>
    agent.connOpen({ host: target.host, port: target.tcpPort, timeoutMs: w.connectTimeoutMs }),
  );
  const udp = await land('udp', (i) =>
    agent.udpOpen({
      host: target.host,
      port: target.udpPort,
      sourcePort: o.udpSourcePort + i,
      timeoutMs: w.connectTimeoutMs,
    }),
  );
  return { stream, conn, udp, pinned };
}

export async function closeFlows(agent: AgentClient, flows: OpenedFlows): Promise<void> {
  await Promise.all(
    [flows.stream, flows.conn, flows.udp].map((f) =>
      agent.flowClose(f.flowId).catch(() => undefined),
    ),
  );
}

const POLL_MS = 20;

/** Watches a heartbeat stream from the end of the update until a verdict (bounded by aliveMs + 2 x stallMs). */
export async function watchStream(
  agent: AgentClient,
  flow: OpenedFlow,
  o: { messagesAtUpdate: number; updatedAt: number; watch: WatchOptions },
): Promise<FlowResult> {
  const hardStop = o.updatedAt + o.watch.aliveMs + 2 * o.watch.stallMs;
  for (;;) {
    const st = await agent.flowStatus(flow.flowId);
    const sinceUpdateMs = performance.now() - o.updatedAt;
    const verdict = judgeStream(st, {
      before: flow.backend,
      messagesAtUpdate: o.messagesAtUpdate,
      sinceUpdateMs,
      aliveMs: o.watch.aliveMs,
      freshMs: 10 * o.watch.heartbeatMs,
      stallMs: o.watch.stallMs,
    });
    if (verdict) return { kind: 'stream', before: flow.backend, ...verdict };
    if (performance.now() > hardStop) {
      return {
        kind: 'stream',
        before: flow.backend,
        outcome: 'stalled',
        decidedAfterMs: Math.round(sinceUpdateMs),
        evidence: `only ${st.messages - o.messagesAtUpdate} heartbeat(s) in ${Math.round(sinceUpdateMs)} ms, gaps under the bound`,
      };
    }
    await delay(POLL_MS);
  }
}

/** Sends one request on the idle keep-alive connection. */
export async function exchangeConn(
  agent: AgentClient,
  flow: OpenedFlow,
  o: { updatedAt: number; watch: WatchOptions },
): Promise<FlowResult> {
  const attempt = await agent.flowSend(flow.flowId, { timeoutMs: o.watch.stallMs });
  const closed = attempt.ok ? undefined : (await agent.flowStatus(flow.flowId)).closed;
  return {
    kind: 'conn',
    before: flow.backend,
    ...judgeExchange(attempt, {
      before: flow.backend,
      decidedAfterMs: performance.now() - o.updatedAt,
      closed,
    }),
  };
}

/** Sends datagrams on the UDP flow until one is answered or `udpTries` went unanswered. */
export async function exchangeUdp(
  agent: AgentClient,
  flow: OpenedFlow,
  o: { updatedAt: number; watch: WatchOptions },
): Promise<FlowResult> {
  const attempts: Attempt[] = [];
  const each = Math.max(200, Math.floor(o.watch.stallMs / o.watch.udpTries));
  for (let i = 0; i < o.watch.udpTries; i++) {
    const a = await agent.flowSend(flow.flowId, { timeoutMs: each });
    attempts.push(a);
    if (a.ok) break;
  }
  return {
    kind: 'udp',
    before: flow.backend,
    ...judgeUdp(attempts, {
      before: flow.backend,
      decidedAfterMs: performance.now() - o.updatedAt,
    }),
  };
}

/**
 * New TCP connections, one after another, until one succeeds or 2 x stallMs have passed since
 * `startedAt` (the end of the update: every node synced), from which the time is counted.
 */
export async function firstNewConnection(
  agent: AgentClient,
  target: FlowTarget,
  o: { startedAt: number; watch: WatchOptions },
): Promise<NewConnectionResult> {
  const deadline = o.startedAt + 2 * o.watch.stallMs;
  const seen: { attempt: Attempt; endMs: number }[] = [];
  while (performance.now() < deadline) {
    const timeoutMs = Math.max(
      100,
      Math.min(o.watch.connectTimeoutMs, Math.ceil(deadline - performance.now())),
    );
    const r = await agent.probe({
      host: target.host,
      port: target.tcpPort,
      protocol: 'tcp',
      count: 1,
      timeoutMs,
    });
    const attempt = r.attempts[0];
    if (!attempt) break;
    seen.push({ attempt, endMs: performance.now() - o.startedAt });
    if (attempt.ok) break;
    // A refused connect returns at once: pace retries instead of spinning on the agent.
    await delay(POLL_MS);
  }
  return summarizeNewConnections(seen);
}
