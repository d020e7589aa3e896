import { readFile } from 'node:fs/promises';

/** The /proc/meminfo fields kernel memory for rules shows up in (kB). */
export interface KernelMemory {
  slabKiB: number;
  sUnreclaimKiB: number;
  vmallocUsedKiB: number;
}

export function parseMeminfo(text: string): KernelMemory {
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    if (!m) throw new Error(`/proc/meminfo has no ${name} field`);
    return Number(m[1]);
  };
  return {
    slabKiB: field('Slab'),
    sUnreclaimKiB: field('SUnreclaim'),
    vmallocUsedKiB: field('VmallocUsed'),
  };
}

/**
 * Kernel memory is global, not per network namespace: the deltas include whatever else the
 * machine did meanwhile, so they are only meaningful when large against that noise.
 */
export async function readKernelMemory(): Promise<KernelMemory> {
  return parseMeminfo(await readFile('/proc/meminfo', 'utf8'));
}

export function memoryDelta(before: KernelMemory, after: KernelMemory): KernelMemory {
  return {
    slabKiB: after.slabKiB - before.slabKiB,
    sUnreclaimKiB: after.sUnreclaimKiB - before.sUnreclaimKiB,
    vmallocUsedKiB: after.vmallocUsedKiB - before.vmallocUsedKiB,
  };
}
