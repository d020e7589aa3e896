import { existsSync } from 'node:fs';

/**
 * Kills VMs left by crashed `svclab vm` runs and removes the scratch folders of crashed
 * `matrix`/`fidelity` runs in the VM, when the VM runner is part of this build.
 */
export async function sweepVmsIfAny(): Promise<{ vms: number; scratch: string[] }> {
  try {
    const vm = await import('../vm/index.js');
    const killed = await vm.sweepVms();
    return { vms: killed.length, scratch: await vm.sweepVmScratch() };
  } catch {
    return { vms: 0, scratch: [] };
  }
}

/** A Docker daemon socket exists, so the docker provider's leftovers are worth looking for. */
export function dockerAnswers(): boolean {
  return existsSync(
    (process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, ''),
  );
}
