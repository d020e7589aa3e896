import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sweepVmScratch } from './svclab-in-vm.js';

describe('sweepVmScratch', () => {
  let base: string | undefined;
  afterEach(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  /** A pid no process has: past the kernel's pid_max. */
  const deadPid = 2 ** 22 + 1;

  it('removes the folders of VM runs whose owner died, and only those', async () => {
    base = await mkdtemp(join(tmpdir(), 'svclab-t-scratch-'));
    const dead = `fidelity-vm-${deadPid}-AbC123`;
    const live = `matrix-vm-${process.pid}-xYz789`;
    // Not a VM run's scratch folder: a lab's state or a user's file under .svclab stays.
    const other = 'labs';
    for (const d of [dead, live, other]) await mkdir(join(base, d, 'inner'), { recursive: true });

    expect(await sweepVmScratch({ base })).toEqual([join(base, dead)]);
    expect((await readdir(base)).sort()).toEqual([other, live].sort());

    expect(await sweepVmScratch({ base, all: true })).toEqual([join(base, live)]);
    expect(await readdir(base)).toEqual([other]);
  });

  it('finds nothing where there is no .svclab folder', async () => {
    expect(await sweepVmScratch({ base: join(tmpdir(), 'svclab-t-none-here') })).toEqual([]);
  });
});
