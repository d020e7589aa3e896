import { serviceWithDefaults } from '../../model/service.js';
import { servicePortName } from '../../cluster/endpoints.js';
import type { ServicePort, ServiceSpec } from '../../model/types.js';
import type { Endpoint, ProxyState, ServicePortState } from '../../proxy/types.js';

/** A backend the synthetic Services point at: a real pod of the bench lab. */
export interface ScaleBackend {
  podName: string;
  ip: string;
  nodeName: string;
}

export interface ScaleStateOptions {
  services: number;
  /** Endpoints per Service port (backends are reused round-robin when there are fewer pods). */
  endpoints: number;
  backends: readonly ScaleBackend[];
  /** One Service in `nodePortEvery` is a NodePort Service (the rest are ClusterIP). 0: none. */
  nodePortEvery: number;
  /** The bench's service CIDR base: ClusterIPs are allocated from its start. */
  serviceBase?: string;
}

/** Port the agent's HTTP server (agnhost netexec compatible) listens on in every backend pod. */
export const HTTP_TARGET_PORT = 8080;
/** Port iperf3 -s listens on in the first backend pod. */
export const IPERF_PORT = 5201;
/**
 * NodePorts are allocated from here upward, as with kube-apiserver
 * --service-node-port-range=30000-39999: the default 30000-32767 holds only 2,768 NodePorts,
 * fewer than one Service in ten at 50,000 Services.
 */
export const FIRST_NODE_PORT = 30000;
/** The largest N; extra Services for add/remove measurements are numbered from here. */
export const MAX_SERVICES = 60_000;

export function serviceName(i: number): string {
  // Zero-padded so that name order (the order of KUBE-SERVICES and of nft's sorted plan) is index order.
  return `svc-${String(i).padStart(5, '0')}`;
}

function ipFromInt(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function intFromIp(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

/**
 * The desired state of a node with N Services, built directly (not through the topology
 * validator, which is not meant for 50,000 objects) but in exactly the shape computeProxyState
 * produces, so the proxies' own planners and appliers program it. Every Service has an `http`
 * port (80 → 8080 on `endpoints` backends); the first and the last Service in KUBE-SERVICES
 * order also have an `iperf` port (5201 → 5201) with a single endpoint, because iperf3's
 * control and data connections must reach the same server.
 */
export function scaleState(o: ScaleStateOptions): ProxyState {
  if (o.services < 1 || o.services > MAX_SERVICES)
    throw new RangeError(`services must be 1..${MAX_SERVICES}, got ${o.services}`);
  if (o.backends.length === 0) throw new RangeError('at least one backend pod is needed');
  const servicePorts: ServicePortState[] = [];
  for (let i = 0; i < o.services; i++) servicePorts.push(...scaleService(i, o));
  return { servicePorts };
}

/** The Service ports of Service `i` (as scaleState builds them). */
export function scaleService(i: number, o: ScaleStateOptions, variant = 0): ServicePortState[] {
  const base = intFromIp(o.serviceBase ?? '10.96.0.0') + 10;
  if (i >= 2 * MAX_SERVICES) throw new RangeError(`Service index ${i} is out of the bench's range`);
  const isNodePort = o.nodePortEvery > 0 && i % o.nodePortEvery === o.nodePortEvery - 1;
  const probed = i === 0 || i === o.services - 1;
  const http: ServicePort = {
    name: 'http',
    protocol: 'TCP',
    port: 80,
    targetPort: HTTP_TARGET_PORT,
    nodePort: isNodePort ? FIRST_NODE_PORT + Math.floor(i / o.nodePortEvery) : undefined,
  };
  const iperf: ServicePort = {
    name: 'iperf',
    protocol: 'TCP',
    port: IPERF_PORT,
    targetPort: IPERF_PORT,
    // Every port of a NodePort Service has a NodePort (the API server allocates one when none is
    // asked for, at random: it took an http port's NodePort of a Service written after it).
    // Fixed at the top of the bench's range, so the layout is the same for every mode.
    nodePort: isNodePort ? FIRST_NODE_PORT + 9998 + (i === 0 ? 0 : 1) : undefined,
  };
  const service: ServiceSpec = serviceWithDefaults({
    name: serviceName(i),
    type: isNodePort ? 'NodePort' : 'ClusterIP',
    clusterIP: ipFromInt(base + i),
    ports: probed ? [http, iperf] : [http],
    selector: { app: 'scale-backend' },
  });
  const endpoint = (b: ScaleBackend, port: number): Endpoint => ({
    ip: b.ip,
    port,
    protocol: 'TCP',
    nodeName: b.nodeName,
    podName: b.podName,
    ready: true,
    serving: true,
    terminating: false,
  });
  // `variant` rotates which backends serve: a changed EndpointSlice with the same size.
  const httpEndpoints = Array.from({ length: o.endpoints }, (_, k) =>
    endpoint(o.backends[(k + variant) % o.backends.length]!, HTTP_TARGET_PORT),
  );
  const ports: ServicePortState[] = [
    { service, port: http, name: servicePortName(service, http), endpoints: dedupe(httpEndpoints) },
  ];
  if (probed)
    ports.push({
      service,
      port: iperf,
      name: servicePortName(service, iperf),
      endpoints: [endpoint(o.backends[0]!, IPERF_PORT)],
    });
  return ports;
}

function dedupe(eps: Endpoint[]): Endpoint[] {
  const seen = new Set<string>();
  return eps.filter((e) => {
    const k = `${e.ip}:${e.port}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The single-Service changes of the talk's table 1, as new desired states. */
export interface ScaleMutations {
  /** The base state plus `count` extra ClusterIP Services (adding one at a time, then removing them). */
  withExtra(base: ProxyState, count: number): ProxyState;
  /** Service N/2's endpoints moved to other backends; consecutive `rep`s differ from each other. */
  changeEndpoints(base: ProxyState, rep: number): ProxyState;
}

export function scaleMutations(o: ScaleStateOptions): ScaleMutations {
  // A Service in the middle: neither probed nor at either end of any ordering.
  const victim = serviceName(Math.floor(o.services / 2));
  // Extra Services live past the largest N, so their ClusterIPs never collide with the base.
  const extra = (k: number) =>
    scaleService(MAX_SERVICES + k, { ...o, services: MAX_SERVICES * 2, nodePortEvery: 0 });
  return {
    withExtra: (base, count) => ({
      servicePorts: [
        ...base.servicePorts,
        ...Array.from({ length: count }, (_, k) => extra(k)).flat(),
      ],
    }),
    changeEndpoints: (base, rep) => ({
      servicePorts: base.servicePorts.map((sp) => {
        if (sp.service.name !== victim || sp.port.name !== 'http') return sp;
        // A window of `endpoints` backends shifted by 1..B-1: always a different set than the
        // base, and alternating between two sets when B = endpoints + 1.
        const b = o.backends.length;
        const endpoints =
          b > 1
            ? dedupe(
                sp.endpoints.map((e, k) => ({
                  ...e,
                  ...pick(o.backends, k + 1 + (rep % (b - 1))),
                })),
              )
            : rep % 2 === 0
              ? sp.endpoints.slice(0, -1)
              : sp.endpoints;
        return { ...sp, endpoints };
      }),
    }),
  };
}

function pick(
  backends: readonly ScaleBackend[],
  k: number,
): Pick<Endpoint, 'ip' | 'podName' | 'nodeName'> {
  const b = backends[k % backends.length]!;
  return { ip: b.ip, podName: b.podName, nodeName: b.nodeName };
}
