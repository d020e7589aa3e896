import type { KubeProxyNode, KubeProxySpec } from './kube-proxy.js';

/** What `svclab up` tells the lab kubelet (written to control-plane/kubelet.json). */
export interface KubeletConfig {
  lab: string;
  /** `https://<control-plane IP>:6443` */
  server: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Unix socket forwarded to the API server for processes outside the lab (the CLI, tests). */
  apiserverSocket: string;
  controlSocket: string;
  /** Readiness probe period (the kubelet's periodSeconds), milliseconds. */
  probePeriodMs: number;
  /** The real kube-proxy on every node, instead of svclab's planners. */
  kubeProxy?: (KubeProxySpec & { nodes: KubeProxyNode[] }) | undefined;
}
