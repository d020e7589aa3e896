import { createHash } from 'node:crypto';

/**
 * Network namespace names carry the lab's name so two labs coexist and a sweep can find what a
 * crashed run left. The separator is '.', which cannot appear in lab or object names (DNS-1123
 * labels), so `svclab.<lab>.` never matches another lab's namespaces.
 */
export const NETNS_PREFIX = 'svclab.';

export type NamespaceRole = 'fabric' | 'node' | 'pod' | 'ext';

export function netnsName(lab: string, role: NamespaceRole, name?: string): string {
  return role === 'fabric' ? `${NETNS_PREFIX}${lab}.fabric` : `${NETNS_PREFIX}${lab}.${role}.${name}`;
}

/** The lab a namespace belongs to, or undefined when it is not an svclab namespace. */
export function labOfNetns(netns: string): string | undefined {
  if (!netns.startsWith(NETNS_PREFIX)) return undefined;
  return netns.slice(NETNS_PREFIX.length).split('.')[0] || undefined;
}

const IFNAMSIZ = 15;

/** A readable interface name when it fits in IFNAMSIZ, else a stable hashed one. */
export function ifName(prefix: string, name: string): string {
  const plain = `${prefix}${name}`;
  return plain.length <= IFNAMSIZ ? plain : `${prefix}${shortHash(name, IFNAMSIZ - prefix.length)}`;
}

/** The node-side veth of a pod, named the way CNI plugins do (a hash of the pod, not its name). */
export function podVethName(pod: string): string {
  return `veth${shortHash(pod, 8)}`;
}

function shortHash(s: string, n: number): string {
  return createHash('sha256').update(s).digest('hex').slice(0, n);
}
