/**
 * The agent's control channel: JSON lines over a Unix socket in the lab's state folder.
 * Each request carries an `id`; each response echoes it. One agent process serves one network
 * namespace (pod, node or external host) and does both the server side (agnhost-netexec
 * compatible) and the client side (many attempts from one process, no spawn per request).
 */

export type L4 = 'tcp' | 'udp';

/** Why an attempt failed, in the words a dataplane engineer uses. */
export type FailureKind = 'refused' | 'timeout' | 'reset' | 'unreachable' | 'error';

/** One request or connection attempt and what came back. */
export interface Attempt {
  ok: boolean;
  /** Hostname of the backend that answered (agnhost `/hostname` / UDP `hostname`). */
  backend?: string | undefined;
  /** Source address the backend saw (agnhost `/clientip` / UDP `clientip`), without the port. */
  sourceIP?: string | undefined;
  sourcePort?: number | undefined;
  /** Local port the client used. */
  localPort?: number | undefined;
  latencyMs: number;
  failure?: FailureKind | undefined;
  /** errno or message behind the failure. */
  detail?: string | undefined;
  /** Milliseconds since the probe started when this attempt began. */
  startedAtMs: number;
}

export interface ProbeRequest {
  op: 'probe';
  /** IP address (or host) of the target. */
  host: string;
  port: number;
  protocol: L4;
  /** Number of attempts. Default 1. */
  count?: number;
  /** Attempts in flight at once. Default 1 (sequential). */
  concurrency?: number;
  /** Per-attempt deadline. Default 2000 ms. */
  timeoutMs?: number;
  /** Bind this local port (UDP flows with a fixed source port, upstream conntrack e2e style). */
  sourcePort?: number;
  /** Pause between sequential attempts. Default 0. */
  intervalMs?: number;
}

export interface ProbeResult {
  attempts: Attempt[];
}

/** Opens a long-lived stream: an HTTP `/stream` whose heartbeats name the backend. */
export interface StreamOpenRequest {
  op: 'stream-open';
  host: string;
  port: number;
  /** Heartbeat interval asked of the server. Default 100 ms. */
  intervalMs?: number;
  timeoutMs?: number;
}

/** An idle keep-alive TCP connection that sends a request only when asked. */
export interface ConnOpenRequest {
  op: 'conn-open';
  host: string;
  port: number;
  timeoutMs?: number;
}

/** A UDP "connection": one socket with a fixed local port, used for several exchanges. */
export interface UdpOpenRequest {
  op: 'udp-open';
  host: string;
  port: number;
  sourcePort?: number;
}

export interface FlowRequest {
  op: 'flow-send' | 'flow-status' | 'flow-close';
  flowId: string;
  timeoutMs?: number;
}

export interface FlowOpened {
  flowId: string;
  localPort: number;
  /** The first exchange's observation. */
  first: Attempt;
}

/** State of a long-lived flow, as seen from the client. */
export interface FlowStatus {
  flowId: string;
  kind: 'stream' | 'conn' | 'udp';
  open: boolean;
  /** Backends seen, in order of first appearance. */
  backends: string[];
  /** Heartbeats received (streams) or exchanges done (conn/udp). */
  messages: number;
  lastBackend?: string | undefined;
  /** Milliseconds since the last message arrived. */
  sinceLastMessageMs: number;
  /** How the flow ended, if it did. */
  closed?: { failure?: FailureKind | undefined; detail?: string | undefined; atMs: number } | undefined;
}

export interface ReadFileRequest {
  op: 'read-file';
  /** Read as seen from inside the namespace, e.g. /proc/net/nf_conntrack. */
  path: string;
}

export interface InfoRequest {
  op: 'info';
}

export interface AgentInfo {
  name: string;
  hostname: string;
  pid: number;
  /** Ports the server side listens on. */
  listening: { port: number; protocol: L4 }[];
  draining: boolean;
}

/** Simulates SIGTERM handling: `/readyz` answers 503 while draining. */
export interface DrainRequest {
  op: 'drain';
}

export type AgentRequest = (
  | ProbeRequest
  | StreamOpenRequest
  | ConnOpenRequest
  | UdpOpenRequest
  | FlowRequest
  | ReadFileRequest
  | InfoRequest
  | DrainRequest
) & { id?: number };

export type AgentResponse = { id: number } & ({ ok: true; result: unknown } | { ok: false; error: string });
