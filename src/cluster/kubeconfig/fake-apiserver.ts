/**
 * A small fake Kubernetes API server for unit tests: namespaces (create, get, list by label,
 * delete, with a Terminating phase before they go), Services (create with clusterIP and nodePort
 * allocation and the API's conflicts, list, read, replace, the status subresource), pods (lab
 * namespaces: list, delete; kube-system: kube-proxy's DaemonSet pods, recreated when deleted),
 * nodes (list), the kube-proxy ConfigMap and, through the node proxy, kube-proxy's `/proxyMode`
 * and `/metrics`. Just the endpoints the cluster providers call, with the API's status codes
 * (409 on conflict, 404 on missing, 422 on invalid, 403 in a terminating namespace), so the real
 * @kubernetes/client-node runs against it. Like kind, it holds `kubernetes` (10.96.0.1) and
 * `kube-system/kube-dns` (10.96.0.10) from the start.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  KubeConfig,
  type V1Namespace,
  type V1Node,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import { cidrContains, formatIPv4, nthAddress, parseCIDR, parseIPv4 } from '../../model/ipam.js';
import { KubeApi } from './api.js';
import { FakeKubeProxy, type FakeKubeProxyOptions } from './fake-kube-proxy.js';

export interface FakeCluster {
  namespaces: Map<string, V1Namespace>;
  nodes: V1Node[];
  /** kube-system/kube-proxy config.conf; undefined = no ConfigMap. */
  kubeProxyConfig?: string | undefined;
  /** Answer of /proxyMode through the node proxy; undefined = unreachable (503). */
  proxyModeEndpoint?: string | undefined;
  /** Services by `namespace/name`. */
  services: Map<string, V1Service>;
  /** The service range (the API server's --service-cluster-ip-range). */
  serviceCIDR: string;
  /** GETs of a deleted namespace that still find it Terminating before it is gone (0 = at once). */
  namespaceFinalizeReads: number;
  /** kube-proxy per node name (only nodes listed here have one); see FakeKubeProxy. */
  kubeProxies: Map<string, FakeKubeProxy>;
  /** kube-system pods of kube-proxy's DaemonSet, by name. */
  kubeProxyPods: Map<string, V1Pod>;
  /** Every request as `METHOD path`, for assertions. */
  requests: string[];
}

export interface FakeClusterInit extends Partial<Omit<FakeCluster, 'kubeProxies'>> {
  /** Nodes that run a kube-proxy (a DaemonSet pod each, /metrics through the node proxy). */
  kubeProxyNodes?: string[] | undefined;
  kubeProxy?: FakeKubeProxyOptions | undefined;
}

function matches(labels: Record<string, string> | undefined, selector: string | null): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=');
    return labels?.[k!] !== undefined && (v === undefined || labels[k!] === v);
  });
}

let uid = 0;
const nextUid = () => `uid-${++uid}`;

function kubeProxyPod(node: string, generation: number): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `kube-proxy-${node}-${generation}`,
      namespace: 'kube-system',
      uid: nextUid(),
      labels: { 'k8s-app': 'kube-proxy' },
    },
    spec: { nodeName: node, containers: [{ name: 'kube-proxy', image: 'kube-proxy' }] },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

/** A 422 with the API's message, or undefined when the Service is acceptable. */
type Invalid = string | undefined;

/** Allocation and validation of Services as the API server's REST storage does it (reduced). */
class ServiceRegistry {
  constructor(private readonly cluster: FakeCluster) {}

  private others(key: string): V1Service[] {
    return [...this.cluster.services.entries()].filter(([k]) => k !== key).map(([, s]) => s);
  }

  private ipTaken(ip: string, key: string): boolean {
    return this.others(key).some((s) => s.spec?.clusterIP === ip);
  }

  private portTaken(port: number, key: string): boolean {
    return this.others(key).some((s) => s.spec?.ports?.some((p) => p.nodePort === port));
  }

  /** Fills clusterIP and nodePorts; returns the API's error for what cannot be granted. */
  allocate(key: string, svc: V1Service, old?: V1Service): Invalid {
    const spec = (svc.spec ??= {});
    const range = parseCIDR(this.cluster.serviceCIDR)!;
    if (spec.loadBalancerClass && spec.type !== 'LoadBalancer')
      return 'spec.loadBalancerClass: Forbidden: may only be used when `type` is LoadBalancer';
    if (old?.spec?.clusterIP) {
      // Omitted on update: the allocated one is kept (patchAllocatedValues); changed: immutable.
      if (spec.clusterIP && spec.clusterIP !== old.spec.clusterIP)
        return `spec.clusterIP: Invalid value: "${spec.clusterIP}": field is immutable`;
      spec.clusterIP = old.spec.clusterIP;
    } else if (spec.clusterIP) {
      const ip = parseIPv4(spec.clusterIP);
      if (ip === undefined || !cidrContains(range, ip))
        return `spec.clusterIP: Invalid value: "${spec.clusterIP}": provided IP is not in the valid range. The range of valid IPs is ${this.cluster.serviceCIDR}`;
      if (this.ipTaken(spec.clusterIP, key))
        return `spec.clusterIP: Invalid value: "${spec.clusterIP}": provided IP is already allocated`;
    } else {
      // From the upper band, as the real allocator prefers (KEP-3070); never svclab's .10 up.
      for (let offset = 1000; ; offset++) {
        const ip = nthAddress(range, offset);
        if (ip === undefined) return 'spec.clusterIP: Internal error: range is full';
        if (!this.ipTaken(formatIPv4(ip), key)) {
          spec.clusterIP = formatIPv4(ip);
          break;
        }
      }
    }
    spec.clusterIPs = [spec.clusterIP];
    if (spec.type !== 'NodePort' && spec.type !== 'LoadBalancer') {
      for (const p of spec.ports ?? []) delete p.nodePort;
      return undefined;
    }
    const byPort = new Map<number, number>();
    for (const p of spec.ports ?? []) {
      if (!p.nodePort) {
        const kept = old?.spec?.ports?.find((o) => (o.name ?? '') === (p.name ?? ''))?.nodePort;
        const sibling =
          byPort.get(p.port) ?? spec.ports?.find((o) => o.port === p.port && o.nodePort)?.nodePort;
        p.nodePort = kept ?? sibling;
      }
      if (p.nodePort) {
        if (byPort.get(p.port) !== p.nodePort && this.portTaken(p.nodePort, key))
          return `spec.ports[].nodePort: Invalid value: ${p.nodePort}: provided port is already allocated`;
      } else {
        let port = 31000;
        while (this.portTaken(port, key) || [...byPort.values()].includes(port)) port++;
        p.nodePort = port;
      }
      byPort.set(p.port, p.nodePort);
    }
    return undefined;
  }
}

export async function startFakeApiServer(init: FakeClusterInit = {}): Promise<{
  api: KubeApi;
  cluster: FakeCluster;
  close(): Promise<void>;
}> {
  const { kubeProxyNodes = [], kubeProxy, ...rest } = init;
  const cluster: FakeCluster = {
    namespaces: new Map(),
    nodes: [],
    requests: [],
    services: new Map(),
    serviceCIDR: '10.96.0.0/16',
    namespaceFinalizeReads: 2,
    kubeProxies: new Map(kubeProxyNodes.map((n) => [n, new FakeKubeProxy(kubeProxy)])),
    kubeProxyPods: new Map(),
    ...rest,
  };
  const seed = (namespace: string, name: string, clusterIP: string) => {
    if (!cluster.services.has(`${namespace}/${name}`))
      cluster.services.set(`${namespace}/${name}`, {
        metadata: { name, namespace, uid: nextUid() },
        spec: { type: 'ClusterIP', clusterIP, clusterIPs: [clusterIP], ports: [{ port: 443 }] },
      });
  };
  seed('default', 'kubernetes', '10.96.0.1');
  seed('kube-system', 'kube-dns', '10.96.0.10');
  const generation = new Map<string, number>();
  for (const node of kubeProxyNodes) {
    generation.set(node, 1);
    const pod = kubeProxyPod(node, 1);
    cluster.kubeProxyPods.set(pod.metadata!.name!, pod);
  }
  const registry = new ServiceRegistry(cluster);
  const servicesChanged = () => {
    for (const kp of cluster.kubeProxies.values()) kp.queue();
  };
  const finalizeCountdown = new Map<string, number>();

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
      const list = (kind: string, items: unknown[]) =>
        send(200, { kind, apiVersion: 'v1', metadata: {}, items });
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
        return list('NamespaceList', items);
      }
      if ((m = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(path))) {
        const name = m[1]!;
        const ns = cluster.namespaces.get(name);
        if (!ns) return status(404, 'NotFound', `namespaces "${name}" not found`);
        if (req.method === 'GET') {
          const left = finalizeCountdown.get(name);
          if (left !== undefined) {
            // The namespace controller empties it, then it goes (with its Services).
            if (left <= 0) {
              finalizeCountdown.delete(name);
              cluster.namespaces.delete(name);
              for (const key of [...cluster.services.keys()])
                if (key.startsWith(`${name}/`)) cluster.services.delete(key);
              servicesChanged();
              return status(404, 'NotFound', `namespaces "${name}" not found`);
            }
            finalizeCountdown.set(name, left - 1);
          }
          return send(200, ns);
        }
        if (req.method === 'DELETE') {
          ns.metadata = { ...ns.metadata, deletionTimestamp: new Date() };
          ns.status = { phase: 'Terminating' };
          if (!finalizeCountdown.has(name))
            finalizeCountdown.set(name, cluster.namespaceFinalizeReads);
          return send(200, ns);
        }
      }

      if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/services$/.exec(path))) {
        const namespace = m[1]!;
        if (req.method === 'GET')
          return list(
            'ServiceList',
            [...cluster.services.entries()]
              .filter(([k]) => k.startsWith(`${namespace}/`))
              .map(([, s]) => s),
          );
        if (req.method === 'POST') {
          const ns = cluster.namespaces.get(namespace);
          if (!ns) return status(404, 'NotFound', `namespaces "${namespace}" not found`);
          if (ns.status?.phase === 'Terminating')
            return status(
              403,
              'Forbidden',
              `services is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
            );
          const svc = JSON.parse(body) as V1Service;
          const key = `${namespace}/${svc.metadata?.name}`;
          if (cluster.services.has(key))
            return status(409, 'AlreadyExists', `services "${svc.metadata?.name}" already exists`);
          const invalid = registry.allocate(key, svc);
          if (invalid)
            return status(422, 'Invalid', `Service "${svc.metadata?.name}" is invalid: ${invalid}`);
          svc.metadata = { ...svc.metadata, namespace, uid: nextUid(), resourceVersion: '1' };
          // Status is not part of create: the API server resets it.
          svc.status = { loadBalancer: {} };
          cluster.services.set(key, svc);
          servicesChanged();
          return send(201, svc);
        }
      }
      if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/services\/([^/]+)(\/status)?$/.exec(path))) {
        const key = `${m[1]}/${m[2]}`;
        const old = cluster.services.get(key);
        if (!old) return status(404, 'NotFound', `services "${m[2]}" not found`);
        if (req.method === 'GET') return send(200, old);
        if (req.method === 'DELETE') {
          cluster.services.delete(key);
          servicesChanged();
          return send(200, old);
        }
        if (req.method === 'PUT') {
          const next = JSON.parse(body) as V1Service;
          const version = String(Number(old.metadata?.resourceVersion ?? '1') + 1);
          if (m[3]) {
            // The status subresource changes status only.
            const updated = { ...old, status: next.status ?? {} };
            updated.metadata = { ...old.metadata, resourceVersion: version };
            cluster.services.set(key, updated);
          } else {
            const invalid = registry.allocate(key, next, old);
            if (invalid) return status(422, 'Invalid', `Service "${m[2]}" is invalid: ${invalid}`);
            next.metadata = { ...old.metadata, ...next.metadata, resourceVersion: version };
            next.status = old.status; // an update of the main resource leaves status alone
            cluster.services.set(key, next);
          }
          servicesChanged();
          return send(200, cluster.services.get(key));
        }
      }

      if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(path)) && req.method === 'GET') {
        if (m[1] !== 'kube-system') return list('PodList', []);
        return list(
          'PodList',
          [...cluster.kubeProxyPods.values()].filter((p) =>
            matches(p.metadata?.labels, url.searchParams.get('labelSelector')),
          ),
        );
      }
      if (
        (m = /^\/api\/v1\/namespaces\/kube-system\/pods\/([^/]+)$/.exec(path)) &&
        req.method === 'DELETE'
      ) {
        const pod = cluster.kubeProxyPods.get(m[1]!);
        if (!pod) return status(404, 'NotFound', `pods "${m[1]}" not found`);
        cluster.kubeProxyPods.delete(m[1]!);
        // The DaemonSet controller replaces it; the new process starts from nothing.
        const node = pod.spec!.nodeName!;
        const gen = (generation.get(node) ?? 1) + 1;
        generation.set(node, gen);
        const fresh = kubeProxyPod(node, gen);
        cluster.kubeProxyPods.set(fresh.metadata!.name!, fresh);
        cluster.kubeProxies.get(node)?.restart();
        return send(200, pod);
      }
      if (path === '/api/v1/nodes' && req.method === 'GET') return list('NodeList', cluster.nodes);
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
      if ((m = /^\/api\/v1\/nodes\/([^/]+):10249\/proxy\/(proxyMode|metrics)$/.exec(path))) {
        const kp = cluster.kubeProxies.get(m[1]!);
        const answer = m[2] === 'metrics' ? kp?.metrics() : cluster.proxyModeEndpoint;
        if (answer === undefined)
          return status(
            503,
            'ServiceUnavailable',
            'error trying to reach service: dial tcp 127.0.0.1:10249: connect: connection refused',
          );
        return send(200, answer);
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
