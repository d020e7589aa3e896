import http from 'node:http';
import { failureOf } from './failure.js';
import type { HttpGetRequest, HttpGetResult } from './protocol.js';

const MAX_BODY_BYTES = 64 * 1024;

/**
 * One HTTP GET on a fresh connection, for answers a suite reads whole (status, headers, body),
 * such as a health check's. Never throws: a failure is classified as probes classify theirs.
 */
export function httpGet(req: HttpGetRequest, signal: AbortSignal): Promise<HttpGetResult> {
  return new Promise((resolve) => {
    const r = http.get(
      {
        host: req.host,
        port: req.port,
        path: req.path ?? '/',
        agent: false,
        timeout: req.timeoutMs ?? 2000,
        signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < MAX_BODY_BYTES) chunks.push(c);
          size += c.length;
        });
        res.on('end', () => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers))
            if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
          resolve({
            ok: true,
            status: res.statusCode,
            headers,
            body: Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8'),
          });
        });
        res.on('error', (err) => resolve({ ok: false, ...failureOf(err) }));
      },
    );
    r.on('timeout', () => r.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    r.on('error', (err) => resolve({ ok: false, ...failureOf(err) }));
  });
}
