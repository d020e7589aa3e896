/**
 * The input format (`apiVersion: svclab.dev/v1alpha1`, `kind: Topology`) as strict zod schemas:
 * unknown fields are errors, and every field-local rule (types, ranges, name and address syntax)
 * lives here so the JSON Schema carries it to editors. Rules that relate fields to each other are
 * in validate*.ts; defaults are applied by resolve.ts.
 */
import * as z from 'zod';
import {
  API_VERSION,
  DEFAULT_AFFINITY_TIMEOUT_SECONDS,
  DEFAULT_NAMESPACE,
  DEFAULT_PROTOCOL,
  DEFAULT_SERVICE_TYPE,
  DEFAULT_SESSION_AFFINITY,
  DEFAULT_TRAFFIC_POLICY,
  KIND,
  MAX_AFFINITY_TIMEOUT_SECONDS,
  MAX_DNS_LABEL,
  MAX_LAB_NAME,
  MAX_OBJECT_NAME,
  NETWORKING_DEFAULTS,
  NODE_PORT_RANGE,
  TRAFFIC_DISTRIBUTIONS,
} from './defaults.js';

export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** Kubernetes' IsValidPortName (IANA service name): ≤15 chars, a letter, no "--". */
export const IANA_SVC_NAME = /^(?=.{1,15}$)(?=.*[a-z])(?!.*--)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

const dns1123Label = (max: number) =>
  z
    .string()
    .max(max, { error: `must be no more than ${max} characters` })
    .regex(DNS1123_LABEL, {
      error:
        "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit",
    });

const dns1035Label = (max: number) =>
  z
    .string()
    .max(max, { error: `must be no more than ${max} characters` })
    .regex(DNS1035_LABEL, {
      error:
        "must be a DNS-1035 label: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit",
    });

const portName = z.string().regex(IANA_SVC_NAME, {
  error:
    "must be an IANA service name: at most 15 lowercase letters, digits and '-', with at least one letter, no '--', not starting or ending with '-'",
});

const ipv4 = z.ipv4({ error: 'must be an IPv4 address' });
const cidr = z.cidrv4({ error: 'must be an IPv4 CIDR such as 10.0.0.0/16' });
const portNumber = z
  .number()
  .int()
  .min(1, { error: 'must be between 1 and 65535, inclusive' })
  .max(65535, { error: 'must be between 1 and 65535, inclusive' });
const protocol = z
  .enum(['TCP', 'UDP'])
  .meta({ default: DEFAULT_PROTOCOL, description: 'Transport protocol.' });
const trafficPolicy = z.enum(['Cluster', 'Local']).meta({ default: DEFAULT_TRAFFIC_POLICY });

const labels = z
  .record(
    z.string().regex(LABEL_KEY, {
      error:
        'must be a Kubernetes label key: an optional DNS subdomain prefix and "/", then a name of at most 63 characters',
    }),
    z.string().regex(LABEL_VALUE, {
      error:
        "must be a Kubernetes label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
    }),
  )
  .meta({ description: 'Kubernetes labels (string values: quote true, false and numbers).' });

const objectName = dns1123Label(MAX_OBJECT_NAME);

export const NetworkingInput = z
  .strictObject({
    nodeSubnet: cidr.optional().meta({
      default: NETWORKING_DEFAULTS.nodeSubnet,
      description: 'The node network: nodes and external hosts share this segment.',
    }),
    podSubnet: cidr.optional().meta({
      default: NETWORKING_DEFAULTS.podSubnet,
      description: 'Cluster pod CIDR; node i gets its i-th /podCIDRMaskSize slice.',
    }),
    podCIDRMaskSize: z
      .number()
      .int()
      .min(1, { error: 'must be between 1 and 30, inclusive' })
      .max(30, { error: 'must be between 1 and 30, inclusive' })
      .optional()
      .meta({
        default: NETWORKING_DEFAULTS.podCIDRMaskSize,
        description: 'Prefix length of each node podCIDR.',
      }),
    serviceSubnet: cidr.optional().meta({
      default: NETWORKING_DEFAULTS.serviceSubnet,
      description: 'The Service (clusterIP) range; .1 is the kubernetes Service.',
    }),
  })
  .meta({ description: 'Address plan of the lab.' });

export const NodeInput = z.strictObject({
  name: objectName,
  ip: ipv4.optional().meta({ description: 'Address in nodeSubnet; allocated from .2 when unset.' }),
  labels: labels.optional().meta({
    description:
      'Kubernetes labels (string values: quote true, false and numbers). topology.kubernetes.io/zone is the zone EndpointSlice hints and kube-proxy read.',
  }),
});

export const ContainerPortInput = z.strictObject({
  name: portName.optional().meta({ description: 'Port name, for named targetPorts.' }),
  containerPort: portNumber,
  protocol: protocol.optional(),
});

export const PodInput = z.strictObject({
  name: objectName,
  node: z.string().meta({ description: 'Name of the node the pod runs on.' }),
  labels: labels.optional(),
  ports: z.array(ContainerPortInput).optional(),
  hostNetwork: z.boolean().optional().meta({
    default: false,
    description: "Run in the node's network namespace (pod IP = node IP).",
  }),
  ready: z
    .boolean()
    .optional()
    .meta({ default: true, description: 'Readiness as the endpoints controller sees it.' }),
  terminating: z.boolean().optional().meta({
    default: false,
    description: 'The pod is being deleted: its endpoint is terminating.',
  }),
});

export const ServicePortInput = z.strictObject({
  name: dns1123Label(MAX_DNS_LABEL)
    .optional()
    .meta({ description: 'Required when the Service has more than one port.' }),
  protocol: protocol.optional(),
  port: portNumber,
  targetPort: z
    .union([portNumber, portName])
    .optional()
    .meta({ description: 'Container port number or name; defaults to port.' }),
  nodePort: z
    .number()
    .int()
    .min(NODE_PORT_RANGE.min, { error: nodePortRangeMessage() })
    .max(NODE_PORT_RANGE.max, { error: nodePortRangeMessage() })
    .optional()
    .meta({ description: 'NodePort and LoadBalancer only; allocated from 30000 when unset.' }),
});

function nodePortRangeMessage(): string {
  return `provided port is not in the valid range. The range of valid ports is ${NODE_PORT_RANGE.min}-${NODE_PORT_RANGE.max}`;
}

export const ServiceSpecInput = z.strictObject({
  type: z
    .enum(['ClusterIP', 'NodePort', 'LoadBalancer'])
    .optional()
    .meta({ default: DEFAULT_SERVICE_TYPE }),
  clusterIP: z
    .ipv4({
      // Headless Services have no VIP: kube-proxy does not program them.
      error: (issue) =>
        issue.input === 'None'
          ? 'headless Services (clusterIP: None) are not supported: kube-proxy does not program them'
          : 'must be an IPv4 address',
    })
    .optional()
    .meta({ description: 'Address in serviceSubnet; allocated from .10 when unset.' }),
  selector: labels.optional(),
  ports: z.array(ServicePortInput).min(1, { error: 'must have at least one port' }),
  sessionAffinity: z
    .enum(['None', 'ClientIP'])
    .optional()
    .meta({ default: DEFAULT_SESSION_AFFINITY }),
  sessionAffinityConfig: z
    .strictObject({
      clientIP: z
        .strictObject({
          timeoutSeconds: z
            .number()
            .int()
            .min(1, { error: affinityRangeMessage() })
            .max(MAX_AFFINITY_TIMEOUT_SECONDS, { error: affinityRangeMessage() })
            .optional()
            .meta({ default: DEFAULT_AFFINITY_TIMEOUT_SECONDS }),
        })
        .optional(),
    })
    .optional(),
  externalIPs: z
    .array(ipv4)
    .optional()
    .meta({ description: 'Routed to a node (never on the node network), as upstream routers do.' }),
  externalTrafficPolicy: trafficPolicy.optional(),
  internalTrafficPolicy: trafficPolicy.optional(),
  healthCheckNodePort: z
    .number()
    .int()
    .min(NODE_PORT_RANGE.min, { error: nodePortRangeMessage() })
    .max(NODE_PORT_RANGE.max, { error: nodePortRangeMessage() })
    .optional()
    .meta({
      description:
        "type LoadBalancer with externalTrafficPolicy Local only: the node port of kube-proxy's per-Service health check (allocated when unset).",
    }),
  trafficDistribution: z.enum(TRAFFIC_DISTRIBUTIONS).optional().meta({
    description:
      "Zone (PreferClose, PreferSameZone) or node (PreferSameNode) hints on the Service's endpoints; unset: none.",
  }),
  loadBalancerSourceRanges: z.array(cidr).optional().meta({
    description:
      'LoadBalancer only: client CIDRs allowed to reach the load-balancer ingress IPs (kube-proxy drops the others); NodePorts and the ClusterIP are not restricted.',
  }),
});

function affinityRangeMessage(): string {
  return `must be greater than 0 and less than or equal to ${MAX_AFFINITY_TIMEOUT_SECONDS}`;
}

export const ServiceInput = z.strictObject({
  metadata: z.strictObject({
    name: dns1035Label(MAX_DNS_LABEL),
    namespace: dns1123Label(MAX_DNS_LABEL).optional().meta({ default: DEFAULT_NAMESPACE }),
  }),
  spec: ServiceSpecInput,
  status: z
    .strictObject({
      loadBalancer: z
        .strictObject({
          ingress: z.array(z.strictObject({ ip: ipv4 })).optional(),
        })
        .optional(),
    })
    .optional()
    .meta({ description: 'LoadBalancer ingress IPs, as a cloud controller would publish them.' }),
});

export const ExternalHostInput = z.strictObject({
  name: objectName,
  ip: ipv4
    .optional()
    .meta({ description: 'Address in nodeSubnet; allocated from .200 when unset.' }),
  routeVia: z.string().optional().meta({
    description:
      'Node that external IPs and LoadBalancer IPs are routed to; default: the first node.',
  }),
});

export const TopologyInput = z
  .strictObject({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal(KIND),
    metadata: z.strictObject({ name: dns1123Label(MAX_LAB_NAME) }),
    spec: z.strictObject({
      networking: NetworkingInput.optional(),
      nodes: z.array(NodeInput).min(1, { error: 'must have at least one node' }),
      pods: z.array(PodInput).optional(),
      services: z.array(ServiceInput).optional(),
      externalHosts: z.array(ExternalHostInput).optional(),
    }),
  })
  .meta({
    title: 'svclab Topology',
    description: 'A lab of nodes, pods, Services and external hosts for testing Service proxies.',
  });

/** A topology file as written (defaults not applied). */
export type TopologyInput = z.infer<typeof TopologyInput>;
export type ServiceInput = z.infer<typeof ServiceInput>;
export type PodInput = z.infer<typeof PodInput>;
