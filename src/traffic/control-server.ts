import fs from 'node:fs';
import net from 'node:net';
import {
  MAX_CONTROL_LINE_BYTES,
  parseControlLine,
  type AgentRequest,
  type AgentResponse,
} from './protocol.js';

/** Requests one control connection may have in flight before new ones are refused. */
const MAX_IN_FLIGHT = 256;
/** A peer that stops reading its answers is cut off rather than buffered for. */
const MAX_UNREAD_RESPONSE_BYTES = 256 * 1024 * 1024;

export interface ControlServerOptions {
  path: string;
  /** Serves one request; `signal` aborts when its control connection goes away. */
  handle(req: AgentRequest, signal: AbortSignal): Promise<unknown>;
  log(line: string): void;
}

/** One-line summary of a request for the log. */
function describe(req: AgentRequest): string {
  const parts = [`op=${req.op}`, `id=${req.id ?? 0}`];
  for (const key of ['host', 'port', 'protocol', 'count', 'flowId', 'path'] as const) {
    const v = (req as unknown as Record<string, unknown>)[key];
    if (v !== undefined) parts.push(`${key}=${String(v)}`);
  }
  return parts.join(' ');
}

function serveConnection(socket: net.Socket, opts: ControlServerOptions): void {
  const aborter = new AbortController();
  let parts: Buffer[] = [];
  let size = 0;
  let discarding = false;
  let inFlight = 0;

  const respond = (res: AgentResponse) => {
    if (socket.destroyed || !socket.writable) return;
    socket.write(`${JSON.stringify(res)}\n`);
    if (socket.writableLength > MAX_UNREAD_RESPONSE_BYTES) {
      opts.log('control: peer does not read its responses; closing the connection');
      socket.destroy();
    }
  };

  const dispatch = (line: string) => {
    if (line.trim() === '') return;
    const parsed = parseControlLine(line);
    if (!parsed.ok) {
      opts.log(`control: rejected id=${parsed.id}: ${parsed.error}`);
      respond({ id: parsed.id, ok: false, error: parsed.error });
      return;
    }
    const { id, request } = parsed;
    if (inFlight >= MAX_IN_FLIGHT) {
      const error = `too many requests in flight on this connection (${MAX_IN_FLIGHT})`;
      opts.log(`control: ${describe(request)} -> error: ${error}`);
      respond({ id, ok: false, error });
      return;
    }
    inFlight++;
    const started = performance.now();
    opts
      .handle(request, aborter.signal)
      .then(
        (result) => {
          opts.log(
            `control: ${describe(request)} -> ok (${Math.round(performance.now() - started)}ms)`,
          );
          respond({ id, ok: true, result });
        },
        (err: unknown) => {
          const error = err instanceof Error ? err.message : String(err);
          opts.log(`control: ${describe(request)} -> error: ${error}`);
          respond({ id, ok: false, error });
        },
      )
      .finally(() => inFlight--);
  };

  // An over-long line is answered once (id -1) and skipped up to its newline; the connection
  // stays usable and nothing beyond MAX_CONTROL_LINE_BYTES is ever buffered.
  const tooLong = () => {
    const error = `control line longer than ${MAX_CONTROL_LINE_BYTES} bytes; dropped`;
    opts.log(`control: ${error}`);
    respond({ id: -1, ok: false, error });
    parts = [];
    size = 0;
    discarding = true;
  };

  socket.on('data', (chunk: Buffer) => {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (discarding) {
        discarding = false;
        continue;
      }
      if (size + piece.length > MAX_CONTROL_LINE_BYTES) {
        tooLong();
        discarding = false;
        continue;
      }
      const line = Buffer.concat([...parts, piece]).toString('utf8');
      parts = [];
      size = 0;
      dispatch(line);
    }
    const rest = chunk.subarray(start);
    if (discarding || rest.length === 0) return;
    if (size + rest.length > MAX_CONTROL_LINE_BYTES) {
      tooLong();
      return;
    }
    parts.push(Buffer.from(rest));
    size += rest.length;
  });
  socket.on('error', () => {
    // a peer that vanished mid-request: its requests are aborted below, nothing else to do
  });
  socket.on('close', () => {
    aborter.abort();
    parts = [];
  });
}

/** Listens on the Unix socket, replacing a stale socket file a crashed agent left behind. */
export async function startControlServer(opts: ControlServerOptions): Promise<net.Server> {
  try {
    fs.unlinkSync(opts.path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const server = net.createServer((socket) => serveConnection(socket, opts));
  server.on('error', (err) => opts.log(`control server error: ${err.message}`));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  fs.chmodSync(opts.path, 0o600);
  return server;
}
