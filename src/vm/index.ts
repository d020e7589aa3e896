/**
 * The VM runner behind `svclab vm -- <command>`: runs a command in Debian's distro kernel
 * under QEMU, with the host's root filesystem shared read-only and the project directory
 * shared writable, for the features this host's kernel lacks (IP_VS, dummy, netem).
 */
export {
  ensureKernel,
  defaultCacheDir,
  defaultKernelPackage,
  type EnsureKernelOptions,
  type KernelArtifacts,
} from './kernel.js';
export {
  runInVm,
  resolveAccel,
  VmError,
  type RunInVmOptions,
  type VmRunResult,
  type OutputStream,
} from './runner.js';
export { vmAvailable, type VmAvailability } from './availability.js';
export {
  hostKernelFeatures,
  kernelFeatureNames,
  shouldUseVm,
  decideVm,
  vmMode,
  type KernelFeature,
  type KernelFeatures,
  type FeatureStatus,
  type VmDecision,
  type VmMode,
} from './features.js';
export { sweepVms, listVms, type VmProcess } from './sweep.js';
export { sweepVmScratch } from './svclab-in-vm.js';
export { benchVm, type VmBench, type VmBenchRun, type BenchVmOptions } from './bench.js';
export { labModules, bootModules } from './modules.js';
export type { VmAccel } from './qemu-args.js';
