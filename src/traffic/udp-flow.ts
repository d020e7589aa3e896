import { failedAttempt, observation, round } from './attempt.js';
import { Flow } from './flow.js';
import type { Attempt, FlowOpened } from './protocol.js';
import { UdpConnection } from './udp-connection.js';

/**
 * A UDP "connection": one socket, one local port, reused for every exchange, so every datagram
 * hits the same conntrack entry. This is how a stale UDP conntrack entry after an endpoint
 * change shows up (answers stop, or keep coming from a gone backend), the reason kube-proxy
 * deletes UDP conntrack entries of changed Services.
 */
export class UdpFlow extends Flow {
  readonly kind = 'udp';
  private sock: UdpConnection | undefined;

  /** Rejects when the socket cannot be bound (e.g. the fixed source port is in use). */
  static async open(
    id: string,
    opts: { host: string; port: number; sourcePort?: number | undefined; timeoutMs: number },
  ) {
    const flow = new UdpFlow(id);
    const sock = await UdpConnection.open({
      host: opts.host,
      port: opts.port,
      localPort: opts.sourcePort,
    });
    flow.sock = sock;
    flow.localPort = sock.localPort;
    return { flow, opened: await flow.first(opts.timeoutMs) };
  }

  private async first(timeoutMs: number): Promise<FlowOpened> {
    const sock = this.sock as UdpConnection;
    const start = performance.now();
    const deadline = start + timeoutMs;
    const left = () => Math.max(1, Math.ceil(deadline - performance.now()));
    try {
      const hostname = await sock.exchange('hostname', left());
      const clientIP = await sock.exchange('clientip', left());
      const first = observation(hostname, clientIP, {
        latencyMs: round(performance.now() - start),
        startedAtMs: 0,
        localPort: this.localPort,
      });
      if (first.backend !== undefined) this.recordMessage(first.backend);
      return this.opened(first);
    } catch (err) {
      // The socket stays open: a UDP flow may well get answers later (a server that cycles).
      const base = {
        latencyMs: round(performance.now() - start),
        startedAtMs: 0,
        localPort: this.localPort,
      };
      return this.opened(failedAttempt(err, base));
    }
  }

  async send(timeoutMs: number): Promise<Attempt> {
    const start = performance.now();
    const base = () => ({
      latencyMs: round(performance.now() - start),
      startedAtMs: round(start - this.openedAt),
      localPort: this.localPort,
    });
    if (!this.sock || this.closed) {
      return { ok: false, failure: 'error', detail: 'UDP flow is closed', ...base() };
    }
    try {
      const hostname = await this.sock.exchange('hostname', timeoutMs);
      const attempt = observation(hostname, undefined, base());
      if (attempt.backend !== undefined) this.recordMessage(attempt.backend);
      return attempt;
    } catch (err) {
      return failedAttempt(err, base());
    }
  }

  protected async release(): Promise<void> {
    await this.sock?.close();
  }
}
