import net from 'node:net';
import { joinHostPort } from './addr.js';
import { DeadlineError, failureOf } from './failure.js';
import { formatGet, HttpParseError, ResponseParser, type ResponseHandlers } from './http-wire.js';
import type { FailureKind, FlowCloseReason } from './protocol.js';

/** The largest body a plain GET may return (our endpoints answer a few bytes). */
const MAX_BODY_BYTES = 1024 * 1024;

export interface ConnectionClosed {
  reason: FlowCloseReason;
  failure?: FailureKind | undefined;
  detail: string;
}

/** The peer closed the connection (FIN) while we waited for a response. */
export class PeerClosedError extends Error {
  readonly code = 'EOF';
}

/** Rejected when the connection is used after it closed, carrying how it closed. */
export class ConnectionClosedError extends Error {
  constructor(readonly closed: ConnectionClosed) {
    super(`connection already closed (${closed.reason}: ${closed.detail})`);
  }
}

interface Exchange {
  handlers: ResponseHandlers;
  fail(err: Error): void;
}

export interface ConnectOptions {
  host: string;
  port: number;
  /** Bind this local port (fixed source port). */
  localPort?: number | undefined;
  timeoutMs: number;
}

/**
 * One client TCP connection carrying HTTP/1.1 requests in order. Requests whose caller gave up
 * stay queued so their late responses are consumed, not misattributed to the next request.
 */
export class HttpConnection {
  private readonly queue: Exchange[] = [];
  private readonly parser = new ResponseParser(() => this.queue[0]?.handlers);
  private closedState: ConnectionClosed | undefined;
  private readonly closeListeners: ((c: ConnectionClosed) => void)[] = [];
  private readonly hostHeader: string;
  readonly localPort: number;

  private constructor(
    private readonly socket: net.Socket,
    host: string,
    port: number,
  ) {
    this.hostHeader = net.isIP(host) ? joinHostPort(host, port) : `${host}:${port}`;
    this.localPort = socket.localPort ?? 0;
    socket.on('data', (chunk: Buffer) => {
      try {
        this.parser.push(chunk);
      } catch (err) {
        this.terminate(err as Error, {
          reason: 'error',
          failure: 'error',
          detail: (err as Error).message,
        });
      }
    });
    socket.on('end', () => {
      let err = new PeerClosedError('connection closed by the server (FIN) before the response');
      try {
        if (this.parser.eof()) err = new PeerClosedError('connection closed by the server (FIN)');
      } catch {
        // A FIN in the middle of a body is still the server closing, not a protocol error.
        err = new PeerClosedError(
          'connection closed by the server (FIN) in the middle of a response',
        );
      }
      this.terminate(err, { reason: 'eof', detail: err.message });
    });
    socket.on('error', (err) => {
      const { failure, detail } = failureOf(err);
      this.terminate(err, { reason: failure === 'reset' ? 'reset' : 'error', failure, detail });
    });
    socket.on('close', () => {
      this.terminate(new Error('connection closed'), {
        reason: 'error',
        failure: 'error',
        detail: 'closed',
      });
    });
  }

  /** Resolves once the TCP handshake completed; rejects with the socket error or a deadline. */
  static connect(opts: ConnectOptions): Promise<HttpConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({
        host: opts.host,
        port: opts.port,
        localPort: opts.localPort,
        noDelay: true,
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new DeadlineError(`connect: no answer to SYN within ${opts.timeoutMs}ms`));
      }, opts.timeoutMs);
      const onError = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new HttpConnection(socket, opts.host, opts.port));
      });
    });
  }

  get closed(): ConnectionClosed | undefined {
    return this.closedState;
  }

  onClose(listener: (c: ConnectionClosed) => void): void {
    if (this.closedState) listener(this.closedState);
    else this.closeListeners.push(listener);
  }

  /** GET `path` and collect the body. `close` sends `Connection: close`. */
  get(path: string, timeoutMs: number, close = false): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      let status = 0;
      const parts: Buffer[] = [];
      let size = 0;
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn();
      };
      const timer = setTimeout(
        () =>
          settle(() =>
            reject(new DeadlineError(`no HTTP response to GET ${path} within ${timeoutMs}ms`)),
          ),
        timeoutMs,
      );
      this.send(path, close, {
        handlers: {
          onHead: (head) => {
            status = head.status;
          },
          onData: (chunk) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) {
              const err = new HttpParseError(`response body over ${MAX_BODY_BYTES} bytes`);
              this.terminate(err, { reason: 'error', failure: 'error', detail: err.message });
              return;
            }
            parts.push(chunk);
          },
          onEnd: () =>
            settle(() => resolve({ status, body: Buffer.concat(parts).toString('utf8') })),
        },
        fail: (err) => settle(() => reject(err)),
      });
    });
  }

  /** GET `path` and hand the body to `handlers` as it arrives (long-lived responses). */
  stream(path: string, handlers: ResponseHandlers & { onFail(err: Error): void }): void {
    this.send(path, false, { handlers, fail: handlers.onFail });
  }

  private send(path: string, close: boolean, exchange: Exchange): void {
    if (this.closedState) {
      exchange.fail(new ConnectionClosedError(this.closedState));
      return;
    }
    // Settled exchanges stay in the queue until their response ends: the parser takes them in
    // order, so a late answer is consumed by the request it belongs to.
    const handlers = exchange.handlers;
    const entry: Exchange = {
      fail: exchange.fail,
      handlers: {
        onHead: (h) => handlers.onHead(h),
        onData: (c) => handlers.onData(c),
        onEnd: () => {
          this.queue.shift();
          handlers.onEnd();
        },
      },
    };
    this.queue.push(entry);
    this.socket.write(formatGet(path, this.hostHeader, close));
  }

  /** Waits (bounded) for the server to close first, so this side keeps no TIME_WAIT. */
  waitForServerClose(timeoutMs: number): Promise<void> {
    if (this.closedState) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.onClose(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  destroy(): void {
    this.terminate(new Error('connection closed by the client'), {
      reason: 'client',
      detail: 'closed by the client',
    });
  }

  private terminate(err: Error, closed: ConnectionClosed): void {
    if (!this.socket.destroyed) this.socket.destroy();
    if (this.closedState) return;
    this.closedState = closed;
    for (const exchange of this.queue.splice(0)) exchange.fail(err);
    for (const listener of this.closeListeners.splice(0)) listener(closed);
  }
}
