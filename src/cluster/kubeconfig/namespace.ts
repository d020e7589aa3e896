import { hostname } from 'node:os';
import type { V1Namespace } from '@kubernetes/client-node';
import { LabError } from '../../exec/index.js';
import { isPidAlive } from '../state.js';
import type { KubeApi } from './api.js';
import { namespaceManifest } from './manifests.js';
import { waitFor } from './wait.js';
import {
  EPHEMERAL_ANNOTATION,
  LAB_LABEL,
  OWNER_HOST_ANNOTATION,
  OWNER_PID_ANNOTATION,
} from './names.js';

/** HTTP status of an API error from @kubernetes/client-node (ApiException.code), if any. */
export function apiStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

export interface LabNamespace {
  lab: string;
  namespace: string;
  ownerHost?: string | undefined;
  ownerPid?: number | undefined;
  ephemeral: boolean;
  /** Set while the API server is deleting it. */
  terminating: boolean;
}

function describe(ns: V1Namespace): LabNamespace {
  const a = ns.metadata?.annotations ?? {};
  return {
    lab: ns.metadata?.labels?.[LAB_LABEL] ?? '',
    namespace: ns.metadata?.name ?? '',
    ownerHost: a[OWNER_HOST_ANNOTATION],
    ownerPid: a[OWNER_PID_ANNOTATION] ? Number(a[OWNER_PID_ANNOTATION]) : undefined,
    ephemeral: a[EPHEMERAL_ANNOTATION] === 'true',
    terminating: ns.status?.phase === 'Terminating' || ns.metadata?.deletionTimestamp !== undefined,
  };
}

/**
 * Creates the lab's namespace, labelled `svclab.lab=<lab>`. An existing namespace of that name is
 * never adopted: it may be someone else's, and svclab only deletes what it created.
 */
export async function createLabNamespace(
  api: KubeApi,
  opts: { lab: string; namespace: string; ephemeral: boolean },
): Promise<void> {
  const body = namespaceManifest({
    ...opts,
    owner: { host: hostname(), pid: process.pid, ephemeral: opts.ephemeral },
  });
  try {
    await api.core.createNamespace({ body });
  } catch (err) {
    if (apiStatus(err) === 409)
      throw new LabError(
        `namespace ${opts.namespace} already exists in ${api.server}; svclab does not adopt namespaces it did not create (pick another --namespace or run \`svclab down ${opts.lab}\`)`,
      );
    throw new LabError(`failed to create namespace ${opts.namespace} in ${api.server}`, {
      cause: err,
    });
  }
}

/** Lab namespaces in the cluster (those carrying the svclab.lab label). */
export async function listLabNamespaces(api: KubeApi): Promise<LabNamespace[]> {
  const list = await api.core.listNamespace({ labelSelector: LAB_LABEL });
  return list.items.map(describe).filter((n) => n.lab !== '');
}

/** How long `down` waits for the namespace controller to empty and remove a lab namespace. */
export const NAMESPACE_DELETE_TIMEOUT_MS = 180_000;

/**
 * Deletes a lab namespace, but only if it carries the lab's label: a namespace without it was not
 * created by svclab (the user's --namespace, or a name collision) and is left alone. Returns
 * false when there was nothing to delete. Returns only once the namespace is gone (NotFound):
 * until then its Services still hold their nodePorts and clusterIPs, and the next lab, which asks
 * for the same pinned nodePorts, would be refused.
 */
export async function deleteLabNamespace(
  api: KubeApi,
  lab: string,
  namespace: string,
  opts: { timeoutMs?: number } = {},
): Promise<boolean> {
  let ns: V1Namespace;
  try {
    ns = await api.core.readNamespace({ name: namespace });
  } catch (err) {
    if (apiStatus(err) === 404) return false;
    throw new LabError(`failed to read namespace ${namespace}`, { cause: err });
  }
  if (ns.metadata?.labels?.[LAB_LABEL] !== lab) {
    throw new LabError(
      `namespace ${namespace} is not labelled ${LAB_LABEL}=${lab}; svclab did not create it and will not delete it`,
    );
  }
  try {
    // The namespace controller removes the contents; callers cut the pods' long grace periods
    // to 0 first so the namespace does not wait an hour for "terminating" pods.
    await api.core.deleteNamespace({ name: namespace, propagationPolicy: 'Background' });
  } catch (err) {
    if (apiStatus(err) === 404) return false;
    throw new LabError(`failed to delete namespace ${namespace}`, { cause: err });
  }
  await waitNamespaceGone(api, namespace, opts.timeoutMs ?? NAMESPACE_DELETE_TIMEOUT_MS);
  return true;
}

/** Polls until reading the namespace answers NotFound; other errors are retried until the deadline. */
export async function waitNamespaceGone(
  api: KubeApi,
  namespace: string,
  timeoutMs: number,
): Promise<void> {
  await waitFor(
    `namespace ${namespace} to be deleted`,
    async () => {
      try {
        const ns = await api.core.readNamespace({ name: namespace });
        const left = ns.status?.conditions
          ?.filter((c) => c.status === 'True' && c.message)
          .map((c) => c.message)
          .join('; ');
        return `still ${ns.status?.phase ?? 'present'}${left ? `: ${left}` : ''}`;
      } catch (err) {
        if (apiStatus(err) === 404) return undefined;
        throw err;
      }
    },
    { timeoutMs, intervalMs: 250 },
  );
}

/**
 * Lab namespaces a sweep removes: those this machine created whose owner is gone (ephemeral test
 * labs) or whose local state is missing; with `all`, every lab namespace this machine created.
 * Namespaces created from other machines are never swept: their labs may be alive.
 */
export function sweepCandidates(
  namespaces: LabNamespace[],
  opts: {
    all?: boolean;
    host?: string;
    hasLocalState: (lab: string) => boolean;
    pidAlive?: (pid: number) => boolean;
  },
): LabNamespace[] {
  const host = opts.host ?? hostname();
  const alive = opts.pidAlive ?? isPidAlive;
  return namespaces.filter((n) => {
    if (n.terminating || n.ownerHost !== host) return false;
    if (opts.all) return true;
    if (!opts.hasLocalState(n.lab)) return true;
    return n.ephemeral && n.ownerPid !== undefined && !alive(n.ownerPid);
  });
}
