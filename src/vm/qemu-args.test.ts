import { describe, expect, it } from 'vitest';
import {
  buildKernelCmdline,
  buildQemuArgs,
  parseVmName,
  vmName,
  type QemuArgsOptions,
} from './qemu-args.js';

const base: QemuArgsOptions = {
  id: 'abc123',
  ownerPid: 4242,
  kernelPath: '/cache/k/kernel',
  initrdPath: '/cache/k/initrd-1.cpio',
  memoryMiB: 2048,
  cpus: 2,
  accel: 'tcg',
  projectDir: '/work/main',
  specBytes: 321,
  fds: { control: 3, stdout: 4, stderr: 5 },
};

/** The value following `flag`, for every occurrence. */
function values(argv: string[], flag: string): string[] {
  return argv.flatMap((a, i) => (a === flag && argv[i + 1] !== undefined ? [argv[i + 1]!] : []));
}

describe('buildQemuArgs', () => {
  const argv = buildQemuArgs(base);

  it('labels the VM with its owner and id', () => {
    expect(values(argv, '-name')).toEqual(['svclab-vm-4242-abc123']);
  });

  it('is sealed: no network device, no defaults, no monitor', () => {
    expect(values(argv, '-nic')).toEqual(['none']);
    expect(argv).toContain('-nodefaults');
    expect(values(argv, '-monitor')).toEqual(['none']);
    expect(argv.some((a) => /^(-netdev|-net)$/.test(a))).toBe(false);
  });

  it('shares the host root read-only and the project writable at its own path', () => {
    const fsdevs = values(argv, '-fsdev');
    expect(fsdevs).toContain(
      'local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap',
    );
    expect(fsdevs).toContain(
      'local,id=project,path=/work/main,security_model=none,multidevs=remap',
    );
  });

  it('adopts the inherited sockets as the three ports', () => {
    expect(values(argv, '-chardev')).toEqual([
      'stdio,id=console,signal=off',
      'socket,id=control,fd=3',
      'socket,id=stdout,fd=4',
      'socket,id=stderr,fd=5',
    ]);
    expect(values(argv, '-device')).toContain(
      'virtserialport,bus=vser.0,chardev=stdout,name=svclab.stdout',
    );
  });

  it('uses tcg by default and the host CPU model under kvm', () => {
    expect(values(argv, '-accel')).toEqual(['tcg']);
    expect(argv).not.toContain('-cpu');
    const kvm = buildQemuArgs({ ...base, accel: 'kvm' });
    expect(values(kvm, '-accel')).toEqual(['kvm']);
    expect(values(kvm, '-cpu')).toEqual(['host']);
  });

  it('passes memory, cpus, kernel, initrd and the spec length', () => {
    expect(values(argv, '-m')).toEqual(['2048']);
    expect(values(argv, '-smp')).toEqual(['2']);
    expect(values(argv, '-kernel')).toEqual(['/cache/k/kernel']);
    expect(values(argv, '-initrd')).toEqual(['/cache/k/initrd-1.cpio']);
    expect(values(argv, '-append')[0]).toContain('svclab.spec=321');
  });

  it('refuses a project path QEMU would split at a comma', () => {
    expect(() => buildQemuArgs({ ...base, projectDir: '/work/a,b' })).toThrow(/comma/);
  });
});

describe('buildKernelCmdline', () => {
  it('is quiet, panics into a QEMU exit, and carries the run id', () => {
    const c = buildKernelCmdline({ specBytes: 10, id: 'x1' }).split(' ');
    expect(c).toEqual(
      expect.arrayContaining([
        'console=ttyS0',
        'quiet',
        'panic=-1',
        'rdinit=/init',
        'svclab.id=x1',
        'svclab.spec=10',
      ]),
    );
  });

  it('drops quiet in debug mode', () => {
    expect(buildKernelCmdline({ specBytes: 10, id: 'x1', debug: true }).split(' ')).not.toContain(
      'quiet',
    );
  });
});

describe('VM names', () => {
  it('round-trip', () => {
    expect(parseVmName(vmName(17, 'deadbeef'))).toEqual({ ownerPid: 17, id: 'deadbeef' });
    expect(parseVmName('kind-control-plane')).toBeUndefined();
    expect(parseVmName('svclab-vm-x-1')).toBeUndefined();
  });
});
