import { join } from 'node:path';
import { LabError } from '../exec/index.js';
import type { Topology } from '../model/types.js';
import { broadcastAddress, formatIPv4, nthAddress, parseCIDR, parseIPv4 } from '../model/ipam.js';
import { labDir } from '../cluster/state.js';

/** Ports of the control plane, as a kubeadm cluster has them. */
export const APISERVER_PORT = 6443;
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
export const CONTROLLER_MANAGER_PORT = 10257;

/**
 * The control plane's address on the node network: the highest host address no node, external
 * host or gateway uses. The topology allocates upwards from the low end, so the top is free in
 * every shipped topology, and a user's nodes keep the addresses they chose.
 */
export function controlPlaneIP(topo: Topology): string {
  const subnet = parseCIDR(topo.networking.nodeSubnet);
  if (!subnet) throw new LabError(`bad node subnet ${topo.networking.nodeSubnet}`);
  const used = new Set<number>([
    nthAddress(subnet, 1)!,
    ...topo.nodes.map((n) => parseIPv4(n.ip)!),
    ...topo.externalHosts.map((x) => parseIPv4(x.ip)!),
  ]);
  for (let ip = broadcastAddress(subnet) - 1; ip > subnet.network + 1; ip--)
    if (!used.has(ip)) return formatIPv4(ip);
  throw new LabError(
    `node subnet ${topo.networking.nodeSubnet} has no free address for the control plane`,
  );
}

/** The first address of the Service CIDR: the `kubernetes` Service's ClusterIP, in the server's SANs. */
export function kubernetesServiceIP(topo: Topology): string {
  const cidr = parseCIDR(topo.networking.serviceSubnet);
  if (!cidr) throw new LabError(`bad service subnet ${topo.networking.serviceSubnet}`);
  return formatIPv4(nthAddress(cidr, 1)!);
}

/** Where a lab's control plane keeps its files: all inside the lab folder, removed with it. */
export interface ControlPlaneFiles {
  dir: string;
  pki: string;
  etcdData: string;
  /** Unix socket the lab kubelet forwards to the API server (TLS passes through). */
  apiserverSocket: string;
  /** The lab kubelet's JSON-line control socket. */
  kubeletSocket: string;
  adminKubeconfig: string;
  /** The real kube-proxy's per-node KubeProxyConfiguration files (`<node>.yaml`). */
  kubeProxyDir: string;
  kubeconfig(user: ControlPlaneUser): string;
  log(component: string): string;
}

export type ControlPlaneUser =
  'admin' | 'kube-controller-manager' | 'kube-proxy' | 'svclab-kubelet';

export function controlPlaneFiles(lab: string): ControlPlaneFiles {
  const dir = join(labDir(lab), 'control-plane');
  const kubeconfig = (user: ControlPlaneUser) => join(dir, `${user}.kubeconfig`);
  return {
    dir,
    pki: join(dir, 'pki'),
    etcdData: join(dir, 'etcd'),
    apiserverSocket: join(dir, 'apiserver.sock'),
    kubeletSocket: join(dir, 'kubelet.sock'),
    adminKubeconfig: kubeconfig('admin'),
    kubeProxyDir: join(dir, 'kube-proxy'),
    kubeconfig,
    log: (component) => join(labDir(lab), 'logs', `${component}.log`),
  };
}
