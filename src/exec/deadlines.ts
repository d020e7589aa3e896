/**
 * How much longer a wait for state may take here than on a host: inside the VM runner (QEMU
 * without KVM, software emulation) every process start and every Go or Node.js program runs
 * several times slower, so a lab's waits (agents ready, control plane healthy, a proxy's sync)
 * get their deadlines multiplied. Deadlines only: nothing sleeps longer because of it.
 */
export function deadlineScale(env: NodeJS.ProcessEnv = process.env): number {
  const explicit = Number(env.SVCLAB_DEADLINE_SCALE);
  if (Number.isFinite(explicit) && explicit >= 1) return explicit;
  return env.SVCLAB_IN_VM === '1' ? 5 : 1;
}

export function scaledDeadline(ms: number, env: NodeJS.ProcessEnv = process.env): number {
  return ms * deadlineScale(env);
}
