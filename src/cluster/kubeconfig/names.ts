import { CLUSTER_VERSIONS } from '../versions.js';

/**
 * Names, labels and images shared by the cluster providers (kubeconfig and kind). Everything
 * svclab creates in a cluster carries LAB_LABEL, so a sweep finds it and nothing else is touched.
 */

/** Label on the lab's namespace (and every object in it): `svclab.lab=<lab>`. */
export const LAB_LABEL = 'svclab.lab';
/** Annotation naming the machine that created the namespace: a sweep only removes its own. */
export const OWNER_HOST_ANNOTATION = 'svclab.dev/owner-host';
export const OWNER_PID_ANNOTATION = 'svclab.dev/owner-pid';
export const EPHEMERAL_ANNOTATION = 'svclab.dev/ephemeral';
/** Label on pods naming the topology object they stand for. */
export const TARGET_LABEL = 'svclab.dev/target';
/** Label kind puts on each node (from the kind config): the topology's node name. */
export const TOPOLOGY_NODE_LABEL = 'svclab.dev/node';

/** agnhost is what upstream e2e runs behind Services (netexec with /clientip and UDP). */
export const AGNHOST_IMAGE = process.env.SVCLAB_AGNHOST_IMAGE ?? CLUSTER_VERSIONS.agnhostImage;
/** Runs the svclab agent (client side) beside agnhost; any image with node >= 20 and a shell. */
export const AGENT_IMAGE = process.env.SVCLAB_AGENT_IMAGE ?? CLUSTER_VERSIONS.agentImage;
/** Only for node rule dumps with an explicit flag: iptables-save, ipvsadm, nft, conntrack. */
export const DEBUG_IMAGE = process.env.SVCLAB_DEBUG_IMAGE ?? 'nicolaka/netshoot:v0.13';

export const AGNHOST_CONTAINER = 'netexec';
export const AGENT_CONTAINER = 'svclab-agent';
/** Where the agent's control socket lives inside a pod (an emptyDir). */
export const AGENT_RUN_DIR = '/run/svclab';
export const AGENT_CONTROL_SOCKET = `${AGENT_RUN_DIR}/control.sock`;
/** While this file exists the agent container's readiness probe fails: the pod is not ready. */
export const UNREADY_MARKER = `${AGENT_RUN_DIR}/unready`;
/** The ConfigMap that carries the compiled agent (dist/traffic/*.js). */
export const AGENT_CONFIGMAP = 'svclab-agent';
export const AGENT_CODE_DIR = '/svclab/agent';

export function labNamespace(lab: string): string {
  return `svclab-${lab}`;
}

/** Pod that hosts a node's agent (hostNetwork, pinned to the node). */
export function nodeAgentPod(node: string): string {
  return `svclab-node-${node}`;
}

/** Pod that stands for an external host on the kubeconfig provider (hostNetwork). */
export function externalAgentPod(ext: string): string {
  return `svclab-ext-${ext}`;
}
