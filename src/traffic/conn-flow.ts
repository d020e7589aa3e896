import { failedAttempt, get200, observation, round } from './attempt.js';
import { Flow } from './flow.js';
import { ConnectionClosedError, HttpConnection } from './http-connection.js';
import type { Attempt, FlowOpened } from './protocol.js';

/**
 * An idle keep-alive TCP connection that sends GET /hostname only when asked: the shape of a
 * client holding a pooled connection across an endpoint change or a proxy restart. Whether the
 * next request reaches the same backend, gets a RST, or hangs is what suites assert.
 */
export class ConnFlow extends Flow {
  readonly kind = 'conn';
  private conn: HttpConnection | undefined;

  static async open(id: string, host: string, port: number, timeoutMs: number) {
    const flow = new ConnFlow(id);
    return { flow, opened: await flow.start(host, port, timeoutMs) };
  }

  private async start(host: string, port: number, timeoutMs: number): Promise<FlowOpened> {
    const start = performance.now();
    const deadline = start + timeoutMs;
    const left = () => Math.max(1, Math.ceil(deadline - performance.now()));
    try {
      const conn = await HttpConnection.connect({ host, port, timeoutMs });
      this.conn = conn;
      this.localPort = conn.localPort;
      conn.onClose((c) => this.markClosed(c.reason, c.detail, c.failure));
      const hostname = await get200(conn, '/hostname', left());
      const clientIP = await get200(conn, '/clientip', left());
      const first = observation(hostname, clientIP, {
        latencyMs: round(performance.now() - start),
        startedAtMs: 0,
        localPort: conn.localPort,
      });
      if (first.backend !== undefined) this.recordMessage(first.backend);
      return this.opened(first);
    } catch (err) {
      const first = failedAttempt(err, {
        latencyMs: round(performance.now() - start),
        startedAtMs: 0,
        localPort: this.conn?.localPort,
      });
      this.markClosed(
        first.failure === 'reset' ? 'reset' : 'error',
        first.detail ?? '',
        first.failure,
      );
      this.conn?.destroy();
      return this.opened(first);
    }
  }

  async send(timeoutMs: number): Promise<Attempt> {
    const start = performance.now();
    const startedAtMs = round(start - this.openedAt);
    const base = () => ({
      latencyMs: round(performance.now() - start),
      startedAtMs,
      localPort: this.localPort,
    });
    if (!this.conn || this.closed) {
      const c = this.closed;
      return {
        ok: false,
        failure: c?.failure ?? 'error',
        detail: `connection already closed (${c?.reason ?? 'never opened'}: ${c?.detail ?? ''})`,
        ...base(),
      };
    }
    try {
      const body = await get200(this.conn, '/hostname', timeoutMs);
      const attempt = observation(body, undefined, base());
      if (attempt.backend !== undefined) this.recordMessage(attempt.backend);
      return attempt;
    } catch (err) {
      if (err instanceof ConnectionClosedError) {
        return {
          ok: false,
          failure: err.closed.failure ?? 'error',
          detail: err.message,
          ...base(),
        };
      }
      return failedAttempt(err, base());
    }
  }

  protected release(): void {
    this.conn?.destroy();
  }
}
