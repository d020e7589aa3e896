import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../exec/index.js';
import { defaultCacheDir, defaultKernelPackage } from './kernel.js';
import { findQemu, which } from './qemu-binary.js';

export interface VmAvailability {
  available: boolean;
  /** Why not, or what will happen (e.g. "kernel will be downloaded"). */
  reason: string;
  qemu: string | undefined;
  kernelCached: boolean;
}

async function exists(path: string): Promise<boolean> {
  return access(path, constants.F_OK).then(
    () => true,
    () => false,
  );
}

/**
 * Whether `runInVm` can work here: QEMU is installed, and a kernel is cached or can be
 * fetched and built (apt knows the package; dpkg-deb, depmod and cpio are there). Fast and
 * side-effect free: it downloads nothing and runs no apt-get update.
 */
export async function vmAvailable(
  opts: { kernel?: string | undefined; cacheDir?: string | undefined } = {},
): Promise<VmAvailability> {
  let qemu: string;
  try {
    qemu = (await findQemu()).qemu;
  } catch (err) {
    return {
      available: false,
      reason: (err as Error).message,
      qemu: undefined,
      kernelCached: false,
    };
  }
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const kernel = opts.kernel ?? defaultKernelPackage;
  if (kernel.startsWith('/') || kernel.startsWith('.')) {
    const ok = await exists(kernel);
    return {
      available: ok,
      reason: ok ? `kernel from ${kernel}` : `${kernel} does not exist`,
      qemu,
      kernelCached: ok,
    };
  }
  const resolved = await readFile(join(cacheDir, `${kernel}.resolved`), 'utf8').then(
    (s) => s.trim(),
    () => kernel,
  );
  if (await exists(join(cacheDir, resolved, 'kernel'))) {
    return {
      available: true,
      reason: `kernel ${resolved} cached in ${cacheDir}`,
      qemu,
      kernelCached: true,
    };
  }
  for (const tool of ['apt-get', 'apt-cache', 'dpkg-deb', 'depmod', 'cpio']) {
    if (!(await which(tool)))
      return {
        available: false,
        reason: `${tool} not found: cannot fetch and build the VM kernel`,
        qemu,
        kernelCached: false,
      };
  }
  const policy = await run('apt-cache', ['policy', kernel], {
    allowFailure: true,
    timeoutMs: 30_000,
  });
  const candidate = /Candidate:\s*(\S+)/.exec(policy.stdout)?.[1];
  if (!candidate || candidate === '(none)') {
    // Empty package lists on a fresh machine: ensureKernel runs apt-get update first.
    return {
      available: true,
      reason: `${kernel} unknown to apt until apt-get update; will be fetched`,
      qemu,
      kernelCached: false,
    };
  }
  return {
    available: true,
    reason: `${kernel} ${candidate} will be downloaded into ${cacheDir}`,
    qemu,
    kernelCached: false,
  };
}
