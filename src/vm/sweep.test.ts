import { describe, expect, it } from 'vitest';
import { buildQemuArgs } from './qemu-args.js';
import { vmFromArgv } from './sweep.js';

describe('vmFromArgv', () => {
  it('finds the label in the argv svclab gives QEMU', () => {
    const argv = buildQemuArgs({
      id: 'c0ffee',
      ownerPid: 99,
      kernelPath: '/k',
      initrdPath: '/i',
      memoryMiB: 512,
      cpus: 1,
      accel: 'tcg',
      projectDir: '/p',
      specBytes: 1,
      fds: { control: 3, stdout: 4, stderr: 5 },
    });
    expect(vmFromArgv(['/usr/bin/qemu-system-x86_64', ...argv])).toEqual({
      name: 'svclab-vm-99-c0ffee',
      ownerPid: 99,
    });
  });

  it('ignores other QEMUs and other programs that mention the label', () => {
    expect(vmFromArgv(['qemu-system-x86_64', '-name', 'guest1'])).toBeUndefined();
    expect(vmFromArgv(['grep', '-name', 'svclab-vm-99-c0ffee'])).toBeUndefined();
    expect(
      vmFromArgv([
        '/usr/bin/setpriv',
        '--pdeathsig',
        'SIGKILL',
        '--',
        'qemu-system-x86_64',
        '-name',
        'svclab-vm-99-c0ffee',
      ]),
    ).toBeUndefined();
  });
});
