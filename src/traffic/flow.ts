import { round } from './attempt.js';
import type { Attempt, FailureKind, FlowCloseReason, FlowOpened, FlowStatus } from './protocol.js';

/** What every long-lived flow records: backends seen, messages, and how it ended. */
export abstract class Flow {
  abstract readonly kind: FlowStatus['kind'];
  readonly openedAt = performance.now();
  localPort = 0;
  private readonly backends: string[] = [];
  private messages = 0;
  private lastBackend: string | undefined;
  private lastMessageAt: number | undefined;
  closed: FlowStatus['closed'];

  constructor(readonly id: string) {}

  /** Sends one request over the flow and reports the exchange. */
  abstract send(timeoutMs: number): Promise<Attempt>;
  /** Releases the socket. */
  protected abstract release(): Promise<void> | void;

  protected recordMessage(backend: string): void {
    this.messages++;
    this.lastMessageAt = performance.now();
    this.lastBackend = backend;
    if (!this.backends.includes(backend)) this.backends.push(backend);
  }

  protected markClosed(reason: FlowCloseReason, detail: string, failure?: FailureKind): void {
    if (this.closed) return;
    this.closed = { reason, failure, detail, atMs: round(performance.now() - this.openedAt) };
  }

  get isOpen(): boolean {
    return this.closed === undefined;
  }

  opened(first: Attempt): FlowOpened {
    return { flowId: this.id, localPort: this.localPort, first };
  }

  status(): FlowStatus {
    return {
      flowId: this.id,
      kind: this.kind,
      open: this.isOpen,
      backends: [...this.backends],
      messages: this.messages,
      lastBackend: this.lastBackend,
      sinceLastMessageMs: round(performance.now() - (this.lastMessageAt ?? this.openedAt)),
      closed: this.closed ? { ...this.closed } : undefined,
    };
  }

  async close(): Promise<FlowStatus> {
    this.markClosed('client', 'closed by flow-close');
    await this.release();
    return this.status();
  }
}
