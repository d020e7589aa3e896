import { join } from 'node:path';
import type Docker from 'dockerode';
import { nodeZone, type NodeSpec, type Topology } from '../../model/types.js';
import type { NodeContext } from '../../proxy/types.js';
import { containerLabels, containerName, networkName, type ContainerRole } from './labels.js';
import { containerExec } from './exec.js';

/**
 * Capabilities of node containers, added by name because `--privileged` is not available
 * everywhere (it fails where CAP_SYS_RESOURCE is not in the bounding set, as in nested setups):
 * - NET_ADMIN: interfaces, routes, iptables/nftables/ipset/IPVS, conntrack netlink, sysctls of
 *   the container's network namespace;
 * - SYS_ADMIN: `ip netns add` (unshare + bind-mount under /run/netns) and `ip netns exec`
 *   (setns + a fresh /sys mount) for the pod namespaces inside the node;
 * - NET_RAW: raw and packet sockets (the iptables `recent` match, ICMP from the agent).
 * SYS_MODULE is not needed: modules come from the host kernel, loaded or built in.
 */
export const NODE_CAPABILITIES = ['NET_ADMIN', 'SYS_ADMIN', 'NET_RAW'] as const;

/** External hosts only set routes and send traffic: no namespaces, no rules. */
export const EXTERNAL_CAPABILITIES = ['NET_ADMIN', 'NET_RAW'] as const;

/**
 * Docker's default read-only paths minus /proc/sys: a Service proxy writes sysctls of its node's
 * network namespace (ip_forward, rp_filter, route_localnet, net.ipv4.vs.*), as kube-proxy does.
 * The rest (sysrq-trigger, irq...) stays read-only; Docker's masked paths stay masked.
 */
export const NODE_READONLY_PATHS = [
  '/proc/asound',
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sysrq-trigger',
];

/** Where the agent's runtime appears inside every container. */
export const CONTAINER_NODE_BINARY = '/usr/local/bin/node';
export const CONTAINER_PACKAGE_DIR = '/svclab';
export const CONTAINER_AGENT_SCRIPT = `${CONTAINER_PACKAGE_DIR}/dist/traffic/agent.js`;

/** Host paths bind-mounted into every lab container. */
export interface LabMounts {
  /** The host's node binary (process.execPath). */
  nodeBinary: string;
  /** The svclab package folder holding package.json and dist/. */
  packageDir: string;
  /** The lab folder under /run/svclab: agent sockets and logs. */
  labDir: string;
}

/**
 * Bind mounts shared by node and external host containers. The agent runs from the host's own
 * Node.js binary and svclab's compiled dist/, both read-only, so the node image needs no Node.js
 * and always runs the agent of the svclab that made the lab (an image that installs Node.js can
 * drop the binary mount). package.json comes along because it marks dist/ as ES modules. The lab
 * folder is mounted at the same path, so the agent's control socket path is the same inside and
 * outside and the host's AgentClient connects to it directly.
 */
export function labBinds(m: LabMounts): string[] {
  return [
    `${m.nodeBinary}:${CONTAINER_NODE_BINARY}:ro`,
    `${join(m.packageDir, 'dist')}:${CONTAINER_PACKAGE_DIR}/dist:ro`,
    `${join(m.packageDir, 'package.json')}:${CONTAINER_PACKAGE_DIR}/package.json:ro`,
    `${m.labDir}:${m.labDir}`,
  ];
}

export interface ContainerPlanOptions {
  image: string;
  mounts: LabMounts;
}

/** What is common to node and external host containers: name, labels, fixed IP on the lab network, mounts. */
function baseContainer(
  lab: string,
  role: ContainerRole,
  name: string,
  ip: string,
  opts: ContainerPlanOptions,
): Docker.ContainerCreateOptions {
  const network = networkName(lab);
  return {
    name: containerName(lab, name),
    Hostname: name,
    Image: opts.image,
    // Nothing runs as the container's main process: svclab drives it with exec.
    Cmd: ['sleep', 'infinity'],
    Labels: containerLabels(lab, role, name),
    HostConfig: {
      NetworkMode: network,
      Binds: labBinds(opts.mounts),
      CapAdd: [...(role === 'node' ? NODE_CAPABILITIES : EXTERNAL_CAPABILITIES)],
      // Matters only where AppArmor is on: docker-default forbids the mounts `ip netns` makes.
      SecurityOpt: role === 'node' ? ['apparmor=unconfined'] : [],
      // Init reaps agents' exited children and makes `sleep` stop on SIGTERM.
      Init: true,
      RestartPolicy: { Name: 'no' },
    },
    NetworkingConfig: { EndpointsConfig: { [network]: { IPAMConfig: { IPv4Address: ip } } } },
  };
}

/** A node: a container on the lab network with the node IP, able to hold pods' namespaces and rules. */
export function planNodeContainer(
  lab: string,
  node: NodeSpec,
  opts: ContainerPlanOptions,
): Docker.ContainerCreateOptions {
  const c = baseContainer(lab, 'node', node.name, node.ip, opts);
  c.HostConfig!.ReadonlyPaths = [...NODE_READONLY_PATHS];
  return c;
}

/** How a node's Service proxy reaches a node container: every command is a `docker exec` in it. */
export function dockerNodeContext(lab: string, topo: Topology, node: NodeSpec): NodeContext {
  const container = containerName(lab, node.name);
  const net = topo.networking;
  return {
    nodeName: node.name,
    nodeIP: node.ip,
    podCIDR: node.podCIDR,
    clusterCIDR: net.podSubnet,
    serviceCIDR: net.serviceSubnet,
    zone: nodeZone(node),
    exec: (file, args, opts) => containerExec(container, file, args, { ...opts, lab }),
    // /proc/net is per network namespace of the reader: read it from inside the node.
    readFile: async (path) => (await containerExec(container, 'cat', [path], { lab })).stdout,
  };
}

export { baseContainer as planLabContainer };
