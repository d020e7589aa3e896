import { readdir, readlink, stat } from 'node:fs/promises';
import { isPidAlive } from '../cluster/state.js';

/** Network-namespace inode of a named namespace (/run/netns/<name> is a bind mount of nsfs). */
export async function netnsInode(netns: string): Promise<number | undefined> {
  try {
    return (await stat(`/run/netns/${netns}`)).ino;
  } catch {
    return undefined;
  }
}

/**
 * PIDs of every process whose network namespace is one of `inodes`. Reads /proc directly: no
 * `ip netns pids` spawn per namespace, and it also finds processes a crashed run never recorded.
 */
export async function pidsInNetns(inodes: Set<number>): Promise<number[]> {
  if (inodes.size === 0) return [];
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const link = await readlink(`/proc/${entry}/ns/net`);
      const ino = Number(/\[(\d+)\]/.exec(link)?.[1]);
      if (inodes.has(ino) && Number(entry) !== process.pid) pids.push(Number(entry));
    } catch {
      // The process exited while we looked, or is a kernel thread: nothing to kill.
    }
  }
  return pids;
}

/**
 * SIGTERM, wait up to `graceMs` for exit, then SIGKILL what is left; resolves when all are gone.
 * `graceMs` 0 sends SIGKILL at once: teardown has nothing to drain (the agent's SIGTERM handling
 * delays exit to let established connections finish, as a terminating pod would).
 */
export async function killAll(pids: number[], graceMs = 1500): Promise<void> {
  // Not `kill(pid, 0)` alone: a killed agent whose parent (init, once `svclab up` has exited) has
  // not reaped it yet is a zombie that has left its namespaces but still answers signal 0.
  // Waiting for init to reap it was most of `svclab down`'s wall time (issue 17).
  const alive = isPidAlive;
  const signal = (sig: NodeJS.Signals, pid: number) => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  if (graceMs > 0) pids.forEach((p) => signal('SIGTERM', p));
  const deadline = Date.now() + graceMs;
  let left = pids.filter(alive);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    left = left.filter(alive);
  }
  left.forEach((p) => signal('SIGKILL', p));
  const hardDeadline = Date.now() + 3000;
  while (left.length > 0 && Date.now() < hardDeadline) {
    await new Promise((r) => setTimeout(r, 20));
    left = left.filter(alive);
  }
}
