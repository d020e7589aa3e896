import { stringify } from 'yaml';

export interface GenerateOptions {
  name: string;
  nodes: number;
  podsPerNode: number;
  /** Services, each selecting `endpointsPerService` pods spread over the nodes. */
  services?: number;
  endpointsPerService?: number;
  externalHosts?: number;
}

/**
 * A topology file (as text) of any size, for benchmarks: goes through the same parser and
 * validator as a hand-written one.
 */
export function generateTopologyYaml(o: GenerateOptions): string {
  const nodes = Array.from({ length: o.nodes }, (_, i) => ({ name: `node-${i}` }));
  const pods = nodes.flatMap((n, i) =>
    Array.from({ length: o.podsPerNode }, (_, j) => ({
      name: `pod-${i}-${j}`,
      node: n.name,
      labels: { app: `app-${j}` },
      ports: [
        { name: 'http', containerPort: 8080, protocol: 'TCP' },
        { name: 'udp', containerPort: 8081, protocol: 'UDP' },
      ],
    })),
  );
  const services = Array.from({ length: o.services ?? o.podsPerNode }, (_, k) => ({
    metadata: { name: `svc-${k}` },
    spec: {
      type: 'ClusterIP',
      selector: { app: `app-${k % o.podsPerNode}` },
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }],
    },
  }));
  return stringify({
    apiVersion: 'svclab.dev/v1alpha1',
    kind: 'Topology',
    metadata: { name: o.name },
    spec: {
      networking: { podSubnet: '10.244.0.0/16', podCIDRMaskSize: 24 },
      nodes,
      pods,
      services,
      externalHosts: Array.from({ length: o.externalHosts ?? 1 }, (_, i) => ({ name: `ext-${i}` })),
    },
  });
}
