/** Address-plan checks: subnets, the per-node pod CIDR split, node and external host IPs. */
import { quote } from './echo.js';
import {
  addressOffset,
  broadcastAddress,
  cidrContains,
  cidrsOverlap,
  formatCIDR,
  hasHostBits,
  subnetCount,
  type Cidr,
} from './ipam.js';
import { formatPath, type IssueList, type Path } from './issues.js';
import { SUBNET_FIELDS, ipOf, type AddressPlan } from './networking.js';
import { reservedAddressProblem, reservedSubnetProblem } from './reserved.js';
import type { TopologyInput } from './schema.js';

const NETWORKING: Path = ['spec', 'networking'];

export function validateNetworking(doc: TopologyInput, plan: AddressPlan, out: IssueList): void {
  const { networking, explicit } = plan;
  for (const field of SUBNET_FIELDS) {
    const text = networking[field];
    const reserved = reservedSubnetProblem(plan.subnets[field]);
    if (reserved) out.error([...NETWORKING, field], `Invalid value: ${quote(text)}: ${reserved}`);
    if (explicit[field] && hasHostBits(text)) {
      const network = formatCIDR(plan.subnets[field]);
      out.error(
        [...NETWORKING, field],
        `Invalid value: ${quote(text)}: has host bits set; did you mean ${quote(network)}?`,
      );
    }
  }
  // Report an overlap at a field the file set (two defaults never overlap).
  SUBNET_FIELDS.forEach((a, i) => {
    for (const b of SUBNET_FIELDS.slice(i + 1)) {
      if (!cidrsOverlap(plan.subnets[a], plan.subnets[b])) continue;
      const [at, other] = explicit[b] ? [b, a] : [a, b];
      out.error(
        [...NETWORKING, at],
        `Invalid value: ${quote(networking[at])}: overlaps ${other} ${networking[other]}${explicit[other] ? '' : ' (the default)'}`,
      );
    }
  });
  validatePodCIDRMaskSize(doc, plan, out);
  validateNodeNetworkIPs(doc, plan, out);
}

function validatePodCIDRMaskSize(doc: TopologyInput, plan: AddressPlan, out: IssueList): void {
  const { networking, explicit } = plan;
  const pod = plan.subnets.podSubnet;
  const size = networking.podCIDRMaskSize;
  const at: Path = explicit.podCIDRMaskSize
    ? [...NETWORKING, 'podCIDRMaskSize']
    : [...NETWORKING, 'podSubnet'];
  if (size < pod.prefix) {
    out.error(
      at,
      `Invalid value: ${size}: podCIDRMaskSize must not be shorter than the podSubnet prefix (/${pod.prefix} in ${networking.podSubnet})`,
    );
    return;
  }
  const nodes = doc.spec.nodes.length;
  const slices = subnetCount(pod, size);
  if (slices < nodes) {
    const needed = pod.prefix + Math.ceil(Math.log2(nodes));
    out.error(
      at,
      `Invalid value: ${explicit.podCIDRMaskSize ? size : quote(networking.podSubnet)}: podSubnet ${networking.podSubnet} holds ${slices} /${size} node podCIDR${slices === 1 ? '' : 's'} but there are ${nodes} nodes; use a podCIDRMaskSize of at least ${needed}`,
    );
  }
}

/** Node and external host addresses share the node network: in nodeSubnet, usable, unique. */
function validateNodeNetworkIPs(doc: TopologyInput, plan: AddressPlan, out: IssueList): void {
  const subnet = plan.subnets.nodeSubnet;
  const label = `nodeSubnet ${plan.networking.nodeSubnet}`;
  const owners = new Map<number, string>();
  const check = (path: Path, text: string | undefined) => {
    if (text === undefined) return;
    const ip = ipOf(text);
    const problem =
      reservedAddressProblem(ip) ??
      hostAddressProblem(subnet, ip, label, "the node network's gateway");
    if (problem) {
      out.error(path, `Invalid value: ${quote(text)}: ${problem}`);
      return;
    }
    const owner = owners.get(ip);
    if (owner) out.error(path, `Duplicate value: ${quote(text)}: already used by ${owner}`);
    else owners.set(ip, formatPath(path.slice(0, 3)));
  };
  doc.spec.nodes.forEach((n, i) => check(['spec', 'nodes', i, 'ip'], n.ip));
  doc.spec.externalHosts?.forEach((h, i) => check(['spec', 'externalHosts', i, 'ip'], h.ip));
}

/**
 * Why `ip` cannot be a host address in `subnet` (named `label` in messages), or undefined if
 * it can. `.1` is reserved in every lab subnet: `dotOne` says what for.
 */
export function hostAddressProblem(
  subnet: Cidr,
  ip: number,
  label: string,
  dotOne: string,
): string | undefined {
  if (!cidrContains(subnet, ip)) return `must be inside ${label}`;
  const offset = addressOffset(subnet, ip);
  if (offset === 0) return `is the network address of ${label}`;
  if (offset === 1) return `is reserved for ${dotOne} (.1 of ${label})`;
  if (ip === broadcastAddress(subnet)) return `is the broadcast address of ${label}`;
  return undefined;
}
