import * as crypto from 'node:crypto';
import { base32 } from '../shared/hash.js';

/**
 * Object names in kube-proxy's nftables mode (pkg/proxy/nftables/proxier.go). Unlike iptables,
 * nftables allows long names, so kube-proxy keeps the Service port readable and prefixes it
 * with 8 characters of base32(sha256(name)): the hash keeps names unique if they had to be
 * truncated, and makes chains of one Service that differ by one digit easy to tell apart.
 */

export const TABLE_FAMILY = 'ip';
export const TABLE_NAME = 'kube-proxy';

/** knftables.NameLengthMax (256) minus the longest prefix kube-proxy uses (16). */
const NAME_BASE_LENGTH_MAX = 256 - 16;

/** crypto.hash (Node ≥ 20.12) skips a Hash object per name; older 20.x fall back to createHash. */
function sha256(text: string): Buffer {
  return typeof crypto.hash === 'function'
    ? crypto.hash('sha256', text, 'buffer')
    : crypto.createHash('sha256').update(text, 'utf8').digest();
}

function hashAndTruncate(name: string): string {
  // 8 base32 characters are the first 40 bits: only the first 5 bytes of the digest are
  // encoded (a planner of 50,000 Services hashes ~150,000 names; the one-shot hash() and the
  // short encoding keep that a fraction of a second).
  const prefix = base32(sha256(name).subarray(0, 5));
  const full = `${prefix}-${name}`;
  return full.length > NAME_BASE_LENGTH_MAX
    ? `${full.slice(0, NAME_BASE_LENGTH_MAX - 3)}...`
    : full;
}

export interface ServicePortRef {
  namespace: string;
  name: string;
  /** Lowercase, as in the chain name: `tcp` or `udp`. */
  protocol: string;
  /** The Service port's name (may be empty for a single unnamed port). */
  portName: string;
}

/** `HASH-ns/svc/proto/port`, e.g. `ULMVA6XW-ns1/svc1/tcp/p80`. */
export function servicePortNameBase(ref: ServicePortRef): string {
  return hashAndTruncate(`${ref.namespace}/${ref.name}/${ref.protocol}/${ref.portName}`);
}

/** `HASH-ns/svc/proto/port__ip/port`, e.g. `5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80`. */
export function endpointNameBase(ref: ServicePortRef, ip: string, port: number): string {
  // IPv6 colons are not allowed in chain names; kube-proxy replaces them with dots.
  const safeIP = ip.replaceAll(':', '.');
  return hashAndTruncate(
    `${ref.namespace}/${ref.name}/${ref.protocol}/${ref.portName}__${safeIP}/${port}`,
  );
}

export interface ServicePortChainNames {
  /** Endpoints under the Cluster traffic policy. */
  cluster: string;
  /** This node's endpoints under the Local traffic policy. */
  local: string;
  /** Entry point for NodePort, external IP and load-balancer IP traffic. */
  external: string;
  /** loadBalancerSourceRanges: drops load-balancer traffic from other sources. */
  firewall: string;
}

export function servicePortChainNames(ref: ServicePortRef): ServicePortChainNames {
  const base = servicePortNameBase(ref);
  return {
    cluster: `service-${base}`,
    local: `local-${base}`,
    external: `external-${base}`,
    firewall: `firewall-${base}`,
  };
}

export function endpointChainName(ref: ServicePortRef, ip: string, port: number): string {
  return `endpoint-${endpointNameBase(ref, ip, port)}`;
}

/** The ClientIP affinity set of one endpoint: same base name as its chain. */
export function affinitySetName(ref: ServicePortRef, ip: string, port: number): string {
  return `affinity-${endpointNameBase(ref, ip, port)}`;
}

/** Chains kube-proxy creates per Service port or endpoint all contain a slash; its stock chains never do. */
export function isServiceChainName(name: string): boolean {
  return name.includes('/');
}

export function isAffinitySetName(name: string): boolean {
  return name.startsWith('affinity-');
}
