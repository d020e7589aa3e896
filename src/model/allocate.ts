/** Deterministic allocators: lowest free value from a starting point, skipping taken ones. */
import { broadcastAddress, nthAddress, type Cidr } from './ipam.js';

/** Host addresses of one subnet; never the network or the broadcast address. */
export class AddressAllocator {
  private readonly taken = new Set<number>();

  constructor(private readonly subnet: Cidr) {}

  /** Marks an address the file chose so allocation skips it. */
  reserve(ip: number): void {
    this.taken.add(ip);
  }

  /** The lowest free address at or after `fromOffset`, or undefined when none is left. */
  next(fromOffset: number): number | undefined {
    const last = broadcastAddress(this.subnet);
    for (let ip = nthAddress(this.subnet, fromOffset); ip !== undefined && ip < last; ip++) {
      if (!this.taken.has(ip)) {
        this.taken.add(ip);
        return ip;
      }
    }
    return undefined;
  }
}

/** NodePorts, one range for all protocols like the API server's allocator. */
export class NodePortAllocator {
  private readonly taken = new Set<number>();

  constructor(private readonly range: { min: number; max: number }) {}

  reserve(port: number): void {
    this.taken.add(port);
  }

  next(): number | undefined {
    for (let port = this.range.min; port <= this.range.max; port++) {
      if (!this.taken.has(port)) {
        this.taken.add(port);
        return port;
      }
    }
    return undefined;
  }
}
