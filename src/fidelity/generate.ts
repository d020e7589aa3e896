import { prng } from '../model/prng.js';
import { ipam } from '../model/index.js';
import type { PodSpec } from '../model/types.js';

/**
 * Generated Service sets for `svclab fidelity --random SEED --count K`: the topology's Services
 * replaced by K sets made from the seed and the topology's pods alone (the same seed gives the
 * same sets on any machine). Every field kube-proxy reads that the model has varies: type
 * (ClusterIP, NodePort, LoadBalancer with an ingress IP), both traffic policies, ClientIP
 * affinity with a timeout, trafficDistribution (zone and node hints), externalIPs,
 * loadBalancerSourceRanges (holding the lab's nodes, leaving them out, or zero-masked), named
 * and numbered target ports, one to three ports of
 * either protocol, and selectors made of the pods' labels (several pods, one pod on the compared
 * node or elsewhere, a hostNetwork pod, pods that do not declare the named port) or of none
 * (no endpoints). The features cycle by each Service's overall index, with the seed choosing the
 * rest, so every feature appears within the first few sets whatever the seed. Addresses are
 * pinned (ClusterIPs from the end of the Service range, external and ingress IPs outside the
 * lab's subnets, NodePorts in the static band, see nodePort), so the API server takes them as
 * they are. Of the LoadBalancer Services with externalTrafficPolicy Local, the first of each set
 * asks for its healthCheckNodePort (HEALTH_CHECK_NODE_PORTS) and the others have one allocated.
 */
export interface GeneratedSet {
  /** `random seed 7 #3`: the report's source. */
  label: string;
  /** The topology document's `spec.services` for this set. */
  services: Record<string, unknown>[];
}

const TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer'] as const;

/**
 * loadBalancerSourceRanges, cycled over LoadBalancer Services (by index, not the seed, so that
 * earlier seeds' sets stay as they were): none; ranges that hold every node of a lab on
 * 172.16.0.0/12 (kube-proxy then also allows the LB IPs as sources); ranges that leave the nodes
 * out; a zero-masked range (allow any, no firewall); none.
 */
const SOURCE_RANGES: readonly (readonly string[])[] = [
  [],
  ['172.16.0.0/12'],
  ['192.0.2.0/24', '198.51.100.7/32'],
  ['10.0.0.0/8', '0.0.0.0/0'],
  [],
];

/** What the generator needs of a topology's pods. */
export type GeneratorPod = Pick<PodSpec, 'name' | 'labels' | 'ports'>;

/**
 * Selectors over the topology's pods: every label any pod has (on three-node.yaml: all web
 * pods, pods on two nodes, one pod on the compared node or elsewhere, the hostNetwork pod, the
 * client pods that declare no ports), then one that selects nothing (no endpoints).
 */
export function selectorsOf(pods: readonly GeneratorPod[]): Record<string, string>[] {
  const seen = new Map<string, Record<string, string>>();
  for (const pod of pods)
    for (const [k, v] of Object.entries(pod.labels).sort())
      if (!seen.has(`${k}=${v}`)) seen.set(`${k}=${v}`, { [k]: v });
  return [...[...seen].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, s]) => s), NO_MATCH];
}
const NO_MATCH = { 'svclab.dev/fidelity': 'no-endpoints' };

function selects(sel: Record<string, string>, pod: GeneratorPod): boolean {
  return Object.entries(sel).every(([k, v]) => pod.labels[k] === v);
}

/**
 * NodePorts from the bottom of the default range, the band the API server's allocator keeps for
 * ports users ask for (KEP-3668, the static subrange: min(max(16, 2768/32), 128) = 86 ports). The
 * healthCheckNodePorts it allocates for `externalTrafficPolicy: Local` Services come from above
 * it, so a pinned port never collides with one. `n` counts a set's ports; a set and the one
 * before it (both exist while one replaces the other) use at most 42 consecutive values.
 */
export function nodePort(n: number): number {
  return 30000 + (n % 82);
}

/** The static band's last two ports: set i pins the (i % 2)th, so consecutive sets never share one. */
export const HEALTH_CHECK_NODE_PORTS = [30082, 30083] as const;

export interface GenerateOptions {
  seed: number;
  count: number;
  /** The topology's pods: selectors and target ports are made from their labels and ports. */
  pods: readonly GeneratorPod[];
  /** The topology's Service range: ClusterIPs are taken from its end. */
  serviceSubnet: string;
  /** Services per set (default 4 to 7, chosen by the seed). */
  servicesPerSet?: number;
}

export function generateServiceSets(opts: GenerateOptions): GeneratedSet[] {
  const rnd = prng(opts.seed);
  const selectors = selectorsOf(opts.pods);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const range = ipam.parseCIDR(opts.serviceSubnet);
  if (!range) throw new Error(`not a CIDR: ${opts.serviceSubnet}`);
  const last = ipam.broadcastAddress(range);
  const sets: GeneratedSet[] = [];
  let g = 0; // the Service's index over all sets: features cycle with it
  for (let i = 0; i < opts.count; i++) {
    const n = opts.servicesPerSet ?? 4 + Math.floor(rnd() * 4);
    const services: Record<string, unknown>[] = [];
    let healthCheckPinned = false;
    for (let j = 0; j < n; j++, g++) {
      const type = TYPES[g % TYPES.length]!;
      const selector = selectors[Math.floor(g / 2) % selectors.length]!;
      const selected = opts.pods.filter((p) => selects(selector, p));
      const affinity = g % 4 === 1 || rnd() < 0.2;
      const externalIPs = g % 5 === 2 || rnd() < 0.15;
      const externallyAccessible = type !== 'ClusterIP' || externalIPs;
      const etpLocal = externallyAccessible && (Math.floor(g / 3) % 2 === 1 || rnd() < 0.2);
      const itpLocal = g % 6 === 3 || rnd() < 0.15;
      const portCount = 1 + ((g + Math.floor(rnd() * 3)) % 3);
      const named = g % 2 === 0;
      // From the index alone (no draw of the seed's sequence, which would change every later
      // choice): a quarter PreferClose, a quarter PreferSameNode or PreferSameZone, so each meets
      // every selector within the first sets (hints from pods on zoned and zoneless nodes).
      const trafficDistribution =
        g % 4 === 2
          ? 'PreferClose'
          : g % 4 === 3
            ? Math.floor(g / 4) % 2 === 0
              ? 'PreferSameNode'
              : 'PreferSameZone'
            : undefined;
      const ports = Array.from({ length: portCount }, (_, k) => {
        const protocol = (k + g) % 2 === 0 ? 'TCP' : 'UDP';
        // A port the selected pods declare (by name or number), else a number none declares:
        // numbered target ports make endpoints whatever the pods declare, named ones do not.
        const declared = selected.flatMap((p) => p.ports).find((c) => c.protocol === protocol);
        const number = declared?.containerPort ?? (protocol === 'TCP' ? 8080 : 8081);
        const name = declared?.name ?? (protocol === 'TCP' ? 'http' : 'udp');
        return {
          ...(portCount > 1 || rnd() < 0.5 ? { name: `p${k}-${protocol.toLowerCase()}` } : {}),
          protocol,
          port: 80 + k,
          // Named ports resolve per pod (web pods declare http/TCP and udp/UDP, host-c only
          // http/TCP): a pod without the name is no endpoint of that port.
          targetPort: named && !(k > 0 && rnd() < 0.3) ? name : number,
          ...(type !== 'ClusterIP' ? { nodePort: nodePort(g * 3 + k) } : {}),
        };
      });
      const ip = (offset: number) => ipam.formatIPv4(last - 1 - offset);
      const spec: Record<string, unknown> = {
        type,
        clusterIP: ip(g),
        selector,
        ports,
        ...(affinity
          ? {
              sessionAffinity: 'ClientIP',
              sessionAffinityConfig: {
                clientIP: { timeoutSeconds: pick([10, 60, 600, 3600, 10800, 86400]) },
              },
            }
          : {}),
        ...(externalIPs ? { externalIPs: [`172.18.100.${100 + (g % 150)}`] } : {}),
        ...(externallyAccessible ? { externalTrafficPolicy: etpLocal ? 'Local' : 'Cluster' } : {}),
        internalTrafficPolicy: itpLocal ? 'Local' : 'Cluster',
        ...(trafficDistribution ? { trafficDistribution } : {}),
      };
      if (type === 'LoadBalancer' && etpLocal && !healthCheckPinned) {
        spec['healthCheckNodePort'] = HEALTH_CHECK_NODE_PORTS[i % 2];
        healthCheckPinned = true;
      }
      const ranges = SOURCE_RANGES[Math.floor(g / TYPES.length) % SOURCE_RANGES.length]!;
      if (type === 'LoadBalancer' && ranges.length > 0) spec.loadBalancerSourceRanges = ranges;
      services.push({
        metadata: { name: `gen-${i}-${j}` },
        spec,
        ...(type === 'LoadBalancer'
          ? { status: { loadBalancer: { ingress: [{ ip: `172.18.200.${100 + (g % 150)}` }] } } }
          : {}),
      });
    }
    sets.push({ label: `random seed ${opts.seed} #${i + 1}`, services });
  }
  return sets;
}
