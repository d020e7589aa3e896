import { shortHash } from '../common/names.js';

/**
 * Every container and network a docker lab creates carries `svclab.lab=<lab>`, so `down` and the
 * sweep find them by label even when the lab's state file is gone (testcontainers' reaper works
 * the same way with its session label).
 */
export const LABEL_LAB = 'svclab.lab';
/** node | ext: what a container is in the lab. */
export const LABEL_ROLE = 'svclab.role';
/** The node or external host name a container runs. */
export const LABEL_TARGET = 'svclab.target';

export type ContainerRole = 'node' | 'ext';

export function labLabels(lab: string): Record<string, string> {
  return { [LABEL_LAB]: lab };
}

export function containerLabels(
  lab: string,
  role: ContainerRole,
  target: string,
): Record<string, string> {
  return { [LABEL_LAB]: lab, [LABEL_ROLE]: role, [LABEL_TARGET]: target };
}

/** `svclab.<lab>.<target>`: '.' cannot appear in lab or object names, so names never collide across labs. */
export function containerName(lab: string, target: string): string {
  return `svclab.${lab}.${target}`;
}

export function networkName(lab: string): string {
  return `svclab.${lab}`;
}

/** The Linux bridge behind the lab network, recognisable in `ip link` on the host (IFNAMSIZ is 15). */
export function bridgeName(lab: string): string {
  return `svclab-${shortHash(lab, 8)}`;
}

/** The Docker API filter that selects one lab's objects, or every lab's. */
export function labFilter(lab?: string): { label: string[] } {
  return { label: [lab === undefined ? LABEL_LAB : `${LABEL_LAB}=${lab}`] };
}
