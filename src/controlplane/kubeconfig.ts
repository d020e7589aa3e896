import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';

/**
 * A kubeconfig for one user of the lab's API server. Files are referenced, not embedded, so the
 * kubeconfig stays readable and the keys stay in one place (the lab's pki folder, mode 0700).
 */
export function kubeconfigYaml(opts: {
  lab: string;
  server: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  user: string;
}): string {
  const cluster = `svclab-${opts.lab}`;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: cluster, cluster: { server: opts.server, 'certificate-authority': opts.caFile } },
    ],
    users: [
      {
        name: opts.user,
        user: { 'client-certificate': opts.certFile, 'client-key': opts.keyFile },
      },
    ],
    contexts: [{ name: cluster, context: { cluster, user: opts.user, namespace: 'default' } }],
    'current-context': cluster,
  });
}

export async function writeKubeconfig(
  path: string,
  opts: Parameters<typeof kubeconfigYaml>[0],
): Promise<void> {
  await writeFile(path, kubeconfigYaml(opts), { mode: 0o600 });
}
