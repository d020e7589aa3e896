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
  /** Deadline for the connection and the first heartbeat. Default 2000 ms. */
  timeoutMs?: number;
  /**
   * svclab extension: the flow is closed as `timeout` when no heartbeat arrives for this long.
   * Default max(timeoutMs, 20 x intervalMs). `sinceLastMessageMs` shows shorter stalls.
   */
  idleTimeoutMs?: number;
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
  /** svclab extension: deadline for the first exchange. Default 2000 ms. */
  timeoutMs?: number;
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
  closed?:
    | {
        failure?: FailureKind | undefined;
        detail?: string | undefined;
        /** Milliseconds since the flow was opened. */
        atMs: number;
        /**
         * svclab extension. `eof`: the server closed it (FIN, or the end of a chunked stream);
         * `reset`: RST; `timeout`: no message within the idle deadline; `client`: flow-close;
         * `error`: anything else (see detail).
         */
        reason?: FlowCloseReason | undefined;
      }
    | undefined;
}

export type FlowCloseReason = 'eof' | 'reset' | 'timeout' | 'client' | 'error';

export interface ReadFileRequest {
  op: 'read-file';
  /** Read as seen from inside the namespace, e.g. /proc/net/nf_conntrack. */
  path: string;
}

export interface ReadFileResult {
  path: string;
  /** UTF-8 text of the file, at most MAX_READ_FILE_BYTES. */
  content: string;
  /** Bytes read. */
  bytes: number;
  /** The file was longer than MAX_READ_FILE_BYTES; content holds the first part. */
  truncated: boolean;
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
  /**
   * svclab extension: the readiness the lab's kubelet reports in the Pod's Ready condition (false
   * from `--not-ready` or a `set-ready` request, and while draining).
   */
  ready?: boolean | undefined;
  /** svclab extension: the lab the agent belongs to (`--lab`). */
  lab?: string | undefined;
  /** svclab extension: flows currently held (open or closed, not yet flow-closed). */
  flows?: number | undefined;
}

/** Simulates SIGTERM handling: `/readyz` answers 503 while draining. */
export interface DrainRequest {
  op: 'drain';
}

/**
 * svclab extension: flips the readiness the lab's kubelet reads (a failing or passing readiness
 * probe, without touching the listeners: a not-ready pod keeps serving, as in Kubernetes).
 */
export interface SetReadyRequest {
  op: 'set-ready';
  ready: boolean;
}

/**
 * svclab extension, for a node's agent: the Services whose health check the node answers (kube-
 * proxy's service health server, see service-health.ts), sent by the node's proxy after a sync.
 */
export interface HealthCheckService {
  namespace: string;
  name: string;
  /** spec.healthCheckNodePort */
  port: number;
  /** Ready endpoints of the Service on this node, counted by IP over all its ports. */
  localEndpoints: number;
}

export interface HealthCheckSyncRequest {
  op: 'health-check-sync';
  services: HealthCheckService[];
  /** What kube-proxy's healthz says; the health check answers 503 when false. */
  serviceProxyHealthy: boolean;
}

export interface HealthCheckSyncResult {
  listening: { service: string; port: number }[];
  /** Ports that could not be opened (kube-proxy's FailedToStartServiceHealthcheck event). */
  errors: string[];
}

/** svclab extension: one plain HTTP GET, answered with the status, headers and body. */
export interface HttpGetRequest {
  op: 'http-get';
  host: string;
  port: number;
  /** Default `/`. */
  path?: string;
  timeoutMs?: number;
}

export interface HttpGetResult {
  ok: boolean;
  status?: number | undefined;
  /** Header names in lower case. */
  headers?: Record<string, string> | undefined;
  /** At most 64 KiB. */
  body?: string | undefined;
  failure?: FailureKind | undefined;
  detail?: string | undefined;
}

export type AgentRequest = (
  | HealthCheckSyncRequest
  | HttpGetRequest
  | ProbeRequest
  | StreamOpenRequest
  | ConnOpenRequest
  | UdpOpenRequest
  | FlowRequest
  | ReadFileRequest
  | InfoRequest
  | DrainRequest
  | SetReadyRequest
) & { id?: number };

/**
 * Responses echo the request's `id`; a request without one is answered with id 0, and a line
 * that cannot be attributed to a request (malformed JSON, over MAX_CONTROL_LINE_BYTES) with id -1.
 */
export type AgentResponse = { id: number } & (
  { ok: true; result: unknown } | { ok: false; error: string }
);

/** Operation name -> result type, for typed clients. */
export interface AgentResults {
  probe: ProbeResult;
  'stream-open': FlowOpened;
  'conn-open': FlowOpened;
  'udp-open': FlowOpened;
  'flow-send': Attempt;
  'flow-status': FlowStatus;
  'flow-close': FlowStatus;
  'read-file': ReadFileResult;
  info: AgentInfo;
  drain: AgentInfo;
  'set-ready': AgentInfo;
  'health-check-sync': HealthCheckSyncResult;
  'http-get': HttpGetResult;
}

export type AgentOp = AgentRequest['op'];

/** A control line longer than this is answered with an error (id -1) and dropped. */
export const MAX_CONTROL_LINE_BYTES = 1024 * 1024;
/** read-file returns at most this many bytes. */
export const MAX_READ_FILE_BYTES = 16 * 1024 * 1024;

export const PROBE_DEFAULTS = { count: 1, concurrency: 1, timeoutMs: 2000, intervalMs: 0 } as const;
export const STREAM_DEFAULTS = { intervalMs: 100, timeoutMs: 2000 } as const;
export const FLOW_DEFAULT_TIMEOUT_MS = 2000;

/** Bounds that keep one request from exhausting the agent. */
export const LIMITS = {
  maxCount: 100_000,
  maxConcurrency: 1024,
  maxTimeoutMs: 600_000,
  maxIntervalMs: 600_000,
  minStreamIntervalMs: 10,
  maxHostLength: 255,
  maxPathLength: 4096,
  maxFlowIdLength: 64,
  maxHealthCheckServices: 100_000,
} as const;

export type ParsedLine =
  { ok: true; id: number; request: AgentRequest } | { ok: false; id: number; error: string };

const OPS: ReadonlySet<string> = new Set<AgentOp>([
  'probe',
  'stream-open',
  'conn-open',
  'udp-open',
  'flow-send',
  'flow-status',
  'flow-close',
  'read-file',
  'info',
  'drain',
  'set-ready',
  'health-check-sync',
  'http-get',
]);

class FieldError extends Error {}

type Obj = Record<string, unknown>;

function optInt(o: Obj, key: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new FieldError(
      `"${key}" must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function reqInt(o: Obj, key: string, min: number, max: number): number {
  const v = optInt(o, key, min, max);
  if (v === undefined) throw new FieldError(`"${key}" is required`);
  return v;
}

function reqString(o: Obj, key: string, maxLength: number): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0)
    throw new FieldError(`"${key}" must be a non-empty string`);
  if (v.length > maxLength) throw new FieldError(`"${key}" is longer than ${maxLength} characters`);
  return v;
}

function target(o: Obj): { host: string; port: number } {
  return { host: reqString(o, 'host', LIMITS.maxHostLength), port: reqInt(o, 'port', 1, 65535) };
}

/** Copies only the keys that are set, so optional fields stay absent rather than `undefined`. */
function defined<T extends Obj>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

function validate(o: Obj, op: AgentOp): AgentRequest {
  const timeoutMs = optInt(o, 'timeoutMs', 1, LIMITS.maxTimeoutMs);
  switch (op) {
    case 'probe': {
      const protocol = o['protocol'];
      if (protocol !== 'tcp' && protocol !== 'udp') {
        throw new FieldError(`"protocol" must be "tcp" or "udp", got ${JSON.stringify(protocol)}`);
      }
      return defined({
        op,
        ...target(o),
        protocol: protocol as L4,
        count: optInt(o, 'count', 1, LIMITS.maxCount),
        concurrency: optInt(o, 'concurrency', 1, LIMITS.maxConcurrency),
        timeoutMs,
        sourcePort: optInt(o, 'sourcePort', 1, 65535),
        intervalMs: optInt(o, 'intervalMs', 0, LIMITS.maxIntervalMs),
      });
    }
    case 'stream-open':
      return defined({
        op,
        ...target(o),
        intervalMs: optInt(o, 'intervalMs', LIMITS.minStreamIntervalMs, LIMITS.maxIntervalMs),
        timeoutMs,
        idleTimeoutMs: optInt(o, 'idleTimeoutMs', 1, LIMITS.maxTimeoutMs),
      });
    case 'conn-open':
      return defined({ op, ...target(o), timeoutMs });
    case 'udp-open':
      return defined({
        op,
        ...target(o),
        sourcePort: optInt(o, 'sourcePort', 1, 65535),
        timeoutMs,
      });
    case 'flow-send':
    case 'flow-status':
    case 'flow-close':
      return defined({ op, flowId: reqString(o, 'flowId', LIMITS.maxFlowIdLength), timeoutMs });
    case 'read-file':
      return { op, path: reqString(o, 'path', LIMITS.maxPathLength) };
    case 'info':
    case 'drain':
      return { op };
    case 'http-get': {
      const path = o['path'] === undefined ? undefined : reqString(o, 'path', LIMITS.maxPathLength);
      if (path !== undefined && !path.startsWith('/'))
        throw new FieldError(`"path" must start with "/", got ${JSON.stringify(path)}`);
      return defined({ op, ...target(o), path, timeoutMs });
    }
    case 'health-check-sync': {
      const services = o['services'];
      if (!Array.isArray(services) || services.length > LIMITS.maxHealthCheckServices)
        throw new FieldError(
          `"services" must be an array of at most ${LIMITS.maxHealthCheckServices} Services`,
        );
      const healthy = o['serviceProxyHealthy'];
      if (typeof healthy !== 'boolean')
        throw new FieldError(
          `"serviceProxyHealthy" must be true or false, got ${JSON.stringify(healthy)}`,
        );
      return {
        op,
        serviceProxyHealthy: healthy,
        services: services.map((x: unknown, i) => {
          if (typeof x !== 'object' || x === null)
            throw new FieldError(`"services[${i}]" must be an object`);
          const e = x as Obj;
          return {
            namespace: reqString(e, 'namespace', LIMITS.maxHostLength),
            name: reqString(e, 'name', LIMITS.maxHostLength),
            port: reqInt(e, 'port', 1, 65535),
            localEndpoints: reqInt(e, 'localEndpoints', 0, Number.MAX_SAFE_INTEGER),
          };
        }),
      };
    }
    case 'set-ready': {
      const ready = o['ready'];
      if (typeof ready !== 'boolean')
        throw new FieldError(`"ready" must be true or false, got ${JSON.stringify(ready)}`);
      return { op, ready };
    }
  }
}

/**
 * Parses and validates one control line. Never throws: every problem becomes an error the agent
 * sends back, so a confused or hostile peer cannot take the agent down. Unknown fields are
 * ignored (newer clients may send more).
 */
export function parseControlLine(line: string): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    return { ok: false, id: -1, error: `malformed JSON: ${(err as Error).message}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, id: -1, error: 'a request must be a JSON object' };
  }
  const o = value as Obj;
  const rawId = o['id'];
  let id = 0;
  if (rawId !== undefined) {
    if (typeof rawId !== 'number' || !Number.isSafeInteger(rawId) || rawId < 0) {
      return {
        ok: false,
        id: -1,
        error: `"id" must be a non-negative integer, got ${JSON.stringify(rawId)}`,
      };
    }
    id = rawId;
  }
  const op = o['op'];
  if (typeof op !== 'string' || !OPS.has(op)) {
    const shown = typeof op === 'string' ? op.slice(0, 64) : String(op);
    return {
      ok: false,
      id,
      error: `unknown op ${JSON.stringify(shown)} (known: ${[...OPS].join(', ')})`,
    };
  }
  try {
    const request = validate(o, op as AgentOp);
    return { ok: true, id, request: { ...request, id } };
  } catch (err) {
    if (err instanceof FieldError) return { ok: false, id, error: `${op}: ${err.message}` };
    throw err;
  }
}
