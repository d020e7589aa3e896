/** kind cluster of a lab: one cluster per lab, so labs never share a kube-proxy. */
export const KIND_CLUSTER_PREFIX = 'svclab-';

export function kindClusterName(lab: string): string {
  return `${KIND_CLUSTER_PREFIX}${lab}`;
}

export function labOfKindCluster(cluster: string): string | undefined {
  return cluster.startsWith(KIND_CLUSTER_PREFIX)
    ? cluster.slice(KIND_CLUSTER_PREFIX.length)
    : undefined;
}

/** External-host container of a lab, on kind's Docker network. */
export function externalContainerName(lab: string, ext: string): string {
  return `svclab-${lab}-ext-${ext}`;
}

/** The Docker network kind puts its nodes on. */
export const KIND_NETWORK = process.env.KIND_EXPERIMENTAL_DOCKER_NETWORK ?? 'kind';
