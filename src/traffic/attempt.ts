import { splitHostPort } from './addr.js';
import { failureOf } from './failure.js';
import { HttpConnection } from './http-connection.js';
import type { Attempt } from './protocol.js';
import { UdpConnection } from './udp-connection.js';

/**
 * One observation: which backend answered and which source address it saw. Both questions go
 * over the same flow (one TCP connection, or one UDP socket) so conntrack pins them to the same
 * backend and the answers belong together.
 */

export interface AttemptTarget {
  host: string;
  port: number;
  timeoutMs: number;
  sourcePort?: number | undefined;
  /** performance.now() of the probe start; Attempt.startedAtMs is relative to it. */
  epoch: number;
}

export function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function remaining(deadline: number): number {
  return Math.max(1, Math.ceil(deadline - performance.now()));
}

/** Builds the success Attempt from the two answers, or a failure when they make no sense. */
export function observation(
  backendText: string,
  clientIPText: string | undefined,
  base: { latencyMs: number; startedAtMs: number; localPort?: number | undefined },
): Attempt {
  const backend = backendText.trim();
  if (backend === '') {
    return { ok: false, failure: 'error', detail: 'empty hostname answer', ...base };
  }
  if (clientIPText === undefined) return { ok: true, backend, ...base };
  const peer = splitHostPort(clientIPText);
  if (!peer) {
    return {
      ok: false,
      backend,
      failure: 'error',
      detail: `clientip answer is not ip:port: ${JSON.stringify(clientIPText.slice(0, 64))}`,
      ...base,
    };
  }
  return { ok: true, backend, sourceIP: peer.ip, sourcePort: peer.port, ...base };
}

export function failedAttempt(
  err: unknown,
  base: { latencyMs: number; startedAtMs: number; localPort?: number | undefined },
): Attempt {
  return { ok: false, ...failureOf(err), ...base };
}

export class HttpStatusError extends Error {
  constructor(
    readonly path: string,
    readonly status: number,
  ) {
    super(`GET ${path} answered HTTP ${status}`);
  }
}

/** GET `path` and insist on 200. */
export async function get200(conn: HttpConnection, path: string, timeoutMs: number, close = false) {
  const res = await conn.get(path, timeoutMs, close);
  if (res.status !== 200) throw new HttpStatusError(path, res.status);
  return res.body;
}

/** A new TCP connection: GET /hostname, then GET /clientip on the same keep-alive connection. */
export async function tcpAttempt(t: AttemptTarget): Promise<Attempt> {
  const start = performance.now();
  const deadline = start + t.timeoutMs;
  const startedAtMs = round(start - t.epoch);
  let conn: HttpConnection | undefined;
  try {
    conn = await HttpConnection.connect({
      host: t.host,
      port: t.port,
      localPort: t.sourcePort,
      timeoutMs: t.timeoutMs,
    });
    const hostname = await get200(conn, '/hostname', remaining(deadline));
    // Connection: close on the last request lets the server close first, so a fixed source
    // port is not held in TIME_WAIT on this side.
    const clientIP = await get200(conn, '/clientip', remaining(deadline), true);
    const latencyMs = round(performance.now() - start);
    if (t.sourcePort !== undefined) await conn.waitForServerClose(remaining(deadline));
    return observation(hostname, clientIP, { latencyMs, startedAtMs, localPort: conn.localPort });
  } catch (err) {
    return failedAttempt(err, {
      latencyMs: round(performance.now() - start),
      startedAtMs,
      localPort: conn?.localPort,
    });
  } finally {
    conn?.destroy();
  }
}

/** A new UDP socket: `hostname`, then `clientip`, each waiting for its answer. */
export async function udpAttempt(t: AttemptTarget): Promise<Attempt> {
  const start = performance.now();
  const deadline = start + t.timeoutMs;
  const startedAtMs = round(start - t.epoch);
  let sock: UdpConnection | undefined;
  try {
    sock = await UdpConnection.open({ host: t.host, port: t.port, localPort: t.sourcePort });
    const hostname = await sock.exchange('hostname', remaining(deadline));
    const clientIP = await sock.exchange('clientip', remaining(deadline));
    const latencyMs = round(performance.now() - start);
    return observation(hostname, clientIP, { latencyMs, startedAtMs, localPort: sock.localPort });
  } catch (err) {
    return failedAttempt(err, {
      latencyMs: round(performance.now() - start),
      startedAtMs,
      localPort: sock?.localPort,
    });
  } finally {
    // Awaited: with a fixed source port the next attempt binds the same port.
    await sock?.close();
  }
}
