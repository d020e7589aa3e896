/**
 * IPv4 ranges no lab address may come from, for every subnet and address field of a topology.
 * Kubernetes' ValidateNonSpecialIP refuses unspecified, loopback and link-local addresses for
 * endpoints and external IPs; a lab also builds its own networks from these fields, so multicast,
 * class E and broadcast are refused too. (The format is IPv4 only, so there are no IPv6 ranges.)
 */
import { cidrContains, cidrsOverlap, parseCIDR, type Cidr } from './ipam.js';

interface ReservedRange {
  range: Cidr;
  /** How messages name it after "may not be", e.g. `in the loopback range (127.0.0.0/8)`. */
  name: string;
  why: string;
}

const reserved = (cidr: string, name: string, why: string): ReservedRange => {
  const range = parseCIDR(cidr);
  if (!range) throw new Error(`internal error: bad reserved range ${cidr}`);
  return { range, name, why };
};

// In address order. 255.255.255.255 is also in 240.0.0.0/4; an address gets the most specific
// reason, a subnet the first range it overlaps.
const RESERVED: readonly ReservedRange[] = [
  reserved(
    '0.0.0.0/8',
    'in the "this network" range (0.0.0.0/8)',
    'these addresses mean "any address" or "this host" and are never assigned',
  ),
  reserved(
    '127.0.0.0/8',
    'in the loopback range (127.0.0.0/8)',
    'every network namespace has its own loopback, so these addresses never leave it',
  ),
  // POD_GATEWAY in src/cluster/common/pod-network.ts.
  reserved(
    '169.254.0.0/16',
    'in the link-local range (169.254.0.0/16)',
    'it is never routed, and pods use 169.254.1.1 in it as their gateway',
  ),
  reserved(
    '224.0.0.0/4',
    'in the multicast range (224.0.0.0/4)',
    'a multicast address names a group of hosts, not one host',
  ),
  reserved(
    '240.0.0.0/4',
    'in the reserved range (240.0.0.0/4)',
    'it is reserved for future use (RFC 1112) and most networks drop it',
  ),
  reserved(
    '255.255.255.255/32',
    'the limited broadcast address (255.255.255.255)',
    'it reaches every host on a link and is never a host',
  ),
];

/** Why `ip` may not be a lab address, or undefined if it may. */
export function reservedAddressProblem(ip: number): string | undefined {
  const r = RESERVED.findLast((r) => cidrContains(r.range, ip));
  return r && `may not be ${r.name}: ${r.why}`;
}

/** Why `subnet` may not be a lab subnet (it overlaps a reserved range), or undefined if it may. */
export function reservedSubnetProblem(subnet: Cidr): string | undefined {
  const r = RESERVED.find((r) => cidrsOverlap(r.range, subnet));
  return r && `may not overlap ${r.name.replace(/^in /, '')}: ${r.why}`;
}
