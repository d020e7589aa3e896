import dgram from 'node:dgram';
import net from 'node:net';
import { DeadlineError } from './failure.js';

export interface UdpOpenOptions {
  host: string;
  port: number;
  /** Bind this local port (fixed source port, as upstream's UDP conntrack e2e tests do). */
  localPort?: number | undefined;
}

/**
 * A connected UDP socket doing one request/answer exchange at a time. Connecting matters: only
 * a connected socket receives the ICMP port-unreachable of a Service without endpoints as
 * ECONNREFUSED, so "rejected" can be told from "black-holed".
 */
export class UdpConnection {
  private pending: { resolve(text: string): void; reject(err: Error): void } | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly socket: dgram.Socket,
    readonly localPort: number,
  ) {
    socket.on('message', (msg) => {
      const p = this.pending;
      this.pending = undefined;
      // An answer nobody waits for (a late one after a timeout) is dropped.
      p?.resolve(msg.toString('utf8'));
    });
    socket.on('error', (err) => {
      const p = this.pending;
      this.pending = undefined;
      p?.reject(err);
    });
  }

  static open(opts: UdpOpenOptions): Promise<UdpConnection> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket({ type: net.isIPv6(opts.host) ? 'udp6' : 'udp4' });
      const fail = (err: Error) => {
        try {
          socket.close();
        } catch {
          // already closed
        }
        reject(err);
      };
      socket.once('error', fail);
      socket.bind(opts.localPort ?? 0, () => {
        socket.connect(opts.port, opts.host, () => {
          socket.off('error', fail);
          resolve(new UdpConnection(socket, socket.address().port));
        });
      });
    });
  }

  /** Sends `message` and waits for the next datagram (or an ICMP error) up to `timeoutMs`. */
  exchange(message: string, timeoutMs: number): Promise<string> {
    if (this.closing) return Promise.reject(new Error('UDP socket closed'));
    if (this.pending) return Promise.reject(new Error('an exchange is already in progress'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        reject(new DeadlineError(`no answer to "${message}" within ${timeoutMs}ms`));
      }, timeoutMs);
      this.pending = {
        resolve: (text) => {
          clearTimeout(timer);
          resolve(text);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.socket.send(message, (err) => {
        if (err && this.pending) {
          const p = this.pending;
          this.pending = undefined;
          p.reject(err);
        }
      });
    });
  }

  /** Closes the socket; resolves once the local port is free to bind again. */
  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      const p = this.pending;
      this.pending = undefined;
      p?.reject(new Error('UDP socket closed'));
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
    return this.closing;
  }
}
