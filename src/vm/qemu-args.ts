import { vmPorts } from './init-script.js';

/** Every QEMU started by svclab carries `-name svclab-vm-<owner pid>-<id>`; sweepVms looks for it. */
export const vmNamePrefix = 'svclab-vm-';

export type VmAccel = 'tcg' | 'kvm';

export interface QemuArgsOptions {
  /** Unique per run; part of the VM name. */
  id: string;
  /** The process that owns the VM (normally process.pid): a sweep spares VMs whose owner lives. */
  ownerPid: number;
  kernelPath: string;
  initrdPath: string;
  memoryMiB: number;
  cpus: number;
  accel: VmAccel;
  /** Host directory shared writable as 9p tag `project`. */
  projectDir: string;
  /** Length in bytes of the run spec the host writes on the control port. */
  specBytes: number;
  /** Verbose kernel console (boot messages with timestamps). */
  debug?: boolean | undefined;
  /** Appended to the kernel command line ($SVCLAB_VM_APPEND), e.g. initcall_debug. */
  appendCmdline?: string | undefined;
  /** File descriptors (in QEMU's process) of connected sockets for the three ports. */
  fds: { control: number; stdout: number; stderr: number };
}

/** `svclab-vm-<owner>-<id>`: the owner pid lets a sweep tell a crashed run's VM from a live one. */
export function vmName(ownerPid: number, id: string): string {
  return `${vmNamePrefix}${ownerPid}-${id}`;
}

/** Parses a VM name back into its owner pid and id, or undefined if it is not one of ours. */
export function parseVmName(name: string): { ownerPid: number; id: string } | undefined {
  const m = /^svclab-vm-(\d+)-([A-Za-z0-9]+)$/.exec(name);
  return m ? { ownerPid: Number(m[1]), id: m[2]! } : undefined;
}

export interface KernelCmdlineOptions {
  specBytes: number;
  id: string;
  debug?: boolean | undefined;
  /** Appended as is ($SVCLAB_VM_APPEND), e.g. `initcall_debug loglevel=8`. */
  extra?: string | undefined;
}

/**
 * Kernel command line. `quiet` keeps the serial console (kept only for diagnostics) nearly
 * silent; `panic=-1` with -no-reboot turns a panic into a QEMU exit instead of a hang.
 */
export function buildKernelCmdline(opts: KernelCmdlineOptions): string {
  return [
    'console=ttyS0',
    ...(opts.debug ? ['printk.time=1'] : ['quiet', 'loglevel=4']),
    'panic=-1',
    'rdinit=/init',
    // Nothing to protect inside a throwaway VM, and the mitigations cost time under emulation.
    'mitigations=off',
    // The crypto self-tests alone took ~0.4 s of an emulated boot; they only check the
    // kernel's own cipher implementations, which nothing in a lab depends on.
    'cryptomgr.notests',
    `svclab.id=${opts.id}`,
    `svclab.spec=${opts.specBytes}`,
    ...(opts.extra ? [opts.extra] : []),
  ].join(' ');
}

/** QEMU's argv (without the binary). Sealed: no network device at all (`-nic none`). */
export function buildQemuArgs(o: QemuArgsOptions): string[] {
  if (o.projectDir.includes(',')) {
    // QEMU's option parser would need ',,'; refuse rather than share the wrong directory.
    throw new Error(`cannot share ${o.projectDir} with the VM: path contains a comma`);
  }
  const port = (id: string, fd: number, name: string) => [
    '-chardev',
    `socket,id=${id},fd=${fd}`,
    '-device',
    `virtserialport,bus=vser.0,chardev=${id},name=${name}`,
  ];
  return [
    '-name',
    vmName(o.ownerPid, o.id),
    '-nodefaults',
    '-no-user-config',
    '-no-reboot',
    '-display',
    'none',
    '-monitor',
    'none',
    '-accel',
    o.accel,
    ...(o.accel === 'kvm' ? ['-cpu', 'host'] : []),
    '-m',
    String(o.memoryMiB),
    '-smp',
    String(o.cpus),
    '-nic',
    'none',
    '-kernel',
    o.kernelPath,
    '-initrd',
    o.initrdPath,
    '-append',
    buildKernelCmdline({
      specBytes: o.specBytes,
      id: o.id,
      debug: o.debug,
      extra: o.appendCmdline,
    }),
    // Kernel and init diagnostics on ttyS0, which is QEMU's stdout.
    '-chardev',
    'stdio,id=console,signal=off',
    '-serial',
    'chardev:console',
    '-device',
    'virtio-serial-pci,id=vser',
    ...port('control', o.fds.control, vmPorts.control),
    ...port('stdout', o.fds.stdout, vmPorts.stdout),
    ...port('stderr', o.fds.stderr, vmPorts.stderr),
    // The host root, read-only; multidevs=remap keeps inode numbers unique across host mounts.
    '-fsdev',
    'local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap',
    '-device',
    'virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot',
    '-fsdev',
    `local,id=project,path=${o.projectDir},security_model=none,multidevs=remap`,
    '-device',
    'virtio-9p-pci,fsdev=project,mount_tag=project',
  ];
}
