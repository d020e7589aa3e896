/**
 * The root side of the agent control channel: a typed client over the agent's Unix socket,
 * a readiness wait, and the attempt summary. Every call has a deadline, and every error names
 * the agent, the operation and the socket, so a stuck namespace is obvious in a test report.
 */
import net from 'node:net';
import { basename } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  FLOW_DEFAULT_TIMEOUT_MS,
  MAX_CONTROL_LINE_BYTES,
  PROBE_DEFAULTS,
  STREAM_DEFAULTS,
  type AgentInfo,
  type AgentOp,
  type AgentResponse,
  type AgentResults,
  type Attempt,
  type ConnOpenRequest,
  type FlowOpened,
  type FlowStatus,
  type HealthCheckSyncRequest,
  type HealthCheckSyncResult,
  type HttpGetRequest,
  type HttpGetResult,
  type ProbeRequest,
  type ProbeResult,
  type ReadFileResult,
  type StreamOpenRequest,
  type UdpOpenRequest,
} from './protocol.js';

export { summarizeAttempts, type AttemptSummary } from './summary.js';

export interface AgentClientOptions {
  /** Agent name used in errors. Default: the socket file name without `.sock`. */
  name?: string;
  /** Deadline for connecting. Default 5000 ms. */
  timeoutMs?: number;
  /** Deadline for requests that have no better estimate (info, drain, read-file...). Default 10 s. */
  requestTimeoutMs?: number;
}

export interface CallOptions {
  /** Client-side deadline for this call; by default derived from the request (see each method). */
  timeoutMs?: number;
}

/** Everything that goes wrong talking to an agent; `cause` holds the underlying error. */
export class AgentError extends Error {
  override readonly name = 'AgentError';
  constructor(
    message: string,
    readonly agent: string,
    readonly socketPath: string,
    readonly op?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Responses can be large (a probe of 100k attempts); still, never unbounded. */
const MAX_RESPONSE_LINE_BYTES = 256 * 1024 * 1024;
/** Slack on top of the work a request asks the agent to do. */
const DEADLINE_SLACK_MS = 5000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  return Number.isInteger(s) ? `${s}s` : `${s.toFixed(1)}s`;
}

function nameFromSocket(socketPath: string): string {
  return basename(socketPath).replace(/\.sock$/, '');
}

/** The work a probe asks for: rounds of attempts, each up to its deadline plus the pause. */
export function probeDeadlineMs(req: Omit<ProbeRequest, 'op'>): number {
  const count = req.count ?? PROBE_DEFAULTS.count;
  const concurrency =
    req.sourcePort !== undefined ? 1 : (req.concurrency ?? PROBE_DEFAULTS.concurrency);
  const rounds = Math.ceil(count / Math.max(1, Math.min(concurrency, count)));
  const perAttempt =
    (req.timeoutMs ?? PROBE_DEFAULTS.timeoutMs) + (req.intervalMs ?? PROBE_DEFAULTS.intervalMs);
  return Math.max(DEFAULT_REQUEST_TIMEOUT_MS, rounds * perAttempt + DEADLINE_SLACK_MS);
}

interface Pending {
  op: string;
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class AgentClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private parts: Buffer[] = [];
  private size = 0;
  private closedError: AgentError | undefined;

  private constructor(
    private readonly socket: net.Socket,
    readonly name: string,
    readonly socketPath: string,
    private readonly requestTimeoutMs: number,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(`control connection failed: ${err.message}`, err));
    socket.on('close', () => this.fail('closed the control connection'));
    // An idle client must not keep the process alive; a waiting one must.
    socket.unref();
  }

  /** Connects to the agent's control socket. */
  static connect(socketPath: string, opts: AgentClientOptions = {}): Promise<AgentClient> {
    const name = opts.name ?? nameFromSocket(socketPath);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const socket = net.connect(socketPath);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new AgentError(
            `cannot connect to agent "${name}" within ${formatDuration(timeoutMs)} (socket ${socketPath})`,
            name,
            socketPath,
          ),
        );
      }, timeoutMs);
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          new AgentError(
            `cannot connect to agent "${name}" (socket ${socketPath}): ${err.code ?? err.message}`,
            name,
            socketPath,
            undefined,
            { cause: err },
          ),
        );
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(
          new AgentClient(
            socket,
            name,
            socketPath,
            opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
          ),
        );
      });
    });
  }

  private error(what: string, op?: string, cause?: unknown): AgentError {
    const during = op ? ` while "${op}" was in flight` : '';
    return new AgentError(
      `agent "${this.name}" ${what}${during} (socket ${this.socketPath})`,
      this.name,
      this.socketPath,
      op,
      {
        cause,
      },
    );
  }

  private onData(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const line = Buffer.concat([...this.parts, chunk.subarray(start, nl)]).toString('utf8');
      this.parts = [];
      this.size = 0;
      start = nl + 1;
      this.onLine(line);
    }
    if (start < chunk.length) {
      this.size += chunk.length - start;
      this.parts.push(chunk.subarray(start));
      if (this.size > MAX_RESPONSE_LINE_BYTES) {
        this.fail(`sent a response line over ${MAX_RESPONSE_LINE_BYTES} bytes`);
        this.socket.destroy();
      }
    }
  }

  private onLine(line: string): void {
    let res: AgentResponse;
    try {
      res = JSON.parse(line) as AgentResponse;
    } catch {
      return; // not ours to answer; the matching request (if any) meets its deadline
    }
    const p = this.pending.get(res.id);
    if (!p) return; // id -1 (a line the agent could not attribute) or an answer after our deadline
    this.settle(res.id);
    if (res.ok) p.resolve(res.result);
    else
      p.reject(
        new AgentError(
          `agent "${this.name}" rejected "${p.op}": ${res.error}`,
          this.name,
          this.socketPath,
          p.op,
        ),
      );
  }

  private settle(id: number): void {
    const p = this.pending.get(id);
    if (p) clearTimeout(p.timer);
    this.pending.delete(id);
    if (this.pending.size === 0) this.socket.unref();
  }

  /** The connection is gone: every request in flight fails with `what`, and so will new ones. */
  private fail(what: string, cause?: unknown): void {
    this.closedError ??= this.error(what, undefined, cause);
    for (const [id, p] of [...this.pending]) {
      this.settle(id);
      p.reject(this.error(what, p.op, cause));
    }
  }

  /** Sends one request; the typed methods below are thin wrappers over this. */
  request<Op extends AgentOp>(
    op: Op,
    body: object,
    opts: CallOptions = {},
  ): Promise<AgentResults[Op]> {
    if (this.closedError) {
      return Promise.reject(
        new AgentError(
          `cannot send "${op}": ${this.closedError.message}`,
          this.name,
          this.socketPath,
          op,
          {
            cause: this.closedError,
          },
        ),
      );
    }
    const id = this.nextId++;
    const line = JSON.stringify({ ...body, op, id });
    if (Buffer.byteLength(line) > MAX_CONTROL_LINE_BYTES) {
      return Promise.reject(this.error(`request "${op}" is larger than the control line limit`));
    }
    const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
    return new Promise<AgentResults[Op]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settle(id);
        reject(
          new AgentError(
            `agent "${this.name}" did not answer "${op}" within ${formatDuration(timeoutMs)} (socket ${this.socketPath})`,
            this.name,
            this.socketPath,
            op,
          ),
        );
      }, timeoutMs);
      this.pending.set(id, { op, resolve: resolve as (v: unknown) => void, reject, timer });
      this.socket.ref();
      this.socket.write(`${line}\n`);
    });
  }

  /** Runs attempts from the agent's namespace. Default deadline: the probe's own worst case + 5 s. */
  probe(req: Omit<ProbeRequest, 'op'>, opts: CallOptions = {}): Promise<ProbeResult> {
    return this.request('probe', req, { timeoutMs: opts.timeoutMs ?? probeDeadlineMs(req) });
  }

  /** Opens an HTTP /stream; `first.ok` false means it failed to start (the flow exists, closed). */
  streamOpen(req: Omit<StreamOpenRequest, 'op'>, opts: CallOptions = {}): Promise<FlowOpened> {
    const work = req.timeoutMs ?? STREAM_DEFAULTS.timeoutMs;
    return this.request('stream-open', req, {
      timeoutMs: opts.timeoutMs ?? work + DEADLINE_SLACK_MS,
    });
  }

  /** Opens an idle keep-alive connection (first exchange: /hostname + /clientip). */
  connOpen(req: Omit<ConnOpenRequest, 'op'>, opts: CallOptions = {}): Promise<FlowOpened> {
    const work = req.timeoutMs ?? FLOW_DEFAULT_TIMEOUT_MS;
    return this.request('conn-open', req, {
      timeoutMs: opts.timeoutMs ?? work + DEADLINE_SLACK_MS,
    });
  }

  /** Opens a UDP socket with a fixed local port (first exchange: hostname + clientip). */
  udpOpen(req: Omit<UdpOpenRequest, 'op'>, opts: CallOptions = {}): Promise<FlowOpened> {
    const work = req.timeoutMs ?? FLOW_DEFAULT_TIMEOUT_MS;
    return this.request('udp-open', req, { timeoutMs: opts.timeoutMs ?? work + DEADLINE_SLACK_MS });
  }

  /** One exchange on a conn or udp flow; `timeoutMs` is the agent-side deadline. */
  flowSend(
    flowId: string,
    req: { timeoutMs?: number } = {},
    opts: CallOptions = {},
  ): Promise<Attempt> {
    const work = req.timeoutMs ?? FLOW_DEFAULT_TIMEOUT_MS;
    return this.request(
      'flow-send',
      { flowId, ...req },
      { timeoutMs: opts.timeoutMs ?? work + DEADLINE_SLACK_MS },
    );
  }

  flowStatus(flowId: string, opts: CallOptions = {}): Promise<FlowStatus> {
    return this.request('flow-status', { flowId }, opts);
  }

  /** Closes the flow and forgets it; returns its final status. */
  flowClose(flowId: string, opts: CallOptions = {}): Promise<FlowStatus> {
    return this.request('flow-close', { flowId }, opts);
  }

  /** Reads a file inside the agent's namespace (e.g. /proc/net/nf_conntrack), up to 16 MiB. */
  readFile(path: string, opts: CallOptions = {}): Promise<ReadFileResult> {
    return this.request('read-file', { path }, opts);
  }

  info(opts: CallOptions = {}): Promise<AgentInfo> {
    return this.request('info', {}, opts);
  }

  /** Marks the agent draining (/readyz 503), as after SIGTERM, without exiting. */
  drain(opts: CallOptions = {}): Promise<AgentInfo> {
    return this.request('drain', {}, opts);
  }

  /** Sets the readiness the lab's kubelet reads (as a passing or failing readiness probe). */
  setReady(ready: boolean, opts: CallOptions = {}): Promise<AgentInfo> {
    return this.request('set-ready', { ready }, opts);
  }

  /** One plain HTTP GET from the agent's namespace: status, headers and body, or the failure. */
  httpGet(req: Omit<HttpGetRequest, 'op'>, opts: CallOptions = {}): Promise<HttpGetResult> {
    const work = req.timeoutMs ?? FLOW_DEFAULT_TIMEOUT_MS;
    return this.request('http-get', req, { timeoutMs: opts.timeoutMs ?? work + DEADLINE_SLACK_MS });
  }

  /** A node's agent: the Services whose health check the node answers, with local endpoint counts. */
  healthCheckSync(
    req: Omit<HealthCheckSyncRequest, 'op'>,
    opts: CallOptions = {},
  ): Promise<HealthCheckSyncResult> {
    return this.request('health-check-sync', req, opts);
  }

  /** Closes the control connection; requests still in flight are rejected. */
  async close(): Promise<void> {
    this.fail('control connection closed by the client');
    if (this.socket.destroyed) return;
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
      this.socket.destroySoon();
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

export interface WaitForAgentOptions {
  /** Give up after this long. Default 30 s (ignored when `deadline` is set). */
  timeoutMs?: number;
  /** Give up at this Date.now() value. */
  deadline?: number;
  /** The agent's process: stop waiting as soon as it has exited. */
  pid?: number;
  name?: string;
}

function processExited(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Waits until the agent answers `info` on its control socket (which it opens only after every
 * listener is up), polling with a short backoff. `deadline` is a Date.now() value or options.
 */
export async function waitForAgentReady(
  socketPath: string,
  deadline: number | WaitForAgentOptions = {},
): Promise<AgentInfo> {
  const o: WaitForAgentOptions = typeof deadline === 'number' ? { deadline } : deadline;
  const started = Date.now();
  const end = o.deadline ?? started + (o.timeoutMs ?? 30_000);
  const name = o.name ?? nameFromSocket(socketPath);
  let last: unknown;
  let backoffMs = 5;
  for (;;) {
    if (o.pid !== undefined && processExited(o.pid)) {
      throw new AgentError(
        `agent "${name}" (pid ${o.pid}) exited before it was ready (socket ${socketPath})`,
        name,
        socketPath,
        undefined,
        { cause: last },
      );
    }
    const left = end - Date.now();
    if (left <= 0) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new AgentError(
        `agent "${name}" was not ready within ${formatDuration(end - started)} (socket ${socketPath})${why}`,
        name,
        socketPath,
        undefined,
        { cause: last },
      );
    }
    try {
      const client = await AgentClient.connect(socketPath, { name, timeoutMs: left });
      try {
        return await client.info({ timeoutMs: Math.max(1, end - Date.now()) });
      } finally {
        await client.close();
      }
    } catch (err) {
      last = err;
    }
    await delay(Math.max(0, Math.min(backoffMs, end - Date.now())));
    backoffMs = Math.min(backoffMs * 2, 100);
  }
}
