import { execa } from 'execa';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../cli/package-root.js';
import { isPidAlive } from '../cluster/state.js';
import { hostHasIpvs } from '../harness/requirements.js';
import { skipWhen } from '../harness/skip.js';
import { listVms, vmAvailable } from './index.js';
import { waitFor } from '../cluster/kubeconfig/wait.js';

// `svclab matrix --modes ipvs` on a host without IP_VS runs its IPVS part in the VM
// (runSvclabInVm). A SIGINT sent to that process alone, as `kill -INT <pid>` does (a terminal's
// Ctrl-C reaches the whole process group), must still stop the VM and remove the run's scratch
// folder under .svclab before the process exits: it used to die at once and leave both.

const skip =
  skipWhen('root', process.getuid?.() !== 0 && 'needs root') ??
  skipWhen(
    'kernel-has-ipvs',
    hostHasIpvs() && 'the host kernel has IP_VS: svclab matrix --modes ipvs runs on the host',
  ) ??
  (await vmAvailable().then((a) => skipWhen('vm', !a.available && a.reason)));

const scratchOf = async (pid: number) =>
  (await readdir(join(packageRoot(), '.svclab')).catch(() => [] as string[])).filter((e) =>
    e.startsWith(`matrix-vm-${pid}-`),
  );

describe.skipIf(skip)('a VM run interrupted', () => {
  let out: string | undefined;
  let children: number[] = [];
  afterAll(async () => {
    // A failed run's orphaned `svclab vm` stops its VM on SIGINT.
    for (const c of children.filter((c) => isPidAlive(c))) process.kill(c, 'SIGINT');
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('stops the VM and removes its scratch folder before exiting 130', async () => {
    out = await mkdtemp(join(tmpdir(), 'svclab-t-vm-int-'));
    const cli = join(packageRoot(), 'bin', 'svclab.js');
    const run = execa(
      process.execPath,
      [cli, 'matrix', '--modes', 'ipvs', '--events', 'scale-in', '--no-known-bugs', '--out', out],
      { reject: false, all: true, cleanup: true },
    );
    const pid = run.pid!;
    let all = '';
    run.all!.on('data', (c: Buffer) => (all += c.toString('utf8')));
    // The VM run is under way once the `svclab vm` child's QEMU runs (its owner pid is in the
    // VM's name): the scratch folder is in use, the VM holds the lab.
    const childrenOf = async (p: number) =>
      (await readFile(`/proc/${p}/task/${p}/children`, 'utf8').catch(() => ''))
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
    await waitFor(
      'the VM of svclab matrix --modes ipvs',
      async () => {
        if (run.exitCode !== null) throw new Error(`svclab matrix exited:\n${all}`);
        children = await childrenOf(pid);
        const vms = (await listVms()).filter((vm) => children.includes(vm.ownerPid));
        return vms.length === 1
          ? undefined
          : `${vms.length} VMs owned by its children ${children.join(', ')}`;
      },
      { timeoutMs: 300_000, intervalMs: 100 },
    );
    expect(await scratchOf(pid), `no scratch folder while the VM run goes:\n${all}`).toHaveLength(
      1,
    );
    process.kill(pid, 'SIGINT');
    const r = await run;
    expect(r.exitCode, r.all).toBe(130);
    expect(r.all).toMatch(/SIGINT: removing lab svclab matrix in the VM/);
    expect(await scratchOf(pid)).toEqual([]);
    expect(
      children.filter((c) => isPidAlive(c)),
      'the svclab vm child outlived its parent',
    ).toEqual([]);
    expect((await listVms()).filter((vm) => children.includes(vm.ownerPid))).toEqual([]);
  }, 600_000);
});
