import { describe, expect, it } from 'vitest';
import { parseGuestPhases, resolveAccel, vmCommandEnv, vmTmpfsDirs } from './runner.js';

describe('vmTmpfsDirs', () => {
  it('gives /tmp, /run, /var/tmp, and ~/.npm when it exists outside the project', () => {
    expect(vmTmpfsDirs('/root', '/work/main', () => true)).toEqual([
      '/tmp',
      '/run',
      '/var/tmp',
      '/root/.npm',
    ]);
    expect(vmTmpfsDirs('/root', '/work/main', () => false)).toEqual(['/tmp', '/run', '/var/tmp']);
    expect(vmTmpfsDirs('/work/main', '/work/main', () => true)).toEqual([
      '/tmp',
      '/run',
      '/var/tmp',
    ]);
    expect(vmTmpfsDirs(undefined, '/work/main', () => true)).toEqual(['/tmp', '/run', '/var/tmp']);
  });
});

describe('vmCommandEnv', () => {
  it('keeps the caller env, fills PATH and HOME, and marks the VM', () => {
    expect(vmCommandEnv({ FOO: 'bar', GONE: undefined })).toEqual({
      FOO: 'bar',
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/root',
      SVCLAB_IN_VM: '1',
    });
    expect(vmCommandEnv({ PATH: '/opt/bin', HOME: '/home/u' })).toMatchObject({
      PATH: '/opt/bin',
      HOME: '/home/u',
    });
  });
});

describe('parseGuestPhases', () => {
  it('reads the phases on the start line', () => {
    expect(parseGuestPhases(' kernel=2.93 modules=4.56 mounts=4.97')).toEqual({
      kernel: 2.93,
      modules: 4.56,
      mounts: 4.97,
    });
    expect(parseGuestPhases('')).toEqual({});
  });
});

describe('resolveAccel', () => {
  it('defaults to tcg, honours the option, then SVCLAB_VM_ACCEL', () => {
    expect(resolveAccel(undefined, {})).toBe('tcg');
    expect(resolveAccel(undefined, { SVCLAB_VM_ACCEL: 'kvm' })).toBe('kvm');
    expect(resolveAccel('tcg', { SVCLAB_VM_ACCEL: 'kvm' })).toBe('tcg');
    expect(() => resolveAccel(undefined, { SVCLAB_VM_ACCEL: 'hvf' })).toThrow(/tcg or kvm/);
  });
});
