import fs from 'node:fs';
import net from 'node:net';
import { LabError, scaledDeadline } from '../exec/index.js';

/**
 * The lab kubelet's control channel: one JSON object per line each way, on a Unix socket in the
 * lab folder (root only, like the agents' sockets). Requests carry `op`; answers `ok` and
 * `result` or `error`.
 */
export type KubeletOp =
  'status' | 'http-get' | 'probe-now' | 'sync' | 'restart-proxies' | 'stop-proxies';

export interface KubeletRequest {
  op: KubeletOp;
  [k: string]: unknown;
}

export function serveControl(
  path: string,
  handle: (req: KubeletRequest) => Promise<unknown>,
  log: (line: string) => void,
): net.Server {
  try {
    fs.unlinkSync(path);
  } catch {
    // no stale socket
  }
  const server = net.createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => undefined);
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > 1024 * 1024) return sock.destroy();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        void (async () => {
          let reply;
          try {
            const req = JSON.parse(line) as KubeletRequest;
            reply = { ok: true, result: await handle(req) };
          } catch (err) {
            log(`control: ${String((err as Error).stack ?? err)}`);
            reply = { ok: false, error: (err as Error).message ?? String(err) };
          }
          if (!sock.destroyed) sock.write(JSON.stringify(reply) + '\n');
        })();
      }
    });
  });
  server.listen(path);
  return server;
}

/** One request to a lab's kubelet; rejects with its error. */
export function kubeletRequest<T = unknown>(
  socketPath: string,
  req: KubeletRequest,
  timeoutMs = scaledDeadline(120_000),
): Promise<T> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(
        new LabError(`lab kubelet (${socketPath}): no answer to ${req.op} in ${timeoutMs} ms`),
      );
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (c: string) => {
      buf += c;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      const res = JSON.parse(buf.slice(0, nl)) as { ok: boolean; result?: T; error?: string };
      if (res.ok) resolve(res.result as T);
      else reject(new LabError(`lab kubelet: ${req.op}: ${res.error}`));
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(new LabError(`lab kubelet (${socketPath}) is not reachable: ${err.message}`));
    });
  });
}
