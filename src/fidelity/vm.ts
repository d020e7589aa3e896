import { join } from 'node:path';
import { runSvclabInVm } from '../vm/svclab-in-vm.js';
import { DECLARED_DIFFERENCES } from './declared.js';
import type { FidelityMode } from './diff.js';
import type { FidelityRun } from './run.js';

/** The file `svclab fidelity --runs-out` writes: the runs, before they become a report. */
export const RUNS_JSON = 'fidelity-runs.json';

export interface VmFidelityOptions {
  modes: FidelityMode[];
  /** Extra `svclab fidelity` arguments (topology, node, --random/--count). */
  args: string[];
  onOutput?: ((chunk: string) => void) | undefined;
  /** The svclab launcher to run inside the VM (the one the user ran). Default bin/svclab.js. */
  cli?: string | undefined;
}

/**
 * Runs `svclab fidelity` for some modes inside the QEMU VM (`svclab vm -- ...`), for the modes
 * the host kernel cannot run (IPVS without IP_VS), and reads back its runs, which the caller
 * merges with its own into one report.
 */
export async function runFidelityInVm(o: VmFidelityOptions): Promise<FidelityRun> {
  const text = await runSvclabInVm({
    command: 'fidelity',
    args: (dir) => [
      '--mode',
      o.modes.join(','),
      '--runs-out',
      join(dir, RUNS_JSON),
      '--json',
      ...o.args,
    ],
    resultFile: RUNS_JSON,
    // The report on stdout is the VM's; only its progress (stderr) is passed on.
    output: 'stderr',
    onOutput: o.onOutput,
    cli: o.cli,
  });
  return reviveRuns(JSON.parse(text) as FidelityRun);
}

/** JSON loses the declarations' patterns: put the declarations themselves back, by id and side. */
export function reviveRuns(run: FidelityRun): FidelityRun {
  for (const m of run.runs)
    for (const s of m.sources)
      for (const c of s.comparisons)
        c.declared = c.declared.map(
          (d) =>
            DECLARED_DIFFERENCES.find(
              (x) => x.id === d.id && x.mode === d.mode && x.side === d.side,
            ) ?? d,
        );
  return run;
}
