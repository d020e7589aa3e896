import { splitHostPort } from './addr.js';
import { failedAttempt, round } from './attempt.js';
import { DeadlineError } from './failure.js';
import { Flow } from './flow.js';
import { HttpConnection, PeerClosedError } from './http-connection.js';
import type { ResponseHead } from './http-wire.js';
import type { Attempt, FlowOpened, StreamOpenRequest } from './protocol.js';
import { STREAM_DEFAULTS } from './protocol.js';

/** A heartbeat line is a few dozen bytes; anything longer is not one of ours. */
const MAX_LINE_BYTES = 4096;

/** Parses `<seq> <hostname> <clientip:port>`. */
export function parseHeartbeat(
  line: string,
): { seq: number; backend: string; sourceIP: string; sourcePort: number } | undefined {
  const parts = line.trim().split(' ');
  if (parts.length !== 3) return undefined;
  const [seqText, backend, peerText] = parts as [string, string, string];
  const peer = splitHostPort(peerText);
  if (!/^\d+$/.test(seqText) || backend === '' || !peer) return undefined;
  return { seq: Number(seqText), backend, sourceIP: peer.ip, sourcePort: peer.port };
}

/**
 * A long-lived HTTP /stream whose every heartbeat names the backend: the flow that shows
 * whether an established connection survives an endpoint change or a proxy resync, and how it
 * ends when it does not (RST, FIN, or silence).
 */
export class StreamFlow extends Flow {
  readonly kind = 'stream';
  private conn: HttpConnection | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private partial = '';
  private skipping = false;
  private onFirst: ((a: Attempt) => void) | undefined;
  private start = 0;

  static async open(id: string, req: StreamOpenRequest) {
    const flow = new StreamFlow(id);
    return { flow, opened: await flow.run(req) };
  }

  private run(req: StreamOpenRequest): Promise<FlowOpened> {
    const intervalMs = req.intervalMs ?? STREAM_DEFAULTS.intervalMs;
    const timeoutMs = req.timeoutMs ?? STREAM_DEFAULTS.timeoutMs;
    const idleTimeoutMs = req.idleTimeoutMs ?? Math.max(timeoutMs, 20 * intervalMs);
    this.start = performance.now();
    return new Promise<FlowOpened>((resolve) => {
      const firstTimer = setTimeout(
        () => this.fail(new DeadlineError(`no heartbeat within ${timeoutMs}ms`)),
        timeoutMs,
      );
      this.onFirst = (first) => {
        clearTimeout(firstTimer);
        this.onFirst = undefined;
        if (first.ok) this.armIdle(idleTimeoutMs);
        resolve(this.opened(first));
      };
      HttpConnection.connect({ host: req.host, port: req.port, timeoutMs })
        .then((conn) => {
          this.conn = conn;
          this.localPort = conn.localPort;
          if (this.closed) {
            conn.destroy();
            return;
          }
          conn.onClose((c) => {
            this.markClosed(c.reason, c.detail, c.failure);
            this.disarm();
          });
          conn.stream(`/stream?intervalMs=${intervalMs}`, {
            onHead: (head) => this.onHead(head),
            onData: (chunk) => this.onData(chunk),
            onEnd: () => {
              this.markClosed('eof', 'the server ended the stream');
              this.release();
            },
            onFail: (err) => this.fail(err),
          });
        })
        .catch((err: unknown) => this.fail(err));
    });
  }

  private base(): { latencyMs: number; startedAtMs: number; localPort: number } {
    return {
      latencyMs: round(performance.now() - this.start),
      startedAtMs: 0,
      localPort: this.localPort,
    };
  }

  /** Before the first heartbeat: answer stream-open with the failure. Always: close the flow. */
  private fail(err: unknown): void {
    const attempt = failedAttempt(err, this.base());
    if (err instanceof PeerClosedError) {
      this.markClosed('eof', err.message);
    } else {
      const reason =
        attempt.failure === 'timeout' ? 'timeout' : attempt.failure === 'reset' ? 'reset' : 'error';
      this.markClosed(reason, attempt.detail ?? '', attempt.failure);
    }
    this.onFirst?.(attempt);
    this.release();
  }

  private onHead(head: ResponseHead): void {
    if (head.status !== 200) this.fail(new Error(`GET /stream answered HTTP ${head.status}`));
  }

  private onData(chunk: Buffer): void {
    const text = this.partial + chunk.toString('utf8');
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    if (this.partial.length > MAX_LINE_BYTES) {
      this.partial = '';
      this.skipping = true;
    }
    for (const line of lines) {
      if (this.skipping) {
        this.skipping = false;
        continue;
      }
      const beat = parseHeartbeat(line);
      if (!beat) continue;
      this.recordMessage(beat.backend);
      this.idleTimer?.refresh();
      this.onFirst?.({
        ok: true,
        backend: beat.backend,
        sourceIP: beat.sourceIP,
        sourcePort: beat.sourcePort,
        ...this.base(),
      });
    }
  }

  private armIdle(idleTimeoutMs: number): void {
    if (this.closed) return;
    this.idleTimer = setTimeout(() => {
      this.markClosed('timeout', `no heartbeat for ${idleTimeoutMs}ms`, 'timeout');
      this.release();
    }, idleTimeoutMs);
  }

  private disarm(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  async send(_timeoutMs: number): Promise<Attempt> {
    return {
      ok: false,
      failure: 'error',
      detail: 'a stream flow only listens; read it with flow-status',
      latencyMs: 0,
      startedAtMs: round(performance.now() - this.openedAt),
      localPort: this.localPort,
    };
  }

  protected release(): void {
    this.disarm();
    this.conn?.destroy();
  }
}
