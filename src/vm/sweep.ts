import { readdir, readFile } from 'node:fs/promises';
import { isPidAlive } from '../cluster/state.js';
import { parseVmName } from './qemu-args.js';

export interface VmProcess {
  pid: number;
  name: string;
  ownerPid: number;
}

/** From a process's argv, the svclab VM it runs, if any (the value after `-name`). */
export function vmFromArgv(
  argv: readonly string[],
): { name: string; ownerPid: number } | undefined {
  // setpriv execs QEMU in place, so a running VM's argv[0] is QEMU itself.
  if (!argv[0] || !/(^|\/)qemu-system-[\w-]+$/.test(argv[0])) return undefined;
  const i = argv.indexOf('-name');
  const name = i >= 0 ? argv[i + 1] : undefined;
  if (!name) return undefined;
  const parsed = parseVmName(name);
  return parsed ? { name, ownerPid: parsed.ownerPid } : undefined;
}

/** QEMU processes started by svclab, found by the label in their argv. */
export async function listVms(): Promise<VmProcess[]> {
  const out: VmProcess[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = await readFile(`/proc/${entry}/cmdline`, 'utf8')
      .then((s) => s.split('\0'))
      .catch(() => undefined);
    const vm = argv && vmFromArgv(argv);
    if (vm) out.push({ pid: Number(entry), ...vm });
  }
  return out;
}

/**
 * Kills svclab VMs left behind by runs that died. A VM whose owner process is still alive
 * belongs to a run in progress and is spared unless `all` is set. Returns what was killed.
 */
export async function sweepVms(opts: { all?: boolean } = {}): Promise<VmProcess[]> {
  const victims = (await listVms()).filter((vm) => opts.all || !isPidAlive(vm.ownerPid));
  for (const vm of victims) {
    try {
      process.kill(vm.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return victims;
}
