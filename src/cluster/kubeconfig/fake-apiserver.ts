/**
 * A small fake Kubernetes API server for unit tests: namespaces (create, get, list by label,
 * delete), pods (list, delete), nodes (list), the kube-proxy ConfigMap and the node-proxy
 * `/proxyMode` endpoint. Just the endpoints the cluster providers call, with the API's status
 * codes (409 on conflict, 404 on missing), so the real @kubernetes/client-node runs against it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, type V1Namespace, type V1Node } from '@kubernetes/client-node';
import { KubeApi } from './api.js';

export interface FakeCluster {
  namespaces: Map<string, V1Namespace>;
  nodes: V1Node[];
  /** kube-system/kube-proxy config.conf; undefined = no ConfigMap. */
  kubeProxyConfig?: string | undefined;
  /** Answer of /proxyMode through the node proxy; undefined = unreachable (503). */
  proxyModeEndpoint?: string | undefined;
  /** Every request as `METHOD path`, for assertions. */
  requests: string[];
}

function matches(labels: Record<string, string> | undefined, selector: string | null): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=');
    return labels?.[k!] !== undefined && (v === undefined || labels[k!] === v);
  });
}

export async function startFakeApiServer(
  init: Partial<FakeCluster> = {},
): Promise<{ api: KubeApi; cluster: FakeCluster; close(): Promise<void> }> {
  const cluster: FakeCluster = { namespaces: new Map(), nodes: [], requests: [], ...init };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    // Like the real API server (Go's net/http), route on the decoded path: clients send `n1%3A10249`.
    const path = decodeURIComponent(url.pathname);
    cluster.requests.push(`${req.method} ${path}`);
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const send = (code: number, obj: unknown) => {
        res.writeHead(code, {
          'content-type': typeof obj === 'string' ? 'text/plain' : 'application/json',
        });
        res.end(typeof obj === 'string' ? obj : JSON.stringify(obj));
      };
      const status = (code: number, reason: string, message: string) =>
        send(code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code });
      let m: RegExpExecArray | null;
      if (path === '/api/v1/namespaces' && req.method === 'POST') {
        const ns = JSON.parse(body) as V1Namespace;
        const name = ns.metadata?.name ?? '';
        if (cluster.namespaces.has(name))
          return status(409, 'AlreadyExists', `namespaces "${name}" already exists`);
        ns.status = { phase: 'Active' };
        cluster.namespaces.set(name, ns);
        return send(201, ns);
      }
      if (path === '/api/v1/namespaces' && req.method === 'GET') {
        const items = [...cluster.namespaces.values()].filter((n) =>
          matches(n.metadata?.labels, url.searchParams.get('labelSelector')),
        );
        return send(200, { kind: 'NamespaceList', apiVersion: 'v1', metadata: {}, items });
      }
      if ((m = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(path))) {
        const ns = cluster.namespaces.get(m[1]!);
        if (!ns) return status(404, 'NotFound', `namespaces "${m[1]}" not found`);
        if (req.method === 'GET') return send(200, ns);
        if (req.method === 'DELETE') {
          cluster.namespaces.delete(m[1]!);
          return send(200, { ...ns, status: { phase: 'Terminating' } });
        }
      }
      if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(path)) && req.method === 'GET') {
        return send(200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [] });
      }
      if (path === '/api/v1/nodes' && req.method === 'GET')
        return send(200, {
          kind: 'NodeList',
          apiVersion: 'v1',
          metadata: {},
          items: cluster.nodes,
        });
      if (path === '/api/v1/namespaces/kube-system/configmaps/kube-proxy') {
        if (cluster.kubeProxyConfig === undefined)
          return status(404, 'NotFound', 'configmaps "kube-proxy" not found');
        return send(200, {
          kind: 'ConfigMap',
          apiVersion: 'v1',
          metadata: { name: 'kube-proxy', namespace: 'kube-system' },
          data: { 'config.conf': cluster.kubeProxyConfig },
        });
      }
      if ((m = /^\/api\/v1\/nodes\/([^/]+):10249\/proxy\/proxyMode$/.exec(path))) {
        if (cluster.proxyModeEndpoint === undefined)
          return status(
            503,
            'ServiceUnavailable',
            'error trying to reach service: dial tcp 127.0.0.1:10249: connect: connection refused',
          );
        return send(200, cluster.proxyModeEndpoint);
      }
      return status(404, 'NotFound', `fake API server: no handler for ${req.method} ${path}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'fake' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
    currentContext: 'fake',
  });
  return {
    api: new KubeApi(kc),
    cluster,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
