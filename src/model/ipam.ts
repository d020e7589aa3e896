/**
 * Small IPv4 helpers for the topology: addresses are unsigned 32-bit integers, subnets are
 * `{ network, prefix }` with the host bits cleared.
 */

export interface Cidr {
  /** The network address (host bits zero). */
  network: number;
  prefix: number;
}

const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Parses a dotted quad. Leading zeros are rejected, as Go's net.ParseIP does since Go 1.17:
 * `010.0.0.1` is octal to some parsers and decimal to others.
 */
export function parseIPv4(text: string): number | undefined {
  const m = DOTTED_QUAD.exec(text);
  if (!m) return undefined;
  let n = 0;
  for (const part of m.slice(1)) {
    if (part.length > 1 && part.startsWith('0')) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    n = n * 256 + octet;
  }
  return n;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses `a.b.c.d/p`; `address` keeps any host bits so callers can reject them. */
export function parseCIDRText(text: string): { address: number; prefix: number } | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const address = parseIPv4(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (address === undefined || !/^(0|[1-9]\d?)$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  return prefix > 32 ? undefined : { address, prefix };
}

/** Parses a CIDR and clears host bits (`10.0.0.5/24` → `10.0.0.0/24`). */
export function parseCIDR(text: string): Cidr | undefined {
  const c = parseCIDRText(text);
  return c && { network: (c.address & prefixMask(c.prefix)) >>> 0, prefix: c.prefix };
}

/** True for `10.0.0.5/24`: an address written where a network was meant. */
export function hasHostBits(text: string): boolean {
  const c = parseCIDRText(text);
  return c !== undefined && (c.address & ~prefixMask(c.prefix)) !== 0;
}

export function formatCIDR(c: Cidr): string {
  return `${formatIPv4(c.network)}/${c.prefix}`;
}

/** Number of addresses in the subnet, network and broadcast included. */
export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return (ip & prefixMask(c.prefix)) >>> 0 === c.network;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const shorter = Math.min(a.prefix, b.prefix);
  const mask = prefixMask(shorter);
  return (a.network & mask) >>> 0 === (b.network & mask) >>> 0;
}

/** The address at `offset` from the network address, or undefined past the end. */
export function nthAddress(c: Cidr, offset: number): number | undefined {
  return offset >= 0 && offset < cidrSize(c) ? c.network + offset : undefined;
}

/** Offset of `ip` from the network address (meaningful when `cidrContains(c, ip)`). */
export function addressOffset(c: Cidr, ip: number): number {
  return ip - c.network;
}

/** The broadcast address: the last of the subnet, never given to a host. */
export function broadcastAddress(c: Cidr): number {
  return c.network + cidrSize(c) - 1;
}

/** How many /`prefix` subnets fit in `c` (0 when `prefix` is shorter than c's). */
export function subnetCount(c: Cidr, prefix: number): number {
  return prefix < c.prefix || prefix > 32 ? 0 : 2 ** (prefix - c.prefix);
}

/**
 * The `index`-th /`prefix` slice of `c`, the way the node IPAM controller hands each node a
 * podCIDR out of the cluster CIDR: 10.244.0.0/16 → 10.244.0.0/24, 10.244.1.0/24, ...
 */
export function subnetSlice(c: Cidr, prefix: number, index: number): Cidr | undefined {
  if (index < 0 || index >= subnetCount(c, prefix)) return undefined;
  return { network: c.network + index * 2 ** (32 - prefix), prefix };
}
