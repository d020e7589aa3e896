// ifName and podVethName moved to src/cluster/common/names.ts (shared with the docker provider).
export { ifName, podVethName } from '../cluster/common/names.js';

/**
 * Network namespace names carry the lab's name so two labs coexist and a sweep can find what a
 * crashed run left. The separator is '.', which cannot appear in lab or object names (DNS-1123
 * labels), so `svclab.<lab>.` never matches another lab's namespaces.
 */
export const NETNS_PREFIX = 'svclab.';

export type NamespaceRole = 'fabric' | 'node' | 'pod' | 'ext';

export function netnsName(lab: string, role: NamespaceRole, name?: string): string {
  return role === 'fabric'
    ? `${NETNS_PREFIX}${lab}.fabric`
    : `${NETNS_PREFIX}${lab}.${role}.${name}`;
}

/** The lab a namespace belongs to, or undefined when it is not an svclab namespace. */
export function labOfNetns(netns: string): string | undefined {
  if (!netns.startsWith(NETNS_PREFIX)) return undefined;
  return netns.slice(NETNS_PREFIX.length).split('.')[0] || undefined;
}
