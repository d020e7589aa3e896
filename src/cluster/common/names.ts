import { createHash } from 'node:crypto';

/**
 * Interface names shared by every provider that wires pods itself (netns, docker). Moved here from
 * src/netns/names.ts so the docker provider names pod veths exactly as the netns provider does.
 */
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

export function shortHash(s: string, n: number): string {
  return createHash('sha256').update(s).digest('hex').slice(0, n);
}

const LAB_NAME = /^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$/;

/** Lab names end up in namespace, container, network and interface names: keep them short and plain. */
export function validateLabName(name: string): string | undefined {
  return LAB_NAME.test(name)
    ? undefined
    : `invalid lab name "${name}": use 1-20 lowercase letters, digits and '-', starting and ending with a letter or digit`;
}
