import http from 'node:http';
import type net from 'node:net';
import { joinHostPort } from './addr.js';
import { LIMITS } from './protocol.js';
import type { ServerState } from './server-state.js';
import { listenDualStack } from './server-state.js';

/**
 * The HTTP side of agnhost netexec (test/images/agnhost/netexec), so a suite reads the same
 * against this agent and against real agnhost on kind: `/hostname` (and the old `/hostName`),
 * `/clientip` as Go's RemoteAddr (`ip:port`, IPv6 bracketed), `/echo?msg=&code=`, `/healthz`,
 * `/readyz` (503 once draining), and, like Go's ServeMux "/" pattern, "NOW: <time>" for any
 * other path. `/stream?intervalMs=` is the svclab extension: one line per heartbeat,
 * `<seq> <hostname> <clientip:port>`, until the client goes away.
 */

/** Request bodies are never read; a large one gets the connection closed after the answer. */
const MAX_KEPT_BODY_BYTES = 1024 * 1024;
const DEFAULT_STREAM_INTERVAL_MS = 100;

function text(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function peerOf(req: http.IncomingMessage): string {
  return joinHostPort(req.socket.remoteAddress ?? '', req.socket.remotePort ?? 0);
}

function stream(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
  state: ServerState,
): void {
  const asked = Number(url.searchParams.get('intervalMs') ?? DEFAULT_STREAM_INTERVAL_MS);
  const intervalMs = Number.isFinite(asked)
    ? Math.min(Math.max(Math.round(asked), LIMITS.minStreamIntervalMs), 60_000)
    : DEFAULT_STREAM_INTERVAL_MS;
  const peer = peerOf(req);
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  let seq = 0;
  const beat = () => {
    // A client that stops reading gets no queued heartbeats: memory stays bounded and the
    // sequence numbers show the gap.
    if (res.writableNeedDrain || res.destroyed) return;
    res.write(`${++seq} ${state.hostname} ${peer}\n`);
  };
  beat();
  const timer = setInterval(beat, intervalMs);
  res.on('close', () => clearInterval(timer));
}

function handle(req: http.IncomingMessage, res: http.ServerResponse, state: ServerState): void {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (req.headers['transfer-encoding'] !== undefined || declared > MAX_KEPT_BODY_BYTES) {
    res.setHeader('Connection', 'close');
  }
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://agent');
  } catch {
    text(res, 400, 'bad request URL');
    return;
  }
  switch (url.pathname) {
    case '/hostname':
    case '/hostName':
      return text(res, 200, state.hostname);
    case '/clientip':
      return text(res, 200, peerOf(req));
    case '/echo': {
      const msg = url.searchParams.get('msg') ?? '';
      const code = url.searchParams.get('code');
      if (code === null || code === '') return text(res, 200, msg);
      const status = Number(code);
      if (!Number.isInteger(status) || status < 200 || status > 599) {
        return text(
          res,
          200,
          `argument 'code' must be an integer or empty, got ${JSON.stringify(code)}\n`,
        );
      }
      return text(res, status, msg);
    }
    case '/healthz':
      return text(res, 200, '');
    case '/readyz':
      if (state.draining) return text(res, 503, 'draining');
      return state.ready ? text(res, 200, '') : text(res, 503, 'not ready');
    case '/stream':
      return stream(req, res, url, state);
    default:
      return text(res, 200, `NOW: ${new Date().toISOString()}`);
  }
}

export async function startHttpServer(port: number, state: ServerState): Promise<http.Server> {
  const server = http.createServer(
    // Established keep-alive connections must stay up while idle: Go's server (agnhost) has no
    // idle timeout, and the "conn" flow tests exactly such an idle connection.
    { keepAliveTimeout: 0, maxHeaderSize: 16 * 1024 },
    (req, res) => handle(req, res, state),
  );
  server.keepAliveTimeout = 0;
  const label = () => `http :${(server.address() as net.AddressInfo | null)?.port ?? port}`;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    if (err.code !== 'ECONNRESET')
      state.log(`${label()} client error: ${err.code ?? ''} ${err.message}`);
    if (socket.writable && !socket.destroyed && err.code !== 'ECONNRESET') {
      const status =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? '431 Request Header Fields Too Large'
          : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    } else {
      socket.destroy();
    }
  });
  server.on('error', (err) => state.log(`${label()} server error: ${err.message}`));
  await listenDualStack((host, ipv6Only) => {
    return new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host, ipv6Only }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  });
  return server;
}
