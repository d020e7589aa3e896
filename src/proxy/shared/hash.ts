import { createHash } from 'node:crypto';

/**
 * Chain names the way kube-proxy derives them (pkg/proxy/iptables/proxier.go): the first 16
 * characters of base32(sha256(...)). iptables chain names are limited to 28 characters, so a
 * Service port's name cannot be used as is; the hash keeps names stable across restarts and
 * identical to a real kube-proxy's, which is what makes a lab's `iptables-save` comparable
 * with a cluster's (KUBE-SVC-TCOU7JCQXEZGVUNU is kube-dns:dns on every cluster).
 *
 * `servicePortName` is kube-proxy's ServicePortName.String(): `<namespace>/<name>:<port name>`,
 * or `<namespace>/<name>` when the port is unnamed. The protocol is lowercased, as kube-proxy
 * does before hashing.
 */

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 with the standard alphabet (Go's base32.StdEncoding, padding omitted). */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

function hash16(text: string): string {
  return base32(createHash('sha256').update(text, 'utf8').digest()).slice(0, 16);
}

/** kube-proxy's portProtoHash: the suffix of KUBE-SVC-, KUBE-SVL-, KUBE-EXT- and KUBE-FW- chains. */
export function servicePortChainSuffix(servicePortName: string, protocol: string): string {
  return hash16(servicePortName + protocol.toLowerCase());
}

/**
 * The suffix of a KUBE-SEP- chain: the hash also covers the endpoint (`ip:port`, kube-proxy's
 * BaseEndpointInfo.String()), so one endpoint of one Service port gets one chain.
 */
export function endpointChainSuffix(
  servicePortName: string,
  protocol: string,
  endpoint: string,
): string {
  return hash16(servicePortName + protocol.toLowerCase() + endpoint);
}

/** The per-Service-port chains kube-proxy's iptables mode may create. */
export interface ServicePortChains {
  /** KUBE-SVC-*: dispatch to endpoints under the Cluster traffic policy. */
  cluster: string;
  /** KUBE-SVL-*: dispatch to this node's endpoints under the Local traffic policy. */
  local: string;
  /** KUBE-EXT-*: traffic to NodePorts, external IPs and load-balancer IPs. */
  external: string;
  /** KUBE-FW-*: loadBalancerSourceRanges filtering. */
  firewall: string;
}

export function servicePortChains(servicePortName: string, protocol: string): ServicePortChains {
  const suffix = servicePortChainSuffix(servicePortName, protocol);
  return {
    cluster: `KUBE-SVC-${suffix}`,
    local: `KUBE-SVL-${suffix}`,
    external: `KUBE-EXT-${suffix}`,
    firewall: `KUBE-FW-${suffix}`,
  };
}

/** KUBE-SEP-* for one endpoint of one Service port. */
export function endpointChain(
  servicePortName: string,
  protocol: string,
  ip: string,
  port: number,
): string {
  return `KUBE-SEP-${endpointChainSuffix(servicePortName, protocol, `${ip}:${port}`)}`;
}
