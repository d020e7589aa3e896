import { prng } from '../../model/prng.js';
import type { Protocol, ServiceSpec } from '../../model/types.js';
import type { Endpoint, ServicePortState } from '../types.js';
import { endpoint, service, servicePorts } from './testing.js';

/** Random Services for the IPVS proxy's incremental-vs-full tests. */

export const NODE = 'node-a';

const PODS: [string, string][] = [
  ['10.244.1.2', NODE],
  ['10.244.1.3', NODE],
  ['10.244.1.4', NODE],
  ['10.244.2.2', 'node-b'],
  ['10.244.2.3', 'node-b'],
  ['10.244.2.4', 'node-b'],
];
// 192.168.100.2 is a node address: never bound on kube-ipvs0. Few of each, so that Services
// share members, addresses and even virtual servers.
const EXTERNAL_IPS = ['203.0.113.1', '203.0.113.2', '192.168.100.2'];
const LB_IPS = ['198.51.100.1', '198.51.100.2'];
const PORTS = [80, 443, 53];
const NODE_PORTS = [30080, 30081, 30082, 30083];

export class Gen {
  /** `subnet`: the first three octets of the ClusterIPs; `udp`: the share of UDP ports. */
  constructor(
    readonly r: () => number,
    readonly subnet = '10.96.0',
    readonly udp = 0.3,
  ) {}
  chance(p: number): boolean {
    return this.r() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)]!;
  }
  subset<T>(xs: readonly T[], p: number): T[] {
    return xs.filter(() => this.chance(p));
  }

  endpoints(): Endpoint[] {
    return this.subset(PODS, 0.45).map(([ip, node]) => {
      const ready = this.chance(0.75);
      const terminating = !ready && this.chance(0.6);
      return endpoint(ip, node, 8080, 'TCP', {
        ready,
        serving: ready || (terminating && this.chance(0.8)),
        terminating,
      });
    });
  }

  /** Service `id`'s ports (one or two, sharing its ClusterIP), each with its own endpoints. */
  service(id: number): ServicePortState[] {
    const type = this.pick(['ClusterIP', 'NodePort', 'LoadBalancer'] as const);
    const svc = service({
      name: `svc-${String(id).padStart(3, '0')}`,
      // Every 30th id shares a ClusterIP: their same port numbers contest a virtual server.
      clusterIP: `${this.subnet}.${1 + (id % 30)}`,
      type,
      sessionAffinity: this.chance(0.3) ? 'ClientIP' : 'None',
      sessionAffinityTimeoutSeconds: this.pick([30, 60]),
      externalIPs: this.subset(EXTERNAL_IPS, 0.15),
      loadBalancerIPs: type === 'LoadBalancer' ? this.subset(LB_IPS, 0.6) : [],
      externalTrafficPolicy: this.chance(0.3) ? 'Local' : 'Cluster',
      internalTrafficPolicy: this.chance(0.2) ? 'Local' : 'Cluster',
    });
    const numbers = this.chance(0.35) ? [80, this.pick([443, 53])] : [this.pick(PORTS)];
    const ports = numbers.map((port, k) => ({
      name: `p${k}`,
      port,
      protocol: (this.chance(this.udp) ? 'UDP' : 'TCP') as Protocol,
      targetPort: 8080 + k,
      nodePort: type === 'ClusterIP' ? undefined : this.pick(NODE_PORTS),
    }));
    // One set of endpoints for all ports, then some ports get their own.
    const sps = servicePorts(svc, ports, this.endpoints());
    return sps.map((sp) => (this.chance(0.3) ? this.withEndpoints(sp, this.endpoints()) : sp));
  }

  withEndpoints(sp: ServicePortState, eps: Endpoint[]): ServicePortState {
    return {
      ...sp,
      endpoints: eps.map((e) => ({
        ...e,
        protocol: sp.port.protocol,
        port: sp.endpoints[0]?.port ?? e.port,
      })),
    };
  }
}

/** The same state, every object new (as a lab that rebuilds its state each sync passes it). */
export function clone(sps: ServicePortState[]): ServicePortState[] {
  return structuredClone(sps);
}

export function byName(a: ServicePortState, b: ServicePortState): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export const NODE_IPS_A = ['192.168.100.2'];
export const NODE_IPS_B = ['127.0.0.1', '192.168.100.2', '192.168.200.2'];

export type Change =
  | 'add'
  | 'remove'
  | 'endpoints'
  | 'terminating'
  | 'respec'
  | 'affinity'
  | 'renew'
  | 'renewAll'
  | 'duplicate'
  | 'nodeIPs'
  | 'nothing';

const CHANGES: Change[] = [
  'add',
  'add',
  'remove',
  'remove',
  'endpoints',
  'endpoints',
  'endpoints',
  'terminating',
  'respec',
  'affinity',
  'renew',
  'renewAll',
  'duplicate',
  'nodeIPs',
  'nothing',
];

/**
 * A cluster's Services changing at random, as a controller hands them to a proxy: a changed
 * Service port is a new object, an unchanged one the same object.
 */
export class RandomCluster {
  readonly g: Gen;
  private services = new Map<number, ServicePortState[]>();
  private dups: ServicePortState[] = [];
  private nextId = 0;
  nodeIPs = NODE_IPS_A;

  constructor(seed: number, initial = 12, subnet?: string, udp?: number) {
    this.g = new Gen(prng(seed), subnet, udp);
    for (; this.nextId < initial; this.nextId++)
      this.services.set(this.nextId, this.g.service(this.nextId));
  }

  /** Applies one random change; returns it and the old and new objects it involved. */
  change(): { kind: Change; touched: ServicePortState[] } {
    const g = this.g;
    const touched: ServicePortState[] = [];
    const replace = (id: number, sps: ServicePortState[] | undefined) => {
      touched.push(...(this.services.get(id) ?? []), ...(sps ?? []));
      if (sps) this.services.set(id, sps);
      else this.services.delete(id);
    };
    const ids = [...this.services.keys()];
    const kind = g.pick(CHANGES);
    const id = ids.length > 0 ? g.pick(ids) : -1;
    switch (kind) {
      case 'add':
        replace(this.nextId, g.service(this.nextId));
        this.nextId++;
        break;
      case 'remove':
        if (id >= 0) replace(id, undefined);
        break;
      case 'endpoints':
      case 'terminating': {
        if (id < 0) break;
        const sps = this.services.get(id)!;
        const k = Math.floor(g.r() * sps.length);
        const sp = sps[k]!;
        const eps =
          kind === 'endpoints'
            ? g.endpoints()
            : sp.endpoints.map((e, j) =>
                j === 0 ? { ...e, ready: false, serving: true, terminating: true } : e,
              );
        // Only this port is a new object; the Service's other ports keep theirs.
        replace(
          id,
          sps.map((x, j) => (j === k ? g.withEndpoints(sp, eps) : x)),
        );
        break;
      }
      case 'respec':
        if (id >= 0) replace(id, g.service(id));
        break;
      case 'affinity': {
        if (id < 0) break;
        const sps = this.services.get(id)!;
        const s = sps[0]!.service;
        const spec: ServiceSpec = {
          ...s,
          sessionAffinity: s.sessionAffinity === 'ClientIP' ? 'None' : 'ClientIP',
        };
        replace(
          id,
          sps.map((sp) => ({ ...sp, service: spec })),
        );
        break;
      }
      case 'renew':
        if (id >= 0) replace(id, clone(this.services.get(id)!));
        break;
      case 'renewAll':
        for (const k of ids) replace(k, clone(this.services.get(k)!));
        break;
      case 'duplicate':
        // The same object listed twice (or a listed duplicate dropped).
        if (this.dups.length > 0 && g.chance(0.5)) {
          touched.push(this.dups[0]!);
          this.dups = this.dups.slice(1);
        } else if (id >= 0) {
          touched.push(this.services.get(id)![0]!);
          this.dups.push(this.services.get(id)![0]!);
        }
        break;
      case 'nodeIPs':
        this.nodeIPs = this.nodeIPs === NODE_IPS_A ? NODE_IPS_B : NODE_IPS_A;
        break;
      case 'nothing':
        break;
    }
    const live = new Set([...this.services.values()].flat());
    this.dups = this.dups.filter((sp) => live.has(sp));
    return { kind, touched };
  }

  /** The state sorted by name, as computeProxyState builds it. */
  sorted(): ServicePortState[] {
    return [...[...this.services.values()].flat(), ...this.dups].sort(byName);
  }

  /** The same objects in a random order. */
  shuffled(): ServicePortState[] {
    const xs = this.sorted();
    for (let j = xs.length - 1; j > 0; j--) {
      const k = Math.floor(this.g.r() * (j + 1));
      [xs[j], xs[k]] = [xs[k]!, xs[j]!];
    }
    return xs;
  }
}
