import type Docker from 'dockerode';
import { LabError } from '../../exec/index.js';
import { cidrsOverlap, parseCIDR } from '../../model/ipam.js';
import type { Topology } from '../../model/types.js';
import { nodeNetworkGateway } from '../common/pod-network.js';
import { docker, isNotFound } from './client.js';
import { bridgeName, LABEL_LAB, labFilter, labLabels, networkName } from './labels.js';

/**
 * The node network of a docker lab: one user-defined bridge network whose subnet is the
 * topology's nodeSubnet, with the bridge holding the gateway (.1, the address the model reserves).
 *
 * `Internal`: Docker gives it no outside connectivity (no NAT, no route out). svclab's dockerd runs
 * with --iptables=false --ip-forward=false (scripts/docker/start-dockerd.sh), so the host neither
 * forwards nor NATs anything from the bridge: packets that reach the gateway for an address beyond
 * the lab are dropped there. Nodes keep a default route to it anyway, as the netns lab does, so
 * traffic to a ClusterIP no rule catches is routed (into kube-proxy's FORWARD-chain REJECT).
 */
export function planNetwork(lab: string, topo: Topology): Docker.NetworkCreateOptions {
  return {
    Name: networkName(lab),
    Driver: 'bridge',
    Internal: true,
    CheckDuplicate: true,
    Attachable: false,
    EnableIPv6: false,
    IPAM: {
      Driver: 'default',
      Config: [
        {
          Subnet: topo.networking.nodeSubnet,
          Gateway: nodeNetworkGateway(topo.networking.nodeSubnet),
        },
      ],
    },
    Options: {
      'com.docker.network.bridge.name': bridgeName(lab),
      'com.docker.network.bridge.enable_ip_masquerade': 'false',
      // Node to node traffic is the point of the network.
      'com.docker.network.bridge.enable_icc': 'true',
    },
    Labels: labLabels(lab),
  };
}

/** A Docker network as far as subnet conflicts go. */
export interface NetworkSubnets {
  name: string;
  lab?: string | undefined;
  subnets: string[];
}

/**
 * The network whose subnet overlaps `subnet`, if any. Docker refuses overlapping pools ("Pool
 * overlaps with other one on this address space"), and the host would get two routes for one
 * prefix: two docker labs need distinct nodeSubnets (netns labs do not: each has its own fabric).
 */
export function overlappingNetwork(
  subnet: string,
  networks: readonly NetworkSubnets[],
): NetworkSubnets | undefined {
  const want = parseCIDR(subnet);
  if (!want) return undefined;
  return networks.find((n) =>
    n.subnets.some((s) => {
      const have = parseCIDR(s);
      return have !== undefined && cidrsOverlap(want, have);
    }),
  );
}

export async function createLabNetwork(
  lab: string,
  topo: Topology,
): Promise<{ id: string; name: string }> {
  const plan = planNetwork(lab, topo);
  const existing = (await docker().listNetworks()).map((n): NetworkSubnets => ({
    name: n.Name,
    lab: n.Labels?.[LABEL_LAB],
    subnets: (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? '').filter(Boolean),
  }));
  const clash = overlappingNetwork(topo.networking.nodeSubnet, existing);
  if (clash) {
    const owner = clash.lab ? ` (lab ${clash.lab})` : '';
    throw new LabError(
      `node subnet ${topo.networking.nodeSubnet} overlaps Docker network ${clash.name}${owner} (${clash.subnets.join(', ')}): docker labs need distinct networking.nodeSubnet values`,
    );
  }
  try {
    const net = await docker().createNetwork(plan);
    return { id: net.id, name: plan.Name };
  } catch (err) {
    throw new LabError(`failed to create Docker network ${plan.Name}`, { cause: err });
  }
}

/** Networks of one lab (or of every lab), by label. */
export async function labNetworks(
  lab?: string,
): Promise<{ id: string; name: string; lab: string }[]> {
  const nets = await docker().listNetworks({ filters: labFilter(lab) });
  return nets.map((n) => ({ id: n.Id, name: n.Name, lab: n.Labels?.[LABEL_LAB] ?? '' }));
}

export async function removeNetwork(id: string): Promise<void> {
  try {
    await docker().getNetwork(id).remove();
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
