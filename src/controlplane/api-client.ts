/* eslint-disable @typescript-eslint/no-explicit-any -- API objects are JSON from kube-apiserver; only the fields read here are typed where they are read. */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { LabError } from '../exec/index.js';

/**
 * A small client for the lab's kube-apiserver. Small on purpose: the CLI and the lab kubelet
 * need a dozen verbs, and the connection is unusual — the API server listens only inside the
 * lab's control-plane namespace, so a process in the host's namespace reaches it through a Unix
 * socket the lab kubelet forwards (`socketPath`), with TLS end to end to the real server
 * certificate (the socket carries the TLS bytes; nothing listens in the host's namespace).
 */
export interface ApiEndpoint {
  /** `https://172.18.0.254:6443`: the server name and address the certificate is checked against. */
  server: string;
  /** Connect through this Unix socket instead of the server's address. */
  socketPath?: string | undefined;
  caFile: string;
  certFile: string;
  keyFile: string;
}

export class ApiStatusError extends LabError {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    ownerReferences?: { kind: string; name: string }[];
    [k: string]: unknown;
  };
  spec?: any;
  status?: any;
  [k: string]: unknown;
}

export interface KubeList<T = KubeObject> {
  metadata: { resourceVersion: string };
  items: T[];
}

export interface WatchEvent<T = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export class ApiClient {
  private readonly agent: https.Agent;
  private readonly url: URL;

  constructor(readonly endpoint: ApiEndpoint) {
    this.url = new URL(endpoint.server);
    this.agent = new https.Agent({
      keepAlive: true,
      ca: readFileSync(endpoint.caFile),
      cert: readFileSync(endpoint.certFile),
      key: readFileSync(endpoint.keyFile),
      // The certificate is issued for the control-plane address; through the socket the TLS
      // peer is still that server, so the name check stays on.
      // An IP address is checked against the certificate's IP SANs without SNI (RFC 6066).
      ...(isIP(this.url.hostname) ? {} : { servername: this.url.hostname }),
      // Through a Unix socket Node would check the certificate against "localhost": check it
      // against the server's own name or address instead.
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity(this.url.hostname, cert),
    });
  }

  close(): void {
    this.agent.destroy();
  }

  /** One request; a non-2xx answer becomes ApiStatusError with the API's own reason and message. */
  async request<T = KubeObject>(
    method: string,
    path: string,
    body?: unknown,
    opts: { contentType?: string; timeoutMs?: number } = {},
  ): Promise<T> {
    const res = await this.send(method, path, body, opts);
    const text = await readAll(res);
    const code = res.statusCode ?? 0;
    if (code < 200 || code > 299) {
      let status: { reason?: string; message?: string } = {};
      try {
        status = JSON.parse(text);
      } catch {
        // not a Status object
      }
      throw new ApiStatusError(
        code,
        status.reason ?? String(code),
        `${method} ${path}: ${code} ${status.reason ?? ''}: ${status.message ?? text.slice(0, 500)}`,
      );
    }
    return (text ? JSON.parse(text) : {}) as T;
  }

  get<T = KubeObject>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /**
   * The API Priority and Fairness priority level this client's requests are served at: the API
   * server names it in every response (X-Kubernetes-PF-PriorityLevel-UID), resolved to its name.
   * `exempt` means no queueing or rate limit applies (the system:masters group's FlowSchema).
   */
  async priorityLevel(): Promise<string> {
    const res = await this.send('GET', '/api/v1/namespaces/default', undefined, {});
    await readAll(res);
    const uid = res.headers['x-kubernetes-pf-prioritylevel-uid'];
    if (typeof uid !== 'string') return '(no priority level header)';
    const levels = await this.list(
      '/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations',
    );
    return levels.items.find((l) => l.metadata.uid === uid)?.metadata.name ?? `(uid ${uid})`;
  }

  /** GET that answers undefined for 404. */
  async find<T = KubeObject>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (err) {
      if (err instanceof ApiStatusError && err.code === 404) return undefined;
      throw err;
    }
  }

  list<T = KubeObject>(path: string): Promise<KubeList<T>> {
    return this.request<KubeList<T>>('GET', path);
  }

  create<T = KubeObject>(path: string, obj: unknown): Promise<T> {
    return this.request<T>('POST', path, obj);
  }

  replace<T = KubeObject>(path: string, obj: unknown): Promise<T> {
    return this.request<T>('PUT', path, obj);
  }

  mergePatch<T = KubeObject>(path: string, patch: unknown): Promise<T> {
    return this.request<T>('PATCH', path, patch, { contentType: 'application/merge-patch+json' });
  }

  async delete(path: string, opts: { gracePeriodSeconds?: number } = {}): Promise<void> {
    const body =
      opts.gracePeriodSeconds === undefined
        ? undefined
        : { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: opts.gracePeriodSeconds };
    try {
      await this.request('DELETE', path, body);
    } catch (err) {
      if (err instanceof ApiStatusError && err.code === 404) return;
      throw err;
    }
  }

  /**
   * Streams watch events of a collection from `resourceVersion` until the server ends the watch
   * (its timeout), `signal` aborts, or the connection fails. The caller relists and rewatches.
   */
  async watch<T = KubeObject>(
    path: string,
    resourceVersion: string,
    onEvent: (ev: WatchEvent<T>) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const sep = path.includes('?') ? '&' : '?';
    const res = await this.send(
      'GET',
      `${path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(resourceVersion)}`,
      undefined,
      { signal, timeoutMs: 0 },
    );
    if ((res.statusCode ?? 0) !== 200) {
      const text = await readAll(res);
      throw new ApiStatusError(
        res.statusCode ?? 0,
        'Watch',
        `watch ${path}: ${text.slice(0, 300)}`,
      );
    }
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim()) onEvent(JSON.parse(line) as WatchEvent<T>);
        }
      });
      res.on('end', resolve);
      res.on('error', reject);
      res.on('aborted', () => resolve());
      signal?.addEventListener('abort', () => {
        res.destroy();
        resolve();
      });
    });
  }

  private send(
    method: string,
    path: string,
    body: unknown,
    opts: { contentType?: string; timeoutMs?: number; signal?: AbortSignal | undefined },
  ): Promise<import('node:http').IncomingMessage> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          method,
          agent: this.agent,
          ...(this.endpoint.socketPath
            ? { socketPath: this.endpoint.socketPath }
            : { host: this.url.hostname, port: Number(this.url.port || 443) }),
          ...(isIP(this.url.hostname) ? {} : { servername: this.url.hostname }),
          path,
          headers: {
            accept: 'application/json',
            host: this.url.host,
            ...(payload !== undefined
              ? {
                  'content-type': opts.contentType ?? 'application/json',
                  'content-length': Buffer.byteLength(payload),
                }
              : {}),
          },
          signal: opts.signal,
        },
        resolve,
      );
      const timeoutMs = opts.timeoutMs ?? 30_000;
      if (timeoutMs > 0)
        req.setTimeout(timeoutMs, () =>
          req.destroy(
            new LabError(`${method} ${path}: no answer from the API server in ${timeoutMs} ms`),
          ),
        );
      // Name the request: a bare "socket hang up" from a run of 40,000 writes says nothing.
      req.on('error', (err) =>
        reject(err instanceof LabError ? err : new LabError(`${method} ${path}`, { cause: err })),
      );
      req.end(payload);
    });
  }
}

function readAll(res: import('node:http').IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => (text += c));
    res.on('end', () => resolve(text));
    res.on('error', reject);
  });
}
