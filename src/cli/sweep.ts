import { existsSync } from 'node:fs';

/** Kills VMs left by crashed `svclab vm` runs, when the VM runner is part of this build. */
export async function sweepVmsIfAny(): Promise<number> {
  try {
    const vm = await import('../vm/index.js');
    const killed = await vm.sweepVms();
    return Array.isArray(killed) ? killed.length : Number(killed) || 0;
  } catch {
    return 0;
  }
}

/** A Docker daemon socket exists, so the docker provider's leftovers are worth looking for. */
export function dockerAnswers(): boolean {
  return existsSync(
    (process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, ''),
  );
}
