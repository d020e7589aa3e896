import crypto, { createHash } from 'node:crypto';

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

/**
 * SHA-256 of the UTF-8 text, as a string of 32 byte-valued characters. A full iptables plan of
 * 50,000 Services hashes 150,000 names: one-shot crypto.hash (Node 20.12+) is twice as fast as a
 * Hash object for inputs this short, and a `binary` string twice as fast again as a Buffer.
 */
const sha256: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'binary')
    : (text) => createHash('sha256').update(text, 'utf8').digest('binary');

const BASE32_CODES = [...BASE32_ALPHABET].map((c) => c.charCodeAt(0));

/**
 * base32(sha256(text)) cut to 16 characters: the base32 of its first 10 bytes, two groups of 5
 * bytes that make 8 characters each. Written out, as one flat string from character codes:
 * large plans hash and keep 150,000 chain names.
 */
function hash16(text: string): string {
  const d = sha256(text);
  const b = (i: number) => d.charCodeAt(i);
  const c = (v: number) => BASE32_CODES[v & 31]!;
  return String.fromCharCode(
    c(b(0) >> 3), c((b(0) << 2) | (b(1) >> 6)), c(b(1) >> 1), c((b(1) << 4) | (b(2) >> 4)),
    c((b(2) << 1) | (b(3) >> 7)), c(b(3) >> 2), c((b(3) << 3) | (b(4) >> 5)), c(b(4)),
    c(b(5) >> 3), c((b(5) << 2) | (b(6) >> 6)), c(b(6) >> 1), c((b(6) << 4) | (b(7) >> 4)),
    c((b(7) << 1) | (b(8) >> 7)), c(b(8) >> 2), c((b(8) << 3) | (b(9) >> 5)), c(b(9)),
  ); // prettier-ignore
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
