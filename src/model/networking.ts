import { NETWORKING_DEFAULTS } from './defaults.js';
import { parseCIDR, parseIPv4, type Cidr } from './ipam.js';
import type { TopologyInput } from './schema.js';
import type { Networking } from './types.js';

export type SubnetField = 'nodeSubnet' | 'podSubnet' | 'serviceSubnet';
export const SUBNET_FIELDS: readonly SubnetField[] = ['nodeSubnet', 'podSubnet', 'serviceSubnet'];

/** The networking block with defaults applied, parsed, and which fields the file set. */
export interface AddressPlan {
  networking: Networking;
  subnets: Record<SubnetField, Cidr>;
  explicit: Record<keyof Networking, boolean>;
}

export function addressPlan(doc: TopologyInput): AddressPlan {
  const given = doc.spec.networking ?? {};
  const networking: Networking = { ...NETWORKING_DEFAULTS, ...given };
  return {
    networking,
    subnets: {
      nodeSubnet: cidrOf(networking.nodeSubnet),
      podSubnet: cidrOf(networking.podSubnet),
      serviceSubnet: cidrOf(networking.serviceSubnet),
    },
    explicit: {
      nodeSubnet: given.nodeSubnet !== undefined,
      podSubnet: given.podSubnet !== undefined,
      podCIDRMaskSize: given.podCIDRMaskSize !== undefined,
      serviceSubnet: given.serviceSubnet !== undefined,
    },
  };
}

/** For text the schema already checked; a failure here is a bug, not bad input. */
export function cidrOf(text: string): Cidr {
  const c = parseCIDR(text);
  if (!c) throw new Error(`internal error: unchecked CIDR ${JSON.stringify(text)}`);
  return c;
}

export function ipOf(text: string): number {
  const ip = parseIPv4(text);
  if (ip === undefined)
    throw new Error(`internal error: unchecked IPv4 address ${JSON.stringify(text)}`);
  return ip;
}
